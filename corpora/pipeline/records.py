"""Validate one raw LLaVA record and normalise it into what an Item stores."""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from dataclasses import dataclass
from typing import Any

IMAGE_TOKEN = "<image>"
KNOWN_KEYS = {"id", "image", "conversations", "questions", "score", "category", "type"}
MAX_ID_LENGTH = 255
MAX_IMAGE_REF_LENGTH = 1024  # Item.image_path
CATEGORY_FROM_FILE = re.compile(r"^(conversation|detail|complex_reasoning)(_\d+k)?$")


class RecordError(ValueError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ParsedRecord:
    external_id: str
    image_ref: str
    conversations: list[dict[str, Any]]
    questions: list[list[str]] | None
    question_scores: list[float] | None
    category: str
    extra: dict[str, Any]
    has_candidates: bool
    content_hash: str
    # The JSON texts are made once here: they feed the hash and the database's COPY alike.
    conversations_json: str
    questions_json: str | None
    question_scores_json: str | None
    extra_json: str


def category_from_filename(stem: str) -> str:
    """LLaVA-Instruct-158k ships split by type (conversation_58k.json, ...): keep the type."""
    match = CATEGORY_FROM_FILE.match(stem)
    return match.group(1) if match else ""


def record_id(value: Any) -> str | None:
    """The record's id as text, or None when it has none (for error messages)."""
    if (
        isinstance(value, dict)
        and isinstance(value.get("id"), str | int)
        and not isinstance(value.get("id"), bool)
    ):
        return str(value["id"])
    return None


def parse_record(value: Any, *, default_category: str = "") -> ParsedRecord:
    if not isinstance(value, dict):
        raise RecordError(f"A record must be a JSON object, got {_kind(value)}.")
    external_id = _parse_id(value.get("id"))
    image_ref = _parse_image(value.get("image"))
    questions, question_scores = _parse_questions(value)
    conversations = value.get("conversations")
    if conversations is None and questions is not None:
        conversations = []
    else:
        _check_conversations(conversations, has_image=bool(image_ref))
    category = value.get("category", value.get("type", default_category)) or default_category
    if not isinstance(category, str):
        raise RecordError("must be a string", field="category")
    extra = {key: val for key, val in value.items() if key not in KNOWN_KEYS}
    has_candidates = questions is not None or any(
        isinstance(turn.get("value"), list) for turn in conversations
    )
    conversations_json = _dumps(conversations)
    questions_json = None if questions is None else _dumps(questions)
    scores_json = None if question_scores is None else _dumps(question_scores)
    extra_json = _dumps(extra) if extra else "{}"
    canonical = "\x00".join(
        (
            external_id,
            image_ref,
            category,
            conversations_json,
            questions_json or "",
            scores_json or "",
            extra_json,
        )
    )
    try:
        encoded = canonical.encode()
    except UnicodeEncodeError as exc:
        # ijson hands on lone surrogate escapes (e.g. "\ud800"), which no UTF-8 column stores
        raise RecordError(
            f"contains text that is not valid Unicode (a lone surrogate escape such as "
            f"\\u{ord(exc.object[exc.start]):04x})"
        ) from exc
    _check_no_nul(external_id, image_ref, category, conversations_json, questions_json,
                  scores_json, extra_json)  # fmt: skip
    digest = hashlib.sha256(encoded)
    return ParsedRecord(
        external_id=external_id,
        image_ref=image_ref,
        conversations=conversations,
        questions=questions,
        question_scores=question_scores,
        category=category[:100],
        extra=extra,
        has_candidates=has_candidates,
        content_hash=digest.hexdigest(),
        conversations_json=conversations_json,
        questions_json=questions_json,
        question_scores_json=scores_json,
        extra_json=extra_json,
    )


# One encoder for every record: json.dumps with options builds a new encoder on each call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dumps(value: Any) -> str:
    return _ENCODER.encode(value)


# An escaped NUL in encoded JSON: \u0000 preceded by an even number of backslashes.
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _check_no_nul(*texts: str | None) -> None:
    """PostgreSQL text and jsonb cannot hold the NUL character: refuse it with a clear error."""
    for text in texts:
        if text and ("\x00" in text or ("\\u0000" in text and _ESCAPED_NUL.search(text))):
            raise RecordError("contains a NUL character (\\u0000), which cannot be stored")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _parse_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RecordError("is required and must be a string or an integer", field="id")
    text = str(value).strip()
    if not text:
        raise RecordError("must not be empty", field="id")
    if len(text) > MAX_ID_LENGTH:
        raise RecordError(f"is longer than {MAX_ID_LENGTH} characters", field="id")
    return text


def _parse_image(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise RecordError("must be a non-empty string (a relative path or URL)", field="image")
    ref = value.strip()
    if len(ref) > MAX_IMAGE_REF_LENGTH:
        raise RecordError(f"is longer than {MAX_IMAGE_REF_LENGTH} characters", field="image")
    if ref.startswith(("http://", "https://")):
        return ref
    if "://" in ref:
        raise RecordError("only http(s) URLs or relative paths are accepted", field="image")
    normalised = posixpath.normpath(ref.replace("\\", "/"))
    if normalised.startswith(("/", "../")) or normalised == "..":
        raise RecordError("must be a path inside the image folder", field="image")
    return normalised


def _check_conversations(turns: Any, *, has_image: bool) -> None:
    if not isinstance(turns, list) or not turns:
        raise RecordError("must be a non-empty array of turns", field="conversations")
    image_turns = []
    for position, turn in enumerate(turns):
        where = f"conversations[{position}]"
        if not isinstance(turn, dict):
            raise RecordError("must be an object with 'from' and 'value'", field=where)
        speaker = turn.get("from")
        expected = "human" if position % 2 == 0 else "gpt"
        if speaker not in {"human", "gpt"}:
            raise RecordError(f"'from' must be 'human' or 'gpt', got {speaker!r}", field=where)
        if speaker != expected:
            raise RecordError(f"turns must alternate human/gpt; expected {expected!r}", field=where)
        value = turn.get("value")
        if isinstance(value, str):
            if IMAGE_TOKEN in value:
                image_turns.append(position)
            continue
        if speaker == "gpt" and isinstance(value, list):
            _check_candidates(value, turn.get("score"), where)
            continue
        raise RecordError(
            "'value' must be a string (or, for gpt, a list of candidates)", field=where
        )
    if has_image:
        if image_turns != [0] or turns[0]["value"].count(IMAGE_TOKEN) != 1:
            raise RecordError(
                f"the first human turn must hold {IMAGE_TOKEN} exactly once and no other turn may",
                field="conversations",
            )
    elif image_turns:
        raise RecordError(f"holds {IMAGE_TOKEN} but the record has no image", field="conversations")


def _check_candidates(values: list, scores: Any, where: str) -> None:
    if not values or not all(isinstance(value, str) for value in values):
        raise RecordError("a candidate list must hold at least one string", field=where)
    if scores is None:
        return
    if not isinstance(scores, list) or len(scores) != len(values):
        raise RecordError("'score' must be a list as long as the candidates", field=where)
    for score in scores:
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
            raise RecordError("every score must be a number in [0, 1]", field=where)


def _parse_questions(value: dict) -> tuple[list[list[str]] | None, list[float] | None]:
    questions = value.get("questions")
    if questions is None:
        return None, None
    if not isinstance(questions, list) or not questions:
        raise RecordError("must be a non-empty array of question sets", field="questions")
    for entry in questions:
        if not isinstance(entry, list) or not all(isinstance(text, str) for text in entry):
            raise RecordError("every question set must be an array of strings", field="questions")
    scores = value.get("score")
    if scores is not None:
        if not isinstance(scores, list) or len(scores) != len(questions):
            raise RecordError("must be a list as long as 'questions'", field="score")
        for score in scores:
            if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
                raise RecordError("every score must be a number in [0, 1]", field="score")
    return questions, scores

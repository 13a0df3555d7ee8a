"""The text a reward model reads for an item, a candidate answer, or a question set.

One rendering is used for training, scoring and feature caching, so the same content always
gets the same feature key (sha256 of this text).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

IMAGE_TOKEN = "<image>"


def _clean(value: str) -> str:
    # The <image> token is layout for LLaVA, not content; it only adds noise to the encoder.
    return value.replace(IMAGE_TOKEN, "").strip()


def default_candidate(turn: Mapping[str, Any]) -> int:
    """The candidate that stands for a turn when no model has scored it: best imported score."""
    values = turn.get("value")
    scores = turn.get("score")
    if isinstance(scores, list) and isinstance(values, list) and len(scores) == len(values):
        return max(range(len(scores)), key=lambda k: (scores[k], -k))
    return 0


def _turn_value(turn: Mapping[str, Any], chosen: int | None) -> str:
    value = turn.get("value")
    if isinstance(value, list):
        if not value:
            return ""
        k = chosen if chosen is not None and 0 <= chosen < len(value) else default_candidate(turn)
        return str(value[k])
    return str(value or "")


def conversation_text(
    conversations: Sequence[Mapping[str, Any]],
    *,
    picks: Mapping[int, int] | None = None,
    upto: int | None = None,
) -> str:
    """`human: ...` / `gpt: ...` lines; candidate turns take `picks[turn]` (else the default)."""
    picks = picks or {}
    lines = []
    for index, turn in enumerate(conversations):
        if upto is not None and index > upto:
            break
        speaker = "human" if turn.get("from") == "human" else "gpt"
        lines.append(f"{speaker}: {_clean(_turn_value(turn, picks.get(index)))}")
    return "\n".join(lines)


def item_text(
    conversations: Sequence[Mapping[str, Any]],
    questions: Any = None,
    picks: Mapping[int, int] | None = None,
) -> str:
    """The whole item: every turn (or the first question set of a question-only record)."""
    if conversations:
        return conversation_text(conversations, picks=picks)
    if isinstance(questions, list) and questions:
        return question_set_text(questions[0])
    return ""


def candidate_text(conversations: Sequence[Mapping[str, Any]], turn: int, candidate: int) -> str:
    """The dialogue up to `turn` with candidate `candidate` as that turn's answer."""
    return conversation_text(conversations, picks={turn: candidate}, upto=turn)


def question_set_text(question_set: Any) -> str:
    if isinstance(question_set, list):
        return "\n".join(f"human: {_clean(str(q))}" for q in question_set)
    return f"human: {_clean(str(question_set))}"

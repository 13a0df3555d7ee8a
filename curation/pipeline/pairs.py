"""Judged pairs as the preference trainers read them: TRL and LLaMA-Factory.

A pair can be written as (prompt, chosen, rejected) only when both sides answer the same
prompt: two candidates of the same turn of the same item. Pairs of whole items (ratings compared
across items) and of candidate question sets have no shared prompt; they are counted, by reason,
and left out.

TRL (https://huggingface.co/docs/trl/dataset_formats, "vision" preference)::

    {"prompt":   [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q"}]}],
     "chosen":   [{"role": "assistant", "content": [{"type": "text", "text": "good"}]}],
     "rejected": [{"role": "assistant", "content": [{"type": "text", "text": "bad"}]}],
     "images":   [<image>]}

Every `content` is a list of parts (also for text), so the column has one Arrow type.

LLaMA-Factory (data/README.md, sharegpt "ranking": true)::

    {"conversations": [{"from": "human", "value": "<image>Q"}],
     "chosen": {"from": "gpt", "value": "good"}, "rejected": {"from": "gpt", "value": "bad"},
     "images": ["coco/x.jpg"]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from curation.services.texts import default_candidate

IMAGE_TOKEN = "<image>"


def pair_skip_reason(pair: Any) -> str | None:
    """Why a judged pair has no (prompt, chosen, rejected) form, or None when it has one."""
    chosen, rejected = pair.chosen, pair.rejected
    if chosen.turn is None or rejected.turn is None:
        return "whole_item"
    if chosen.turn == "questions" or rejected.turn == "questions":
        return "question_sets"
    if chosen.item_id != rejected.item_id or chosen.turn != rejected.turn:
        return "different_prompts"
    return None


def strip_image_token(text: str) -> str:
    """The question without LLaVA's `<image>` token (a `<image>\\n` prefix or `\\n<image>`
    suffix, formats.md)."""
    if text.startswith(IMAGE_TOKEN):
        return text[len(IMAGE_TOKEN) :].lstrip("\n")
    if text.endswith(IMAGE_TOKEN):
        return text[: -len(IMAGE_TOKEN)].rstrip("\n")
    return text.replace(IMAGE_TOKEN, "")


def _answer(turn: Mapping[str, Any], candidate: int | None = None) -> str:
    value = turn.get("value")
    if isinstance(value, list):
        if not value:
            return ""
        k = candidate if candidate is not None else default_candidate(turn)
        return str(value[k] if 0 <= k < len(value) else value[0])
    return "" if value is None else str(value)


def _history(conversations: Sequence[Mapping[str, Any]], turn: int) -> list[tuple[str, str]]:
    """(speaker, text) of the turns before `turn`, the first human turn without `<image>`;
    earlier candidate turns stand as their default candidate."""
    out = []
    for index, step in enumerate(conversations[:turn]):
        text = _answer(step)
        if index == 0:
            text = strip_image_token(text)
        out.append((str(step.get("from")), text))
    return out


def trl_record(
    *, conversations: Sequence[Mapping[str, Any]], pair: Any, has_image: bool
) -> dict[str, Any]:
    """prompt / chosen / rejected as chat messages (TRL's conversational preference format)."""
    turn = int(pair.chosen.turn)
    prompt = []
    for index, (speaker, text) in enumerate(_history(conversations, turn)):
        role = "user" if speaker == "human" else "assistant"
        parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
        if index == 0 and has_image:
            parts.insert(0, {"type": "image", "text": None})
        prompt.append({"role": role, "content": parts})

    def side(candidate: int | None) -> list[dict[str, Any]]:
        text = _answer(conversations[turn], candidate)
        return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]

    return {
        "prompt": prompt,
        "chosen": side(pair.chosen.candidate),
        "rejected": side(pair.rejected.candidate),
    }


def llamafactory_record(
    *, conversations: Sequence[Mapping[str, Any]], pair: Any, image_path: str | None
) -> dict[str, Any]:
    """A sharegpt ranking record; the first human turn starts with `<image>` when there is one."""
    turn = int(pair.chosen.turn)
    history = []
    for index, (speaker, text) in enumerate(_history(conversations, turn)):
        if index == 0 and image_path:
            text = IMAGE_TOKEN + text
        history.append({"from": speaker, "value": text})
    record: dict[str, Any] = {
        "conversations": history,
        "chosen": {"from": "gpt", "value": _answer(conversations[turn], pair.chosen.candidate)},
        "rejected": {
            "from": "gpt",
            "value": _answer(conversations[turn], pair.rejected.candidate),
        },
    }
    if image_path:
        record["images"] = [image_path]
    return record


def llamafactory_dataset_info(*, name: str, file_name: str, has_images: bool) -> dict[str, Any]:
    """The entry LLaMA-Factory's `data/dataset_info.json` needs for the ranking file."""
    columns = {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}
    if has_images:
        columns["images"] = "images"
    return {
        name: {
            "file_name": file_name,
            "formatting": "sharegpt",
            "ranking": True,
            "columns": columns,
        }
    }

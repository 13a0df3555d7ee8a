"""Turn-level view of LLaVA records: one example per (question, answer) turn and candidate.

A defect usually sits in one turn, so the reward model scores turns and an item's reward is an
aggregate over them: the *minimum* over its turns (one bad turn spoils the item), where a
candidate-rich turn counts with its *best* candidate (a curated item keeps that one).
Pure Python + numpy: records are plain dicts in the format of shared/reference/formats.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardmodel.encoders.composite import turn_text
from rewardmodel.features import Example, FeatureRef
from rewardmodel.pairs import PreferencePair


@dataclass(frozen=True)
class TurnSpec:
    """One scoreable unit of a record: turn ``turn`` (0-based QA index), candidate or None."""

    item_id: str
    turn: int
    candidate: int | None
    question: str
    answer: str
    score: float | None = None  # the record's own candidate score, when it ships one

    @property
    def text(self) -> str:
        return turn_text(self.question, self.answer)


def record_turns(record: Mapping[str, Any]) -> list[TurnSpec]:
    """Every (question, answer) of a record; a candidate-rich turn gives one spec per candidate.

    A trailing human turn without an answer is ignored; an answer without a preceding question
    gets an empty question.
    """
    item_id = str(record["id"])
    out: list[TurnSpec] = []
    question = ""
    index = 0
    for message in record.get("conversations", []):
        value = message.get("value")
        if message.get("from") == "human":
            question = str(value).replace("<image>", "").strip()
            continue
        if isinstance(value, list):
            scores = message.get("score")
            for c, candidate in enumerate(value):
                score = float(scores[c]) if isinstance(scores, list) and c < len(scores) else None
                out.append(TurnSpec(item_id, index, c, question, str(candidate), score))
        else:
            out.append(TurnSpec(item_id, index, None, question, str(value)))
        index += 1
        question = ""
    return out


def turn_examples(
    specs: Sequence[TurnSpec], image: Any = None, image_key: str | None = None
) -> list[Example]:
    """``Example``s for ``TurnTextEncoder`` + an image encoder, one per spec."""
    return [Example(spec.text, image, image_key) for spec in specs]


def records_turn_examples(
    records: Sequence[Mapping[str, Any]], images_dir: str | Path | None
) -> tuple[list[TurnSpec], list[Example]]:
    """All turn specs of ``records`` and their examples (image read from ``images_dir``)."""
    specs: list[TurnSpec] = []
    examples: list[Example] = []
    for record in records:
        image = None
        if record.get("image") and images_dir is not None:
            image = Path(images_dir) / str(record["image"])
        record_specs = record_turns(record)
        specs.extend(record_specs)
        examples.extend(turn_examples(record_specs, image))
    return specs, examples


def aggregate_item_scores(
    specs: Sequence[TurnSpec], scores: Sequence[float] | np.ndarray
) -> dict[str, float]:
    """Item reward = min over turns of the turn reward; a candidate turn uses its best candidate."""
    turns: dict[str, dict[int, float]] = {}
    for spec, score in zip(specs, np.asarray(scores, dtype=float), strict=True):
        per_turn = turns.setdefault(spec.item_id, {})
        previous = per_turn.get(spec.turn)
        per_turn[spec.turn] = score if previous is None else max(previous, score)
    return {item: min(per_turn.values()) for item, per_turn in turns.items()}


def candidate_pairs(
    item_id: str,
    refs: Sequence[FeatureRef],
    values: Sequence[float],
    *,
    min_gap: float,
    source: str = "ranking",
) -> list[PreferencePair]:
    """Within-item pairs between candidates whose values (higher = better) differ by min_gap.

    Candidates share the image and the question, so these pairs isolate what the answer says,
    e.g. a colour that contradicts the image, which cross-item pairs barely constrain.
    """
    pairs: list[PreferencePair] = []
    for a in range(len(refs)):
        for b in range(len(refs)):
            if values[a] - values[b] >= min_gap and refs[a] != refs[b]:
                pairs.append(PreferencePair(item_id, refs[a], refs[b], source=source))
    return pairs

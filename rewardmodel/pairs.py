"""Training records for the reward head: preference pairs, ratings and rule verdicts.

Each side of a pair is a ``FeatureRef`` (image key, text key), so a pair may compare two
candidate answers of one item (same image key, different text keys) or two whole items.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rewardmodel.features import FeatureRef

OVERALL = "overall"


@dataclass(frozen=True)
class PreferencePair:
    item_id: str
    chosen: FeatureRef
    rejected: FeatureRef
    criterion: str = OVERALL
    margin: float = 0.0
    source: str = ""
    # For a pair of two items: the rejected side's item (item_id is the chosen side's).
    rejected_item_id: str | None = None

    def __post_init__(self) -> None:
        if self.margin < 0:
            raise ValueError(
                f"pair for item {self.item_id!r}: margin must be >= 0, got {self.margin}"
            )
        if self.chosen == self.rejected:
            raise ValueError(f"pair for item {self.item_id!r}: chosen and rejected are identical")

    @property
    def items(self) -> tuple[str, ...]:
        if self.rejected_item_id is None or self.rejected_item_id == self.item_id:
            return (self.item_id,)
        return (self.item_id, self.rejected_item_id)


@dataclass(frozen=True)
class Rating:
    """A rating of one side on one criterion, scaled by the caller to [0, 1]."""

    item_id: str
    ref: FeatureRef
    criterion: str
    value: float


@dataclass(frozen=True)
class RuleVerdict:
    """Whether one side violates a safety rule."""

    item_id: str
    ref: FeatureRef
    rule: str
    violated: bool


def _ref_json(ref: FeatureRef) -> list[str | None]:
    return [ref.image_key, ref.text_key]


def training_fingerprint(
    pairs: Sequence[PreferencePair],
    ratings: Sequence[Rating] = (),
    verdicts: Sequence[RuleVerdict] = (),
) -> str:
    """sha256 over a canonical JSON of the training data (order matters: it changes batches)."""
    digest = hashlib.sha256()

    def feed(records: Iterable[list[object]]) -> None:
        for record in records:
            digest.update(json.dumps(record, separators=(",", ":")).encode())
            digest.update(b"\n")

    feed(
        [
            p.item_id,
            p.rejected_item_id,
            p.criterion,
            _ref_json(p.chosen),
            _ref_json(p.rejected),
            float(p.margin),
        ]
        for p in pairs
    )
    digest.update(b"#ratings\n")
    feed([r.item_id, _ref_json(r.ref), r.criterion, float(r.value)] for r in ratings)
    digest.update(b"#verdicts\n")
    feed([v.item_id, _ref_json(v.ref), v.rule, bool(v.violated)] for v in verdicts)
    return digest.hexdigest()

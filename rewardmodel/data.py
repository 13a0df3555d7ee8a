"""What annotators taught, as the trainers read it: judged pairs, targets and safety labels.

One typed record per kind, made by the annotation engine's selector
(`annotation.selectors.training_data`) and read by the training recipes. Plain dataclasses
with no torch import, so the web process can build them without loading the ML stack.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

ItemId = int | str
PAIR_SOURCES = ("pairwise", "ranking", "rating", "import")


@dataclass(frozen=True)
class SideRef:
    """One side of a judged pair: a whole item, or candidate ``candidate`` of turn ``turn``
    (an index into the item's conversation, or "questions" for candidate question sets)."""

    item_id: ItemId
    turn: int | str | None = None
    candidate: int | None = None

    @property
    def is_whole_item(self) -> bool:
        return self.turn is None


@dataclass(frozen=True)
class JudgedPair:
    """``chosen`` judged better than ``rejected`` on ``criterion``; ``item_id`` is the chosen
    side's item; ``margin`` in [0, 1] grows with the strength of the preference."""

    item_id: ItemId
    criterion: str
    chosen: SideRef
    rejected: SideRef
    margin: float
    source: str  # one of PAIR_SOURCES


@dataclass(frozen=True)
class Target:
    """An item's consensus value on a rating or yes/no criterion, rescaled to [0, 1]."""

    item_id: ItemId
    criterion: str
    value: float
    question: str = ""
    n: int = 0  # answers it summarises
    source: str | None = None  # "mean", "majority" or "adjudicated"
    # The answer turn (index into the conversation) a per-turn question judged; None: the item.
    turn: int | None = None


@dataclass(frozen=True)
class SafetyLabel:
    """An item's consensus on a safety rule; ``violates`` is None when undecided ("unsure")."""

    item_id: ItemId
    rule: str
    violates: bool | None
    verdict: str | None = None
    votes: dict[str, int] = field(default_factory=dict, hash=False)
    source: str = "majority"


@dataclass
class TrainingData:
    pairs: list[JudgedPair] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    safety: list[SafetyLabel] = field(default_factory=list)

    @property
    def verdicts(self) -> list[SafetyLabel]:
        """The decided safety labels ("unsure" teaches nothing)."""
        return [label for label in self.safety if label.violates is not None]

    @property
    def counts(self) -> dict[str, int]:
        """Pairs per source, every source named."""
        return {**dict.fromkeys(PAIR_SOURCES, 0), **Counter(p.source for p in self.pairs)}

    def summary(self) -> dict[str, Any]:
        by_source = Counter(p.source for p in self.pairs)
        return {
            "pairs": len(self.pairs),
            "pairs_by_source": dict(sorted(by_source.items())),
            "ratings": len(self.targets),
            "verdicts": len(self.verdicts),
        }

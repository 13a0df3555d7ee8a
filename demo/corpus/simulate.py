"""Simulated annotators that judge demo items from the hidden ground truth, with noise.

Every judgment is drawn independently; with probability `flip_rate` it disagrees with the
truth: the faithful flag is flipped, the rating lands on the wrong side of the scale, or the
best candidate of the ranking is swapped with a defective one.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLEAN_RATINGS = (4, 5)
DEFECTIVE_RATINGS = (1, 2)


@dataclass(frozen=True)
class Judgment:
    item_id: str
    annotator: int
    faithful: bool
    rating: int  # 1-5
    # candidate indices grouped into tiers, best tier first; a tier of several is a tie.
    # None for items without candidates.
    ranking: tuple[tuple[int, ...], ...] | None
    perturbed: frozenset[str]  # which of "faithful", "rating", "ranking" were noised


def rating_agrees(rating: int, clean: bool) -> bool:
    """Whether a 1-5 rating is on the side of the scale the ground truth calls for."""
    return rating in (CLEAN_RATINGS if clean else DEFECTIVE_RATINGS)


def load_ground_truth(source: Path | str | Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The per-item truth from a ground_truth.json path or its parsed document or items."""
    if isinstance(source, str | Path):
        source = json.loads(Path(source).read_text(encoding="utf-8"))
    items = source.get("items", source)
    return dict(items)


def simulate_judgments(
    ground_truth: Path | str | Mapping[str, Any],
    *,
    n_annotators: int = 3,
    flip_rate: float = 0.15,
    seed: int = 0,
) -> dict[tuple[str, int], Judgment]:
    """One judgment per (item id, annotator index), deterministic for a seed."""
    if not 0.0 <= flip_rate <= 1.0:
        raise ValueError("flip_rate must be in [0, 1]")
    items = load_ground_truth(ground_truth)
    rng = random.Random(seed)
    out: dict[tuple[str, int], Judgment] = {}
    for item_id in sorted(items):
        truth = items[item_id]
        clean = bool(truth["clean"])
        quality = truth.get("candidates", {}).get("quality")
        for annotator in range(n_annotators):
            perturbed: set[str] = set()
            faithful = clean
            if rng.random() < flip_rate:
                faithful = not faithful
                perturbed.add("faithful")
            rating = rng.choice(CLEAN_RATINGS if clean else DEFECTIVE_RATINGS)
            if rng.random() < flip_rate:
                # a careless rater lands on the other side, or hedges in the middle
                rating = rng.choice((1, 2, 3) if clean else (3, 4, 5))
                perturbed.add("rating")
            ranking = None
            if quality:
                ranking = _ranking(quality, rng, flip=rng.random() < flip_rate)
                if _top(ranking) != _true_top(quality):
                    perturbed.add("ranking")
            out[(item_id, annotator)] = Judgment(
                item_id, annotator, faithful, rating, ranking, frozenset(perturbed)
            )
    return out


def _ranking(
    quality: list[float], rng: random.Random, *, flip: bool
) -> tuple[tuple[int, ...], ...]:
    values = list(quality)
    if flip:
        best = max(range(len(values)), key=values.__getitem__)
        worse = [i for i in range(len(values)) if values[i] < values[best]]
        if worse:
            other = rng.choice(worse)
            values[best], values[other] = values[other], values[best]
    tiers: dict[float, list[int]] = {}
    for index, value in enumerate(values):
        tiers.setdefault(value, []).append(index)
    return tuple(tuple(tiers[v]) for v in sorted(tiers, reverse=True))


def _top(ranking: tuple[tuple[int, ...], ...]) -> tuple[int, ...]:
    return ranking[0]


def _true_top(quality: list[float]) -> tuple[int, ...]:
    best = max(quality)
    return tuple(i for i, q in enumerate(quality) if q == best)

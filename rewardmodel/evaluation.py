"""Metrics for reward models and the item-level train/eval split."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np


def pairwise_accuracy(r_chosen: np.ndarray, r_rejected: np.ndarray) -> float:
    """Fraction of pairs where the chosen side scores higher (ties count half)."""
    r_chosen, r_rejected = np.asarray(r_chosen, float), np.asarray(r_rejected, float)
    if r_chosen.shape != r_rejected.shape:
        raise ValueError(f"shape mismatch: {r_chosen.shape} vs {r_rejected.shape}")
    if r_chosen.size == 0:
        raise ValueError("pairwise accuracy of zero pairs is undefined")
    diff = r_chosen - r_rejected
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), 0-based."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    sorted_values = values[order]
    boundaries = np.flatnonzero(np.diff(sorted_values)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(values)]])
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end - 1) / 2.0
    return ranks


def spearman(predicted: np.ndarray, target: np.ndarray) -> float:
    """Spearman rank correlation, ignoring NaN targets; NaN when undefined (constant input)."""
    predicted, target = np.asarray(predicted, float), np.asarray(target, float)
    if predicted.shape != target.shape:
        raise ValueError(f"shape mismatch: {predicted.shape} vs {target.shape}")
    keep = ~(np.isnan(predicted) | np.isnan(target))
    if keep.sum() < 2:
        return float("nan")
    a, b = _ranks(predicted[keep]), _ranks(target[keep])
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else float("nan")


def item_in_eval(item_id: str, eval_fraction: float, seed: int) -> bool:
    """Deterministic assignment of one item to the eval side (stable across runs/machines)."""
    digest = hashlib.sha256(f"{seed}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < eval_fraction


def split_by_item(
    pair_items: Sequence[Iterable[str]], eval_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, eval indices) of pairs such that no item is on both sides.

    ``pair_items[i]`` lists the items pair ``i`` touches (one for a candidate pair, two for a
    pair of items). A pair whose items fall on different sides is left out of both, so an
    item's content never leaks from training into evaluation.
    """
    if not 0.0 <= eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    train, evaluation = [], []
    memo: dict[str, bool] = {}
    for index, items in enumerate(pair_items):
        sides = set()
        for item in items:
            if item not in memo:
                memo[item] = item_in_eval(str(item), eval_fraction, seed)
            sides.add(memo[item])
        if not sides:
            raise ValueError(f"pair {index} names no item")
        if sides == {False}:
            train.append(index)
        elif sides == {True}:
            evaluation.append(index)
    return np.asarray(train, dtype=np.int64), np.asarray(evaluation, dtype=np.int64)

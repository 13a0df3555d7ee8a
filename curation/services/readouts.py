"""Held-out read-outs per rubric criterion and per safety rule, the same for every recipe.

For a criterion: of the pairs of held-out items whose annotators' consensus on it differs by at
least one step (``MIN_GAP``), the share the model's item reward orders the same way (ties count
half). For a rule: of the pairs (an item that complies, one that violates), the share the
reward puts the complying item above. A model with one scalar reward (the VLM recipe) is read
the same way as one with a head per criterion, so runs of both recipes compare on the runs
page, next to how often annotators agree with each other on that criterion or rule.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

# One step on a 5-point scale rescaled to [0, 1] (a yes/no answer differs by 1).
MIN_GAP = 0.25
# Pairs grow with the square of the held-out items: beyond this many items, a seeded sample.
MAX_ITEMS = 2000


def ordered_pair_accuracy(
    values: Mapping[str, float], rewards: Mapping[str, float], *, seed: int = 0
) -> dict[str, Any] | None:
    """{"accuracy", "pairs", "items"} over the items with both a value and a reward; None when
    no two of them differ by ``MIN_GAP``."""
    ids = sorted(i for i in values if i in rewards)
    if len(ids) > MAX_ITEMS:
        ids = sorted(random.Random(seed).sample(ids, MAX_ITEMS))
    if len(ids) < 2:
        return None
    value = np.asarray([values[i] for i in ids], dtype=float)
    reward = np.asarray([rewards[i] for i in ids], dtype=float)
    better = (value[:, None] - value[None, :]) >= MIN_GAP - 1e-9
    pairs = int(better.sum())
    if not pairs:
        return None
    diff = (reward[:, None] - reward[None, :])[better]
    accuracy = float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / pairs)
    return {"accuracy": round(accuracy, 4), "pairs": pairs, "items": len(ids)}


def criterion_values(
    targets: Iterable[Any], *, criteria: Iterable[str], items: set[str]
) -> dict[str, dict[str, float]]:
    """criterion -> item -> consensus value in [0, 1] (higher = better) for ``items``: the
    mean over the criterion's questions, a per-turn question counting with its worst turn."""
    wanted = set(criteria)
    worst: dict[tuple[str, str, str], float] = {}
    for target in targets:
        item = str(target.item_id)
        if target.criterion not in wanted or item not in items:
            continue
        key = (target.criterion, item, target.question)
        worst[key] = min(worst.get(key, target.value), target.value)
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (criterion, item, _), value in worst.items():
        values[criterion][item].append(value)
    return {c: {i: float(np.mean(v)) for i, v in by.items()} for c, by in values.items()}


def rule_values(verdicts: Iterable[Any], *, items: set[str]) -> dict[str, dict[str, float]]:
    """rule -> item -> 1.0 when the item complies, 0.0 when it violates (decided verdicts)."""
    values: dict[str, dict[str, float]] = defaultdict(dict)
    for verdict in verdicts:
        item = str(verdict.item_id)
        if item in items and verdict.violates is not None:
            values[verdict.rule][item] = 0.0 if verdict.violates else 1.0
    return dict(values)


def held_out_readouts(
    rewards: Mapping[str, float],
    *,
    criteria: Mapping[str, Mapping[str, float]],
    rules: Mapping[str, Mapping[str, float]],
    seed: int = 0,
) -> dict[str, Any]:
    """Run metrics ``eval_accuracy_by_criterion`` and ``eval_accuracy_by_rule`` (name ->
    {"accuracy", "pairs", "items"}) from held-out items' rewards; absent when nothing to read."""
    out: dict[str, Any] = {}
    for key, groups in (("eval_accuracy_by_criterion", criteria), ("eval_accuracy_by_rule", rules)):
        read = {
            name: result
            for name in sorted(groups)
            if (result := ordered_pair_accuracy(groups[name], rewards, seed=seed)) is not None
        }
        if read:
            out[key] = read
    return out

"""Held-out read-outs per rubric criterion and per safety rule, the same for every recipe.

For a criterion: of the pairs of held-out items whose annotators' consensus on it differs by at
least one step (``MIN_GAP``), the share the model's item reward orders the same way (ties count
half). For a rule: of the pairs (an item that complies, one that violates), the share the
reward puts the complying item above. A model with one scalar reward (the VLM recipe) is read
the same way as one with a head per criterion, so runs of both recipes compare on the runs
page, next to how often annotators agree with each other on that criterion or rule.

Overall, like for like (``agreement_with_annotators``): on the held-out pairs each annotator
ordered, how often the model orders them the same way, beside how often another annotator
does. Both figures are the same measurement, so the model "reaches the annotators" exactly
when the first is not below the second.
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
# The same for the items one annotator scored (each is compared with every other annotator).
MAX_ANNOTATOR_ITEMS = 600


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


def _signs(values: np.ndarray, upper: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return np.sign(values[:, None] - values[None, :])[upper]


def agreement_with_annotators(
    scores: Mapping[Any, Mapping[str, float]], rewards: Mapping[str, float], *, seed: int = 0
) -> dict[str, Any] | None:
    """For each annotator k, the pairs of held-out items k scored differently: the share the
    model's reward orders as k did (``model``), beside the share another annotator j who
    scored both orders as k did (``annotators``); a tie of j's, or of the rewards, counts a
    half, as a coin would break it. ``scores``: annotator -> item -> their item score. None
    when no annotator scored two held-out items differently."""
    rng = random.Random(seed)
    model_hits = model_n = peer_hits = peer_n = 0.0
    compared = 0
    for k in sorted(scores, key=str):
        ids = sorted(i for i in scores[k] if i in rewards)
        if len(ids) > MAX_ANNOTATOR_ITEMS:
            ids = sorted(rng.sample(ids, MAX_ANNOTATOR_ITEMS))
        if len(ids) < 2:
            continue
        upper = np.triu_indices(len(ids), k=1)
        own = _signs(np.asarray([scores[k][i] for i in ids], dtype=float), upper)
        keep = own != 0
        if not keep.any():
            continue
        compared += 1
        own = own[keep]
        model = _signs(np.asarray([rewards[i] for i in ids], dtype=float), upper)[keep]
        model_hits += float((model == own).sum() + 0.5 * (model == 0).sum())
        model_n += float(own.size)
        mine = set(ids)
        for j in scores:
            if j == k or len(mine.intersection(scores[j])) < 2:
                continue
            theirs = np.asarray([scores[j].get(i, np.nan) for i in ids], dtype=float)
            other = (theirs[:, None] - theirs[None, :])[upper][keep]
            both = ~np.isnan(other)
            other = np.sign(other[both])
            peer_hits += float((other == own[both]).sum() + 0.5 * (other == 0).sum())
            peer_n += float(other.size)
    if not model_n:
        return None
    return {
        "model": round(model_hits / model_n, 4),
        "annotators": round(peer_hits / peer_n, 4) if peer_n else None,
        "pairs": int(model_n),
        "peer_comparisons": int(peer_n),
        "annotators_compared": compared,
    }

"""Inter-annotator agreement on coded answers, vectorised with numpy (no Django here).

Answers are reduced to "components": one per question (one per rule of a rule_verdict
question). A component is three parallel integer arrays (unit, coder, code) plus a distance
matrix between codes, delta[c, k] = the squared difference function of Krippendorff's alpha:
nominal for labels and verdicts, ordinal for ratings and pairwise preferences, MASI for label
sets, normalised Kendall tau distance (ties count half) for rankings.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import krippendorff
import numpy as np

# A pairwise answer as a preference of the lower candidate index over the higher one.
PAIR_CODES = {"lower": 0, "tie": 1, "higher": 2}


@dataclass
class Component:
    """Coded answers of one question (or one rule) over a project."""

    key: str
    question_type: str
    level: str  # "nominal" | "ordinal" | "interval" | "masi" | "rank"
    labels: list[Any]  # code -> value
    unit: np.ndarray
    coder: np.ndarray
    code: np.ndarray
    unit_item: np.ndarray  # unit -> item id
    delta: np.ndarray = field(default=None)  # type: ignore[assignment]

    @property
    def n_values(self) -> int:
        return len(self.labels)


def value_counts(unit: np.ndarray, code: np.ndarray, n_units: int, n_values: int) -> np.ndarray:
    """units x values matrix of how many coders gave each value to each unit."""
    flat = np.bincount(unit * n_values + code, minlength=n_units * n_values)
    return flat.reshape(n_units, n_values).astype(np.float64)


def nominal_delta(n: int) -> np.ndarray:
    return 1.0 - np.eye(n)


def interval_delta(values: Sequence[float]) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return (v[:, None] - v[None, :]) ** 2


def masi_delta(label_sets: Sequence[frozenset]) -> np.ndarray:
    """MASI distance (Passonneau 2006): 1 - Jaccard x monotonicity weight."""
    n = len(label_sets)
    out = np.zeros((n, n))
    for i, j in itertools.combinations(range(n), 2):
        a, b = label_sets[i], label_sets[j]
        union = len(a | b)
        jaccard = len(a & b) / union if union else 1.0
        if a == b:
            weight = 1.0
        elif a <= b or b <= a:
            weight = 2 / 3
        elif a & b:
            weight = 1 / 3
        else:
            weight = 0.0
        out[i, j] = out[j, i] = 1.0 - jaccard * weight
    return out


def ranking_positions(tiers: Sequence[Sequence[int]]) -> dict[int, int]:
    return {candidate: tier for tier, members in enumerate(tiers) for candidate in members}


def kendall_distance(a: Sequence[Sequence[int]], b: Sequence[Sequence[int]]) -> float:
    """Share of candidate pairs the two tiered rankings order differently (tie vs order = 1/2)."""
    pa, pb = ranking_positions(a), ranking_positions(b)
    candidates = sorted(set(pa) & set(pb))
    pairs = 0
    total = 0.0
    for i, j in itertools.combinations(candidates, 2):
        sa = np.sign(pa[i] - pa[j])
        sb = np.sign(pb[i] - pb[j])
        pairs += 1
        if sa != sb:
            total += 1.0 if sa * sb < 0 else 0.5
    return total / pairs if pairs else 0.0


def rank_delta(rankings: Sequence[tuple]) -> np.ndarray:
    n = len(rankings)
    out = np.zeros((n, n))
    for i, j in itertools.combinations(range(n), 2):
        out[i, j] = out[j, i] = kendall_distance(rankings[i], rankings[j])
    return out


def alpha_from_counts(counts: np.ndarray, delta: np.ndarray) -> float | None:
    """Krippendorff's alpha for any distance, from a units x values count matrix.

    alpha = 1 - (n - 1) * sum(o * delta) / sum(n_c n_k delta), with the coincidence matrix
    o = sum over pairable units of (n_u n_u^T - diag(n_u)) / (m_u - 1).
    """
    m = counts.sum(axis=1)
    keep = m >= 2
    if not keep.any():
        return None
    counts, m = counts[keep], m[keep]
    weighted = counts / (m - 1)[:, None]
    coincidence = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    expected = float(n_c @ delta @ n_c)
    if expected == 0:
        return None
    return float(1.0 - (n - 1) * float((coincidence * delta).sum()) / expected)


def component_alpha(component: Component, counts: np.ndarray) -> float | None:
    """Alpha with the package for the standard levels, our own for MASI and rank distance."""
    if component.level in ("nominal", "ordinal", "interval"):
        pairable = counts[counts.sum(axis=1) >= 2]
        if pairable.size == 0 or (pairable.sum(axis=0) > 0).sum() < 2:
            return None  # one value only: alpha is undefined
        domain = list(range(component.n_values))
        if component.level == "interval":
            domain = [float(v) for v in component.labels]
        return float(
            krippendorff.alpha(
                value_counts=pairable,
                value_domain=domain,
                level_of_measurement=component.level,
            )
        )
    return alpha_from_counts(counts, component.delta)


def fleiss(counts: np.ndarray) -> tuple[float | None, int, int]:
    """Fleiss' kappa over the units rated by the most common number of raters."""
    from statsmodels.stats.inter_rater import fleiss_kappa

    m = counts.sum(axis=1).astype(int)
    m_pairable = m[m >= 2]
    if m_pairable.size == 0:
        return None, 0, 0
    raters = int(np.bincount(m_pairable).argmax())
    table = counts[m == raters]
    if table.shape[0] < 2 or (table.sum(axis=0) > 0).sum() < 2:
        return None, raters, int(table.shape[0])
    return float(fleiss_kappa(table, method="fleiss")), raters, int(table.shape[0])


def majority(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: the most given code and whether it is a strict majority (no tie for first)."""
    top = counts.argmax(axis=1)
    ordered = np.sort(counts, axis=1)
    unique = ordered[:, -1] > (ordered[:, -2] if counts.shape[1] > 1 else 0)
    return top, unique & (counts.sum(axis=1) >= 2)


def unit_disagreement(counts: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Mean distance over the ordered pairs of answers of each unit, scaled to [0, 1]."""
    if delta.size == 0 or counts.shape[1] != delta.shape[0]:
        # a question nobody has answered yet (an optional multi-label one): nothing to compare
        return np.full(counts.shape[0], np.nan)
    m = counts.sum(axis=1)
    pairs = m * (m - 1)
    # A question nobody answered has no codes: an empty distance matrix.
    scale = (delta.max() if delta.size else 0.0) or 1.0
    raw = np.einsum("uv,vw,uw->u", counts, delta, counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, raw / np.where(pairs > 0, pairs, 1) / scale, np.nan)


def cohen_pairs(
    component: Component,
    n_units: int,
    coder_names: Sequence[str],
    *,
    min_shared: int = 2,
    max_pairs: int = 50,
) -> list[dict[str, Any]]:
    """Cohen's kappa (scikit-learn) between every two annotators on their shared units."""
    from sklearn.metrics import cohen_kappa_score

    n_coders = len(coder_names)
    if n_units * n_coders > 50_000_000 or component.level in ("masi", "rank"):
        return []
    dense = np.full((n_units, n_coders), -1, dtype=np.int64)
    dense[component.unit, component.coder] = component.code
    present = dense >= 0
    shared = present.T.astype(np.int64) @ present.astype(np.int64)
    pairs = [
        (int(shared[i, j]), i, j)
        for i, j in itertools.combinations(range(n_coders), 2)
        if shared[i, j] >= min_shared
    ]
    weights = "quadratic" if component.level in ("ordinal", "interval") else None
    out = []
    for count, i, j in sorted(pairs, reverse=True)[:max_pairs]:
        both = present[:, i] & present[:, j]
        a, b = dense[both, i], dense[both, j]
        if len(set(a.tolist()) | set(b.tolist())) < 2:
            kappa = None
        else:
            kappa = float(cohen_kappa_score(a, b, weights=weights))
        out.append({"a": coder_names[i], "b": coder_names[j], "shared": count, "kappa": kappa})
    return out


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def item_disagreement(questions: Sequence[dict], answers: Sequence[dict]) -> float:
    """Quick disagreement of one item's answers in [0, 1] (mean over questions), kept on the
    project item at submit so reviewers get the most conflicting items first."""
    scores: list[float] = []
    questions, answers = _per_turn_flattened(questions, answers)
    for question in questions:
        qtype, key = question["type"], question["key"]
        values = [a.get(key) for a in answers if a.get(key) is not None]
        if qtype == "text" or len(values) < 2:
            continue
        if qtype == "rule_verdict":
            rules = {r for v in values if isinstance(v, dict) for r in v}
            for rule in rules:
                verdicts = [v.get(rule, {}).get("verdict") for v in values if isinstance(v, dict)]
                scores.append(_pair_share([x for x in verdicts if x and x != "unsure"]))
            continue
        if qtype == "rating":
            lows = [lab["value"] for lab in question.get("labels", [])] or [
                min(values),
                max(values),
            ]
            span = (max(lows) - min(lows)) or 1
            diffs = [abs(a - b) / span for a, b in itertools.combinations(values, 2)]
            scores.append(sum(diffs) / len(diffs))
            continue
        if qtype == "ranking":
            tiers = [v.get("ranking", []) for v in values]
            dists = [kendall_distance(a, b) for a, b in itertools.combinations(tiers, 2)]
            scores.append(sum(dists) / len(dists))
            continue
        scores.append(_pair_share([_canonical(v) for v in values]))
    return float(sum(scores) / len(scores)) if scores else 0.0


def _per_turn_flattened(
    questions: Sequence[dict], answers: Sequence[dict]
) -> tuple[list[dict], list[dict]]:
    """A per-turn question becomes one question per answered turn (`key@turn`)."""
    if not any(q.get("per_turn") for q in questions):
        return list(questions), list(answers)
    out_q: list[dict] = []
    out_a: list[dict] = [dict(a) for a in answers]
    for question in questions:
        if not question.get("per_turn"):
            out_q.append(question)
            continue
        key = question["key"]
        turns = sorted(
            {t for a in answers if isinstance(a.get(key), dict) for t in a[key]}, key=str
        )
        for turn in turns:
            out_q.append({**question, "key": f"{key}@{turn}", "per_turn": False})
        for flat in out_a:
            value = flat.pop(key, None)
            if isinstance(value, dict):
                for turn, answer in value.items():
                    flat[f"{key}@{turn}"] = answer
    return out_q, out_a


def _pair_share(values: Sequence[Any]) -> float:
    if len(values) < 2:
        return 0.0
    pairs = list(itertools.combinations(values, 2))
    return sum(a != b for a, b in pairs) / len(pairs)

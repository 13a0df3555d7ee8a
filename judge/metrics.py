"""Judge-versus-reference figures: confusion, precision, recall, F1, Cohen's kappa, and 95%
intervals from a deterministic bootstrap over items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion(predicted: Sequence[bool], reference: Sequence[bool]) -> dict[str, int]:
    p = np.asarray(predicted, dtype=bool)
    r = np.asarray(reference, dtype=bool)
    if p.shape != r.shape:
        raise ValueError(f"{p.shape} predictions against {r.shape} references")
    return {
        "tp": int((p & r).sum()),
        "fp": int((p & ~r).sum()),
        "fn": int((~p & r).sum()),
        "tn": int((~p & ~r).sum()),
    }


def _scores(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray
) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        n = tp + fp + fn + tn
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
        observed = (tp + tn) / n
        chance = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
        kappa = np.where(chance < 1, (observed - chance) / (1 - chance), np.nan)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "kappa": kappa,
        "agreement": observed,
    }


def _clean(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


def compare(
    predicted: Sequence[bool], reference: Sequence[bool], *, resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Figures of ``predicted`` against ``reference`` (the positive class: violated), each with
    a 95% percentile-bootstrap interval; ``None`` where a figure is undefined."""
    p = np.asarray(predicted, dtype=bool)
    r = np.asarray(reference, dtype=bool)
    counts = confusion(p, r)
    point = _scores(*(np.array([counts[k]], dtype=float) for k in ("tp", "fp", "fn", "tn")))
    out: dict[str, Any] = {"n": int(p.size), "confusion": counts}
    if p.size == 0:
        return {**out, **{k: {"value": None, "low": None, "high": None} for k in point}}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, p.size, size=(resamples, p.size))
    bp, br = p[idx], r[idx]
    boot = _scores(
        (bp & br).sum(1).astype(float),
        (bp & ~br).sum(1).astype(float),
        (~bp & br).sum(1).astype(float),
        (~bp & ~br).sum(1).astype(float),
    )
    for name, value in point.items():
        samples = boot[name][np.isfinite(boot[name])]
        low, high = np.percentile(samples, [2.5, 97.5]) if samples.size else (np.nan, np.nan)
        out[name] = {"value": _clean(value[0]), "low": _clean(low), "high": _clean(high)}
    return out

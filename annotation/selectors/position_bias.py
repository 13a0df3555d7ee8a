"""Position bias of a project's comparison answers: how often the first-shown candidate wins.

Candidates are shown in a random order per assignment (`services.candidate_order`), recorded
with each annotation as `display_order`. Without bias the candidate shown first wins a
pairwise choice half the time (ties and "both bad" say nothing and are left out) and is
ranked alone on top 1/n of the time among n candidates. The report gives the observed share,
the share expected without bias, a 95% Wilson interval and a two-sided test: exact binomial
when every answer has the same chance, the normal approximation of the sum of Bernoulli
trials otherwise (rankings over items with different candidate counts).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from annotation.models import Annotation, Project

Z95 = 1.959963984540054


def first_shown_won(
    question_type: str, value: Any, display_order: Any
) -> tuple[bool, float] | None:
    """(did the first-shown candidate win, chance of that without bias), or None if moot."""
    if not isinstance(value, dict) or not isinstance(display_order, dict):
        return None
    order = display_order.get(str(value.get("turn")))
    if not isinstance(order, list) or len(order) < 2:
        return None
    position = {candidate: k for k, candidate in enumerate(order)}
    if question_type == "pairwise":
        a, b, choice = value.get("a"), value.get("b"), value.get("choice")
        if choice not in ("A", "B") or a not in position or b not in position:
            return None
        winner, loser = (a, b) if choice == "A" else (b, a)
        return position[winner] < position[loser], 0.5
    if question_type == "ranking":
        tiers = value.get("ranking")
        if not isinstance(tiers, list) or not tiers or not isinstance(tiers[0], list):
            return None
        if len(tiers[0]) != 1:
            return None  # a tie for first names no single choice
        return tiers[0][0] == order[0], 1.0 / len(order)
    return None


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def bias_test(outcomes: Sequence[tuple[bool, float]]) -> dict[str, Any]:
    """Share of first-shown wins, what chance alone gives, its interval and a p-value."""
    n = len(outcomes)
    k = sum(1 for won, _ in outcomes if won)
    chances = [p for _, p in outcomes]
    expected = sum(chances) / n if n else None
    p_value: float | None = None
    if n:
        if len(set(chances)) == 1:
            from scipy.stats import binomtest

            p_value = float(binomtest(k, n, chances[0]).pvalue)
        else:
            variance = sum(p * (1 - p) for p in chances)
            z = (k - sum(chances)) / math.sqrt(variance) if variance else 0.0
            p_value = float(math.erfc(abs(z) / math.sqrt(2)))
    low, high = wilson_interval(k, n)
    return {
        "answers": n,
        "first_shown": k,
        "share": k / n if n else None,
        "expected": expected,
        "interval": [low, high] if n else None,
        "p_value": p_value,
        "biased": bool(p_value is not None and p_value < 0.05),
    }


def position_bias_of(
    questions: Sequence[dict], rows: Iterable[tuple[dict, dict]]
) -> list[dict[str, Any]]:
    """One entry per pairwise/ranking question from (answers, display_order) rows."""
    compared = [q for q in questions if q["type"] in ("pairwise", "ranking")]
    outcomes: dict[str, list[tuple[bool, float]]] = {q["key"]: [] for q in compared}
    for answers, display_order in rows:
        for question in compared:
            got = first_shown_won(question["type"], answers.get(question["key"]), display_order)
            if got is not None:
                outcomes[question["key"]].append(got)
    return [{"key": q["key"], "type": q["type"], **bias_test(outcomes[q["key"]])} for q in compared]


def project_position_bias(*, project: Project) -> list[dict[str, Any]]:
    questions = project.rubric.questions
    if not any(q["type"] in ("pairwise", "ranking") for q in questions):
        return []
    rows = (
        Annotation.objects.filter(project=project, source=Annotation.Source.HUMAN)
        .exclude(display_order={})
        .values_list("answers", "display_order")
        .order_by()
        .iterator(chunk_size=5000)
    )
    return position_bias_of(questions, rows)

"""Annotators' agreement with each other on a set of items: the ceiling a model is compared to.

For every item with two or more annotators, every pair of annotators, and every objective
question they both answered: do they agree? Binary answers must be equal, ratings on the same
side of the scale's midpoint, rankings must share the top tier. The rate is the mean over all
such comparisons, overall and per criterion. Safety rules (a rule-verdict question) are
compared per rule, where both gave a decided verdict ("unsure" is not a claim), and reported
apart: the overall rate stays the rubric's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from itertools import combinations
from typing import Any


def _same(question: dict[str, Any], a: Any, b: Any) -> bool | None:
    kind = question["type"]
    if kind == "binary" and isinstance(a, bool) and isinstance(b, bool):
        return a == b
    if kind == "rating" and isinstance(a, int | float) and isinstance(b, int | float):
        values = [label["value"] for label in question.get("labels") or []]
        if not values:
            return a == b
        mid = (min(values) + max(values)) / 2
        if a == mid or b == mid:
            return a == b
        return (a > mid) == (b > mid)
    if kind == "ranking" and isinstance(a, dict) and isinstance(b, dict):
        ta, tb = a.get("ranking") or [[]], b.get("ranking") or [[]]
        return set(ta[0]) == set(tb[0])
    if kind == "pairwise" and isinstance(a, dict) and isinstance(b, dict):
        return a.get("choice") == b.get("choice")
    return None


def annotator_agreement(
    answers_by_item: dict[int, list[dict[str, Any]]],
    questions: list[dict[str, Any]],
    items: Iterable[int],
) -> dict[str, Any]:
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    rule_hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    n_items = 0
    for item_id in items:
        answer_list = answers_by_item.get(item_id) or []
        if len(answer_list) < 2:
            continue
        n_items += 1
        for first, second in combinations(answer_list, 2):
            for question in questions:
                if question["type"] == "rule_verdict":
                    _rules_compared(first.get(question["key"]), second.get(question["key"]),
                                    rule_hits)  # fmt: skip
                    continue
                same = _same(question, first.get(question["key"]), second.get(question["key"]))
                if same is None:
                    continue
                for name in dict.fromkeys(
                    ("overall", question.get("criterion") or question["key"])
                ):
                    hits[name][0] += int(same)
                    hits[name][1] += 1
    by_criterion = {
        name: round(agree / total, 4) for name, (agree, total) in sorted(hits.items()) if total
    }
    by_rule = {name: round(agree / total, 4) for name, (agree, total) in sorted(rule_hits.items())}
    return {
        "items": n_items,
        "agreement": by_criterion.pop("overall", None),
        "agreement_by_criterion": by_criterion,
        "agreement_by_rule": by_rule,
    }


DECIDED = ("violates", "does_not_violate")


def _rules_compared(a: Any, b: Any, hits: dict[str, list[int]]) -> None:
    if not isinstance(a, dict) or not isinstance(b, dict):
        return
    for rule in sorted(set(a) & set(b), key=str):
        va = a[rule].get("verdict") if isinstance(a[rule], dict) else None
        vb = b[rule].get("verdict") if isinstance(b[rule], dict) else None
        if va in DECIDED and vb in DECIDED:
            hits[str(rule)][0] += int(va == vb)
            hits[str(rule)][1] += 1

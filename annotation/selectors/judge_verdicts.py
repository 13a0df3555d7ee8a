"""Judge suggestions beside the humans' verdicts, read where both live (this app): the human
verdicts per (item, rule), the judge's, and the items where they disagree (review order)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from annotation.models import Annotation, Project, Suggestion

VIOLATES, CLEAR = "violates", "does_not_violate"


def rule_verdict_keys(project: Project) -> list[str]:
    questions = getattr(getattr(project, "rubric", None), "questions", None) or []
    return [q["key"] for q in questions if q.get("type") == "rule_verdict"]


def human_verdicts(
    *, project: Project, item_ids: list[int] | None = None
) -> dict[tuple[int, str], list[bool]]:
    """{(item id, rule key): [violated?, one per human annotator]}; "unsure" is left out."""
    keys = rule_verdict_keys(project)
    out: dict[tuple[int, str], list[bool]] = defaultdict(list)
    if not keys:
        return out
    qs = Annotation.objects.filter(project=project, source=Annotation.Source.HUMAN)
    if item_ids is not None:
        qs = qs.filter(item_id__in=item_ids)
    for item_id, answers in qs.values_list("item_id", "answers").iterator(chunk_size=2000):
        for key in keys:
            verdicts = (answers or {}).get(key)
            if not isinstance(verdicts, dict):
                continue
            for rule, entry in verdicts.items():
                verdict = entry.get("verdict") if isinstance(entry, dict) else None
                if verdict in (VIOLATES, CLEAR):
                    out[(item_id, rule)].append(verdict == VIOLATES)
    return out


def human_majority(votes: list[bool]) -> bool | None:
    """Majority of the humans; a tie is no verdict."""
    yes = sum(votes)
    if 2 * yes == len(votes):
        return None
    return 2 * yes > len(votes)


def latest_judge_run_id(*, project: Project) -> int | None:
    return (
        Suggestion.objects.filter(constitution__project=project, judge_run_id__isnull=False)
        .order_by("-judge_run_id")
        .values_list("judge_run_id", flat=True)
        .first()
    )


def judge_verdicts(
    *, run_id: int, item_ids: list[int] | None = None
) -> dict[tuple[int, str], dict[str, Any]]:
    qs = Suggestion.objects.filter(judge_run_id=run_id)
    if item_ids is not None:
        qs = qs.filter(item_id__in=item_ids)
    return {
        (item_id, rule): {
            "violated": (value or {}).get("verdict") == VIOLATES,
            "score": score,
            "id": pk,
        }
        for pk, item_id, rule, value, score in qs.values_list(
            "pk", "item_id", "rule_key", "value", "score"
        )
    }


def judge_human_disagreements(*, project: Project, run_id: int | None = None) -> set[int]:
    """Items where the judge's verdict on some rule differs from the humans' majority."""
    run_id = run_id if run_id is not None else latest_judge_run_id(project=project)
    if run_id is None:
        return set()
    judged = judge_verdicts(run_id=run_id)
    out = set()
    for (item_id, rule), votes in human_verdicts(project=project).items():
        decision = judged.get((item_id, rule))
        majority = human_majority(votes)
        if decision is not None and majority is not None and decision["violated"] != majority:
            out.add(item_id)
    return out


def item_judge_suggestions(*, project: Project, item_id: int) -> list[dict[str, Any]]:
    """The latest judge run's decisions on one item, with their traces."""
    run_id = latest_judge_run_id(project=project)
    if run_id is None:
        return []
    return [
        {
            "rule": s.rule_key,
            "verdict": (s.value or {}).get("verdict"),
            "score": s.score,
            "model_version": s.model_version,
            "trace": s.trace,
        }
        for s in Suggestion.objects.filter(judge_run_id=run_id, item_id=item_id).order_by(
            "rule_key"
        )
    ]

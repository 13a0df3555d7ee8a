"""Review: conflicting items first, with every answer side by side, and adjudication."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction

from annotation.models import Adjudication, Annotation, Project, ProjectItem
from annotation.selectors.agreement_math import item_disagreement
from annotation.selectors.judge_verdicts import item_judge_suggestions, judge_human_disagreements
from annotation.services.rubric import answers_clean, rule_keys_for
from core.errors import DomainError


def review_next(*, project: Project, after_item_id: int | None = None) -> dict[str, Any] | None:
    """The unadjudicated item with at least two answers and the most disagreement."""
    qs = ProjectItem.objects.filter(project=project, done_count__gte=2, adjudicated=False)
    if after_item_id:
        qs = qs.exclude(item_id=after_item_id)
    # items where the safety judge and the humans disagree come first
    against_judge = judge_human_disagreements(project=project)
    pitem = None
    if against_judge:
        pitem = (
            qs.filter(item_id__in=against_judge)
            .select_related("item__image")
            .order_by("-disagreement", "id")
            .first()
        )
    if pitem is None:
        pitem = qs.select_related("item__image").order_by("-disagreement", "id").first()
    if pitem is None:
        return None
    return review_item(project=project, pitem=pitem)


def review_item(*, project: Project, pitem: ProjectItem) -> dict[str, Any]:
    annotations = list(
        Annotation.objects.filter(project_item=pitem).select_related("user").order_by("created_at")
    )
    questions = project.rubric.questions
    human = [a.answers for a in annotations if a.source == Annotation.Source.HUMAN]
    per_question = {}
    for q in questions:
        values = [a.get(q["key"]) for a in human if a.get(q["key"]) is not None]
        per_question[q["key"]] = {
            "answers": len(values),
            "disagreement": item_disagreement([q], human) if len(values) > 1 else 0.0,
        }
    return {
        "project_item": pitem,
        "annotations": annotations,
        "prefill": review_prefill(questions, human),
        "agreement": {
            "disagreement": item_disagreement(questions, human),
            "per_question": per_question,
        },
        # the reviewer sees the judge beside the humans
        "judge": item_judge_suggestions(project=project, item_id=pitem.item_id),
    }


def review_prefill(questions: list[dict], answers: list[dict]) -> dict[str, Any]:
    """What the adjudication form starts from: per question, the median of the ratings (the
    label nearest to it, the lower on a tie: [5, 1] gives 3, not whoever answered first) and
    the most frequent answer of any other type (ties: the first given). Text is left empty.
    A per-turn question ({"<turn index>": value}) is prefilled turn by turn the same way: the
    whole answers of two annotators rarely match, their answers to one turn often do."""
    out: dict[str, Any] = {}
    for question in questions:
        key, qtype = question["key"], question["type"]
        values = [a[key] for a in answers if a.get(key) is not None]
        if not values or qtype == "text":
            continue
        if question.get("per_turn"):
            turns: dict[str, list[Any]] = {}
            for value in values:
                if isinstance(value, dict):
                    for turn, answer in value.items():
                        if answer is not None:
                            turns.setdefault(str(turn), []).append(answer)
            prefill = {turn: _consensus(question, given) for turn, given in turns.items()}
            if prefill:
                out[key] = dict(sorted(prefill.items(), key=lambda kv: _turn_order(kv[0])))
            continue
        out[key] = _consensus(question, values)
    return out


def _turn_order(turn: str) -> tuple[int, str]:
    return (int(turn), "") if turn.isdigit() else (1 << 30, turn)


def _consensus(question: dict, values: list[Any]) -> Any:
    """The median label of ratings; otherwise the most frequent value (ties: the first)."""
    if question["type"] == "rating":
        labels = sorted(lab["value"] for lab in question.get("labels", []))
        numbers = sorted(
            v for v in values if isinstance(v, int | float) and not isinstance(v, bool)
        )
        if numbers and labels:
            middle = len(numbers) // 2
            median = (
                numbers[middle] if len(numbers) % 2 else (numbers[middle - 1] + numbers[middle]) / 2
            )
            return min(labels, key=lambda label: (abs(label - median), label))
    counts: dict[str, int] = {}
    first: dict[str, Any] = {}
    for value in values:
        text = json.dumps(value, sort_keys=True)
        counts[text] = counts.get(text, 0) + 1
        first.setdefault(text, value)
    return first[max(counts, key=counts.__getitem__)]


@transaction.atomic
def adjudication_save(
    *,
    project: Project,
    item_id: int,
    reviewer,
    answers: dict[str, Any],
    note: str = "",
) -> Adjudication:
    pitem = (
        ProjectItem.objects.select_for_update()
        .select_related("item")
        .filter(project=project, item_id=item_id)
        .first()
    )
    if pitem is None:
        raise DomainError("not_found", "This item is not in the project.", status=404)
    clean = answers_clean(
        questions=project.rubric.questions,
        answers=answers,
        item=pitem.item,
        rule_keys=rule_keys_for(project),
        partial=True,
    )
    adjudication = Adjudication.objects.filter(project_item=pitem).first()
    if adjudication is None:
        adjudication = Adjudication.objects.create(
            project_item=pitem, reviewer=reviewer, answers=clean, note=note
        )
    else:
        # Keep what the previous reviewer decided; nothing is silently overwritten.
        adjudication.history = [
            *adjudication.history,
            {
                "reviewer_id": adjudication.reviewer_id,
                "answers": adjudication.answers,
                "note": adjudication.note,
                "at": adjudication.updated_at.isoformat(),
            },
        ]
        adjudication.reviewer = reviewer
        adjudication.answers = clean
        adjudication.note = note
        adjudication.save()
    ProjectItem.objects.filter(pk=pitem.pk).update(adjudicated=True)
    return adjudication

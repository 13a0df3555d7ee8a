"""Progress of a project for dashboards: per day, per annotator, gold accuracy."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Q
from django.db.models.functions import TruncDate

from annotation.models import Annotation, Assignment, Project, ProjectItem, ProjectMembership


def project_progress(*, project: Project) -> dict[str, Any]:
    totals = ProjectItem.objects.filter(project=project, is_gold=False).aggregate(
        total=Count("id"),
        done=Count("id", filter=Q(responses__gte=F("project__overlap"))),
        started=Count("id", filter=Q(responses__gt=0)),
    )
    human = Annotation.objects.filter(project=project, source=Annotation.Source.HUMAN)
    per_day = list(
        human.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(annotations=Count("id"))
        .order_by("day")
    )
    per_user = {
        row["user_id"]: row
        for row in human.values("user_id", "user__username").annotate(
            annotations=Count("id"),
            gold_answered=Count("id", filter=Q(is_gold=True)),
            gold_correct=Count("id", filter=Q(is_gold=True, gold_correct=True)),
        )
    }
    skipped = dict(
        Assignment.objects.filter(project=project, status=Assignment.Status.SKIPPED)
        .values("user_id")
        .annotate(n=Count("id"))
        .values_list("user_id", "n")
    )
    annotators = []
    for m in ProjectMembership.objects.filter(project=project).select_related("user"):
        row = per_user.get(m.user_id, {})
        answered = row.get("gold_answered", 0)
        annotators.append(
            {
                "user_id": m.user_id,
                "username": m.user.username,
                "role": m.role,
                "annotations": row.get("annotations", 0),
                "skipped": skipped.get(m.user_id, 0),
                "gold_answered": answered,
                "gold_accuracy": row.get("gold_correct", 0) / answered if answered else None,
                "gold_status": _gold_status(project, m),
            }
        )
    return {
        "total": totals["total"],
        "done": totals["done"],
        "started": totals["started"],
        "annotations": human.count(),
        # members who answered, not members on the roster (owners and reviewers are members too)
        "active_annotators": sum(1 for row in per_user.values() if row["annotations"]),
        "per_day": [{"day": r["day"], "annotations": r["annotations"]} for r in per_day],
        "per_annotator": annotators,
    }


def _gold_status(project: Project, membership: ProjectMembership) -> str:
    accuracy = membership.gold_accuracy
    if accuracy is None or membership.gold_answered < project.gold_min_answers:
        return "ok"
    if accuracy < project.gold_block_below:
        return "blocked"
    if accuracy < project.gold_warn_below:
        return "warn"
    return "ok"

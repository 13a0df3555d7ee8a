"""Reads on projects: the caller's projects with progress, membership and role checks."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Q, QuerySet

from annotation.models import Annotation, Constitution, Project, ProjectItem, ProjectMembership
from core.errors import DomainError

ROLE_RANK = {"annotator": 1, "reviewer": 2, "owner": 3}


def project_access(*, project_id: int, user, role: str = "annotator") -> tuple[Project, str]:
    """The project and the caller's role ("staff" for staff non-members).

    Strangers get 404 (a project's existence is not disclosed); members below `role` get 403.
    """
    membership = (
        ProjectMembership.objects.select_related("project")
        .filter(project_id=project_id, user=user)
        .first()
    )
    if membership is None:
        if user.is_staff:
            project = Project.objects.filter(pk=project_id).first()
            if project is not None:
                return project, "staff"
        raise DomainError("not_found", "No such project.", status=404)
    if ROLE_RANK[membership.role] < ROLE_RANK[role] and not user.is_staff:
        raise DomainError(
            "permission_denied", f"This needs the {role} role in this project.", status=403
        )
    return membership.project, membership.role


def project_list(*, user) -> QuerySet[Project]:
    qs = Project.objects.all()
    if not user.is_staff:
        qs = qs.filter(memberships__user=user)
    return qs.order_by("-created_at", "-id")


def projects_progress(*, projects: list[Project], user) -> dict[int, dict[str, Any]]:
    """{project id: {total, done, mine, role}} in three queries for any number of projects."""
    ids = [p.pk for p in projects]
    rows = (
        ProjectItem.objects.filter(project_id__in=ids, is_gold=False)
        .values("project_id")
        .annotate(
            total=Count("id"),
            done=Count("id", filter=Q(responses__gte=F("project__overlap"))),
        )
    )
    out = {pid: {"total": 0, "done": 0, "mine": 0, "role": None} for pid in ids}
    for row in rows:
        out[row["project_id"]].update(total=row["total"], done=row["done"])
    mine = (
        Annotation.objects.filter(project_id__in=ids, user=user)
        .values("project_id")
        .annotate(n=Count("id"))
    )
    for row in mine:
        out[row["project_id"]]["mine"] = row["n"]
    for pid, role in ProjectMembership.objects.filter(project_id__in=ids, user=user).values_list(
        "project_id", "role"
    ):
        out[pid]["role"] = role
    return out


def constitution_current(*, project: Project) -> dict[str, Any] | None:
    constitution = Constitution.objects.filter(project=project).order_by("-version").first()
    if constitution is None:
        return None
    return {
        "version": constitution.version,
        "name": constitution.name,
        "created_at": constitution.created_at,
        "rules": [
            {
                "key": r.key,
                "text": r.text,
                "objectified": r.objectified,
                "category": r.category,
                "severity": r.severity,
                "preconditions": r.preconditions,
            }
            for r in constitution.rules.order_by("position")
        ],
    }

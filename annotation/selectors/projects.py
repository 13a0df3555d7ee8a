"""Reads on projects: the caller's projects with progress, members, corpora, items."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet

from annotation.models import Annotation, Constitution, Project, ProjectItem, ProjectMembership
from corpora.models import Item


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
                "central_objects": r.central_objects,
            }
            for r in constitution.rules.order_by("position")
        ],
    }


def project_corpus_ids(*, project: Project) -> list[int]:
    return sorted(project.corpora.values_list("pk", flat=True))


def project_members(*, project: Project) -> QuerySet[ProjectMembership]:
    return (
        ProjectMembership.objects.filter(project=project)
        .select_related("user")
        .order_by("user__username")
    )


def project_items(
    *, project: Project, gold_only: bool = False, category: str | None = None
) -> QuerySet[ProjectItem]:
    qs = ProjectItem.objects.filter(project=project).select_related("item")
    if gold_only:
        qs = qs.filter(is_gold=True)
    if category:
        qs = qs.filter(item__category=category)
    return qs


def projects_with_roles(*, user) -> list[tuple[Project, str | None]]:
    """The user's projects by name (every project for staff) with the user's role (None: staff
    non-member)."""
    roles = dict(ProjectMembership.objects.filter(user=user).values_list("project_id", "role"))
    projects = Project.objects.order_by("name")
    if not user.is_staff:
        projects = projects.filter(pk__in=roles)
    return [(project, roles.get(project.pk)) for project in projects]


def project_by_name(*, name: str) -> Project | None:
    return Project.objects.filter(name=name).first()


def project_corpora(*, project: Project) -> QuerySet:
    return project.corpora.all()


def project_missing_items_count(*, project: Project) -> int:
    """Items of the project's corpora (within its category filter) that are not in the project:
    items imported into a corpus after the project took it. They are not added by themselves
    (they would all enter the annotators' queue); the owner adds them (project_items_sync)."""
    items = Item.objects.filter(corpus__in=project.corpora.all())
    if project.category_filter:
        items = items.filter(category__in=project.category_filter)
    held = ProjectItem.objects.filter(project=project, item_id=OuterRef("pk"))
    return items.exclude(Exists(held)).count()

"""Reads of annotations: the caller's own latest answers (the UI's undo and history)."""

from __future__ import annotations

from django.db.models import QuerySet

from annotation.models import Annotation


def annotations_mine(*, project_id: int, user) -> QuerySet[Annotation]:
    return (
        Annotation.objects.filter(project_id=project_id, user=user)
        .select_related("item__image", "project_item")
        .order_by("-updated_at", "-id")
    )

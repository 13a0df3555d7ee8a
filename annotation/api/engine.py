"""Shared pieces of the annotation-engine API: the project of a request, item payloads."""

from __future__ import annotations

from django.conf import settings
from rest_framework.views import APIView

from annotation.models import Project
from core.api.permissions import project_access_of
from corpora.models import Item


class EngineApi(APIView):
    """APIView of the annotation engine (domain errors are mapped by core's exception handler).

    Each subclass declares its `permission_classes`; `project()` hands the view the project and
    role its permission check already looked up (no second query)."""

    def project(self, project_id: int) -> tuple[Project, str]:
        access = project_access_of(self.request, project_id)
        return access.project, access.role


def image_url(item: Item) -> str | None:
    if item.image_id is None:
        return None
    return f"{settings.MEDIA_URL}{item.image.file}"


def item_payload(item: Item) -> dict:
    image = item.image if item.image_id else None
    return {
        "id": item.pk,
        "external_id": item.external_id,
        "image_url": image_url(item),
        "width": image.width if image else None,
        "height": image.height if image else None,
        "category": item.category,
        "conversations": item.conversations,
        "questions": item.questions,
    }

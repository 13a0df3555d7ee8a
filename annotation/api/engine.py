"""Shared pieces of the annotation-engine API: role checks, item payloads."""

from __future__ import annotations

from django.conf import settings
from rest_framework.views import APIView

from annotation.models import Project
from annotation.selectors.projects import project_access
from corpora.models import Item


class EngineApi(APIView):
    """APIView of the annotation engine (domain errors are mapped by core's exception handler)."""

    def project(self, project_id: int, role: str = "annotator") -> tuple[Project, str]:
        return project_access(project_id=project_id, user=self.request.user, role=role)


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

"""Shared pieces of the annotation-engine API: error mapping, role checks, pagination."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.views import APIView

from annotation.api.errors import ApiError
from annotation.models import Item, Project
from annotation.selectors.projects import project_access
from annotation.services.errors import EngineError


class EngineApi(APIView):
    """APIView that answers domain errors (EngineError) in the API's one error shape."""

    def handle_exception(self, exc: Exception):  # noqa: ANN201
        if isinstance(exc, EngineError):
            exc = ApiError(exc.code, exc.message, status_code=exc.status, details=exc.details)
        return super().handle_exception(exc)

    def project(self, project_id: int, role: str = "annotator") -> tuple[Project, str]:
        return project_access(project_id=project_id, user=self.request.user, role=role)


class IdCursorPagination(CursorPagination):
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"
    ordering = "-id"


def paginated(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """The documented body of a cursor-paginated list of `serializer_class` rows."""
    name = serializer_class.__name__.removesuffix("Serializer")
    return inline_serializer(
        name=f"Paginated{name}List",
        fields={
            "next": serializers.URLField(allow_null=True, help_text="The next page, or null."),
            "previous": serializers.URLField(allow_null=True, help_text="The previous page."),
            "results": serializer_class(many=True),
        },
    )


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

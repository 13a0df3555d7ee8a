"""Shared pieces of the annotation-engine API: error mapping, role checks, pagination."""

from __future__ import annotations

from django.conf import settings
from rest_framework.pagination import CursorPagination
from rest_framework.views import APIView

from annotation.api.errors import ApiError
from annotation.models import Item, Project
from annotation.selectors.projects import project_access
from annotation.services.errors import EngineError


class EngineApi(APIView):
    """APIView that answers domain errors (EngineError) in the API's one error shape."""

    def handle_exception(self, exc: Exception):
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


def name_components(namespace: dict) -> None:
    """Give nested Input/OutputSerializers unique OpenAPI component names (ViewInput, ...).

    Every view nests classes of the same name, which drf-spectacular would merge otherwise.
    """
    from drf_spectacular.utils import extend_schema_serializer

    for name, obj in list(namespace.items()):
        if (
            isinstance(obj, type)
            and issubclass(obj, APIView)
            and obj.__module__ == namespace.get("__name__")
        ):
            for inner in ("InputSerializer", "OutputSerializer", "DeleteSerializer"):
                serializer = obj.__dict__.get(inner)
                if serializer is not None and not getattr(serializer, "_engine_named", False):
                    component = name.removesuffix("Api") + inner.removesuffix("Serializer")
                    extend_schema_serializer(component_name=component)(serializer)
                    serializer._engine_named = True

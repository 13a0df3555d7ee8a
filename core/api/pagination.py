"""Pagination of big lists: cursors over the primary key, newest first."""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.pagination import CursorPagination


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

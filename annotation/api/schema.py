"""The OpenAPI schema generator: component names that stay unique across the API."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as BaseAutoSchema


class AutoSchema(BaseAutoSchema):
    def get_serializer_name(self, serializer, direction: str) -> str:  # noqa: ANN001
        """`CorpusImportApi.InputSerializer` becomes the component `CorpusImportInput`.

        Every API class nests serializers called Input/Output; named by the class alone they
        would collide and the schema would show one operation's body for another's.
        """
        qualname = type(serializer).__qualname__
        if "." not in qualname:
            return super().get_serializer_name(serializer, direction)
        outer, inner = qualname.rsplit(".", 1)
        return outer.replace(".", "").removesuffix("Api") + inner.removesuffix("Serializer")

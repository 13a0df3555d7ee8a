"""The OpenAPI schema generator: component names that stay unique across the API."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as BaseAutoSchema


class AutoSchema(BaseAutoSchema):
    def get_serializer_name(self, serializer, direction: str) -> str:
        """`CorpusImportApi.InputSerializer` becomes the component `CorpusImportInput`.

        Every API class nests serializers called Input/Output; named by the class alone they
        would collide and the schema would show one operation's body for another's.
        """
        qualname = type(serializer).__qualname__
        if "." not in qualname:
            return super().get_serializer_name(serializer, direction)
        outer, inner = qualname.rsplit(".", 1)
        return outer.replace(".", "").removesuffix("Api") + inner.removesuffix("Serializer")

    def _get_response_bodies(self, direction: str = "response") -> dict:
        """Every operation documents the errors every operation can answer with.

        Any body can be malformed (400) or of another media type (415), any caller
        unauthenticated (401) or without the role (403), any id unknown (404); declared per view
        they were easy to forget. (Hooked here because `extend_schema(responses=...)` replaces
        the public serializer hooks.)
        """
        responses = super()._get_response_bodies(direction)
        if self.path.startswith("/api/schema") or self.path.startswith("/api/v1/auth/"):
            return responses
        from core.api.errors import ErrorSerializer

        codes = ["401", "403", "404"]
        if self.method in {"POST", "PUT", "PATCH", "DELETE"}:
            codes += ["400", "415"]
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    ErrorSerializer, code, None, direction
                )
        return responses

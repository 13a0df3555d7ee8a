"""My UI preferences: remappable keyboard shortcuts."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.api.engine import EngineApi
from annotation.services.preferences import preferences_get, preferences_set
from core.api.errors import error_responses
from core.api.permissions import IsAuthenticated


class PreferencesApi(EngineApi):
    # Each user's own preferences: nothing of anyone else's is reachable from here.
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        keymap = serializers.DictField(
            child=serializers.CharField(),
            required=False,
            help_text='{action: key}, e.g. {"submit": "Enter", "skip": "s"}.',
        )
        settings = serializers.DictField(required=False, help_text="Other UI settings.")

    class OutputSerializer(serializers.Serializer):
        keymap = serializers.DictField(child=serializers.CharField())
        settings = serializers.DictField()
        updated_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="me_preferences_get",
        summary="My preferences",
        responses={200: OutputSerializer, **error_responses(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(preferences_get(user=request.user)).data)

    @extend_schema(
        operation_id="me_preferences_put",
        summary="Replace my keymap and/or settings",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401)},
        examples=[
            OpenApiExample(
                "Keymap", value={"keymap": {"submit": "Enter", "skip": "s"}}, request_only=True
            )
        ],
    )
    def put(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        prefs = preferences_set(user=request.user, **data.validated_data)
        return Response(self.OutputSerializer(prefs).data)

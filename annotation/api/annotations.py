"""Annotations API: submit (idempotent, revisioned) and my latest annotations."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.api.engine import EngineApi, item_payload
from annotation.api.serializers import AnswersField, ItemOutputSerializer
from annotation.selectors.annotation_export import FORMATS as EXPORT_FORMATS
from annotation.selectors.annotation_export import annotation_export_stream
from annotation.selectors.annotations import annotations_mine
from annotation.services.submit import annotation_submit
from core.api.errors import ApiError, error_responses
from core.api.permissions import (
    IsProjectMember,
    IsProjectMemberCheckedInService,
    IsProjectReviewer,
)

EXPORT_TYPES = {
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
}


class AnnotationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Annotation id.")
    item_id = serializers.IntegerField()
    answers = AnswersField()
    revision = serializers.IntegerField(help_text="1 for the first submit, +1 per edit.")
    gold_feedback = AnswersField(
        allow_null=True, help_text="Expected answers when the item is gold, else null."
    )


class AnnotationSubmitApi(EngineApi):
    permission_classes = [IsProjectMemberCheckedInService]

    class InputSerializer(serializers.Serializer):
        item_id = serializers.IntegerField(help_text="The item answered.")
        answers = AnswersField()
        client_key = serializers.UUIDField(
            required=False,
            allow_null=True,
            help_text="A fresh UUID per submit; a retry with the same key returns the first "
            "result (200) and writes nothing.",
        )

    OutputSerializer = AnnotationOutputSerializer

    @extend_schema(
        operation_id="project_annotation_submit",
        summary="Submit (or edit) my answers for an item",
        request=InputSerializer,
        responses={
            201: AnnotationOutputSerializer,
            200: AnnotationOutputSerializer,
            **error_responses(400, 401, 403, 404, 409),
        },
        examples=[
            OpenApiExample(
                "Submit",
                value={
                    "item_id": 17,
                    "client_key": "5b0c3c8e-6a43-4c8f-9a55-1f1e7d0c2a10",
                    "answers": {
                        "faithful": True,
                        "helpfulness": 4,
                        "best_answer": {"turn": 1, "ranking": [[2], [0, 1]]},
                    },
                },
                request_only=True,
            ),
            OpenApiExample(
                "Invalid answers",
                value={
                    "error": {
                        "code": "invalid_answers",
                        "message": "helpfulness: Give one of [1, 2, 3, 4, 5].",
                        "details": {"answers": {"helpfulness": ["Give one of [1, 2, 3, 4, 5]."]}},
                    }
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def post(self, request: Request, project_id: int) -> Response:
        data = _plain_submit(request.data)
        if data is None:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
        result = annotation_submit(
            project_id=project_id,
            user=request.user,
            item_id=data["item_id"],
            answers=data["answers"],
            client_key=data.get("client_key"),
        )
        body = {
            "id": result.annotation_id,
            "item_id": result.item_id,
            "answers": result.answers,
            "revision": result.revision,
            "gold_feedback": result.gold_feedback,
        }
        return Response(body, status=status.HTTP_201_CREATED if result.created else 200)


def _plain_submit(data: Any) -> dict[str, Any] | None:
    """The submit body when it is well-formed JSON, checked without the serializer (the hot
    path); None otherwise, and InputSerializer accepts or refuses it as before."""
    if type(data) is not dict:
        return None
    item_id, answers, key = data.get("item_id"), data.get("answers"), data.get("client_key")
    if type(item_id) is not int or type(answers) is not dict:
        return None
    if not all(type(k) is str for k in answers):
        return None
    if key is not None:
        if type(key) is not str:
            return None
        try:
            key = uuid.UUID(key)
        except ValueError:
            return None
    return {"item_id": item_id, "answers": answers, "client_key": key}


class AnnotationMineApi(EngineApi):
    permission_classes = [IsProjectMember]

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        item_id = serializers.IntegerField()
        answers = AnswersField()
        revision = serializers.IntegerField()
        display_order = serializers.DictField(
            child=serializers.ListField(child=serializers.IntegerField()),
            help_text="{turn: candidate indices in the order they were shown to me}.",
        )
        is_gold = serializers.BooleanField()
        created_at = serializers.DateTimeField()
        updated_at = serializers.DateTimeField()
        item = ItemOutputSerializer(help_text="The item, to show it again (undo).")

    @extend_schema(
        operation_id="project_annotations_mine",
        summary="My latest annotations in this project, newest first",
        parameters=[OpenApiParameter("limit", int, description="How many (1-100, default 20).")],
        responses={200: OutputSerializer(many=True), **error_responses(400, 401, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        try:
            limit = int(request.query_params.get("limit", 20))
        except ValueError as exc:
            raise ApiError("invalid_limit", "limit must be an integer.") from exc
        if not 1 <= limit <= 100:
            raise ApiError("invalid_limit", "limit must be between 1 and 100.")
        rows = annotations_mine(project_id=project_id, user=request.user)[:limit]
        return Response(
            [
                {
                    "id": a.pk,
                    "item_id": a.item_id,
                    "answers": a.answers,
                    "revision": a.revision,
                    "display_order": a.display_order,
                    "is_gold": a.is_gold,
                    "created_at": a.created_at,
                    "updated_at": a.updated_at,
                    "item": item_payload(a.item),
                }
                for a in rows
            ]
        )


class AnnotationExportApi(EngineApi):
    # Every annotator's answers: what reviewers already see one item at a time.
    permission_classes = [IsProjectReviewer]

    @extend_schema(
        operation_id="project_annotations_export",
        summary="Every raw annotation of the project, streamed as JSON, JSON Lines or CSV",
        description="One record per annotation (the latest revision): item, annotator, "
        "source, answers. CSV has one column per rubric question (`answer:<key>`) and all "
        "answers as JSON in `answers`; a cell that a spreadsheet would run as a formula is "
        "prefixed with '. Reviewers and owners.",
        parameters=[
            OpenApiParameter(
                "file_format",
                str,
                enum=list(EXPORT_FORMATS),
                description="json (default), jsonl or csv.",
            ),
            OpenApiParameter(
                "annotator", str, many=True, description="Only these annotators' (usernames)."
            ),
        ],
        responses={
            # json: an array of records; jsonl and csv: text, one record per line
            (200, "application/json"): {"type": "array", "items": {"type": "object"}},
            (200, "application/x-ndjson"): OpenApiTypes.BINARY,
            (200, "text/csv"): OpenApiTypes.BINARY,
            **error_responses(400, 401, 403, 404),
        },
    )
    def get(self, request: Request, project_id: int) -> StreamingHttpResponse:
        project, _ = self.project(project_id)
        fmt = request.query_params.get("file_format", "json")
        if fmt not in EXPORT_FORMATS:
            choices = ", ".join(EXPORT_FORMATS)
            raise ApiError("invalid_format", f"file_format must be one of {choices}.")
        annotators = [a[:150] for a in request.query_params.getlist("annotator") if a][:100]
        response = StreamingHttpResponse(
            annotation_export_stream(project=project, fmt=fmt, annotators=annotators or None),
            content_type=EXPORT_TYPES[fmt],
        )
        suffix = f"-{annotators[0]}" if len(annotators) == 1 else ""
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"annotations-project-{project.pk}{suffix}")
        response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
        return response

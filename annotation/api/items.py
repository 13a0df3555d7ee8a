"""Project items (cursor-paginated list, bulk upsert) and model suggestions on items."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.api.engine import EngineApi
from annotation.selectors.projects import project_items, project_missing_items_count
from annotation.services.items import project_items_upsert
from annotation.services.projects import project_items_sync
from annotation.services.suggestions import suggestions_add
from core.api.errors import ApiError, error_responses
from core.api.pagination import IdCursorPagination, paginated
from core.api.permissions import (
    IsItemProjectOwner,
    IsProjectOwner,
    IsProjectReviewer,
    IsStaff,
    ReadOnly,
)
from corpora.selectors import item_get


class ProjectItemOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="item_id", help_text="Item id.")
    external_id = serializers.CharField(source="item.external_id")
    category = serializers.CharField(source="item.category")
    is_gold = serializers.BooleanField()
    done_count = serializers.IntegerField(help_text="Answers submitted.")
    open_slots = serializers.IntegerField(help_text="Annotators still to be given the item.")
    uncertainty = serializers.FloatField(allow_null=True)
    disagreement = serializers.FloatField()
    adjudicated = serializers.BooleanField()


class ProjectItemsApi(EngineApi):
    permission_classes = [IsProjectReviewer & ReadOnly | IsProjectOwner]

    class InputSerializer(serializers.Serializer):
        class ItemRecord(serializers.Serializer):
            external_id = serializers.CharField(max_length=255, help_text="Idempotency key.")
            conversations = serializers.ListField(
                child=serializers.DictField(), help_text="LLaVA turns."
            )
            questions = serializers.JSONField(required=False, allow_null=True)
            score = serializers.JSONField(
                required=False, allow_null=True, help_text="Scores of candidate question sets."
            )
            category = serializers.CharField(required=False, allow_blank=True, default="")
            image_path = serializers.CharField(
                required=False, allow_blank=True, help_text="An image path already in the corpus."
            )
            gold_answers = serializers.DictField(
                required=False, allow_null=True, help_text="Expected answers: makes it gold."
            )
            uncertainty = serializers.FloatField(required=False, allow_null=True)

        corpus_id = serializers.IntegerField(
            required=False, help_text="One of the project's corpora (default: the first)."
        )
        items = ItemRecord(many=True)

    class OutputSerializer(serializers.Serializer):
        created = serializers.IntegerField()
        updated = serializers.IntegerField()
        unchanged = serializers.IntegerField()
        items = serializers.ListField(
            child=serializers.DictField(),
            help_text="[{id, external_id, is_gold}] in request order.",
        )

    @extend_schema(
        operation_id="project_items_list",
        summary="Items of a project (reviewer; cursor-paginated)",
        responses={200: paginated(ProjectItemOutputSerializer), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = self.project(project_id)
        qs = project_items(
            project=project,
            gold_only=request.query_params.get("gold") in ("1", "true"),
            category=request.query_params.get("category"),
        )
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(ProjectItemOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="project_items_upsert",
        summary="Create or update items by external id (owner; idempotent)",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            201: OutputSerializer,
            **error_responses(400, 401, 403, 404),
        },
        examples=[
            OpenApiExample(
                "Two items, one gold",
                value={
                    "items": [
                        {
                            "external_id": "a1",
                            "category": "detail",
                            "conversations": [
                                {"from": "human", "value": "<image>\nWhat?"},
                                {"from": "gpt", "value": "A cat."},
                            ],
                        },
                        {
                            "external_id": "g1",
                            "gold_answers": {"faithful": True},
                            "conversations": [
                                {"from": "human", "value": "Q?"},
                                {"from": "gpt", "value": "A."},
                            ],
                        },
                    ]
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = self.project(project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = project_items_upsert(
            project=project,
            records=[dict(r) for r in data.validated_data["items"]],
            corpus_id=data.validated_data.get("corpus_id"),
        )
        body = {
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "items": result.items,
        }
        return Response(body, status=status.HTTP_201_CREATED if result.created else 200)


class ItemSuggestionsApi(EngineApi):
    permission_classes = [IsStaff | IsItemProjectOwner]

    class InputSerializer(serializers.Serializer):
        class SuggestionRecord(serializers.Serializer):
            question_key = serializers.CharField(max_length=64, help_text="Rubric question key.")
            value = serializers.JSONField(help_text="A value in the question's answer format.")
            score = serializers.FloatField(
                required=False, allow_null=True, help_text="Model confidence or reward."
            )
            model_version = serializers.CharField(max_length=200, help_text="Model version.")

        suggestions = SuggestionRecord(many=True)

    class OutputSerializer(serializers.Serializer):
        item_id = serializers.IntegerField()
        created = serializers.IntegerField()

    @extend_schema(
        operation_id="item_suggestions_add",
        summary="Attach model pre-labels to an item (staff or owner of a project with it)",
        request=InputSerializer,
        responses={201: OutputSerializer, **error_responses(400, 401, 403, 404)},
        examples=[
            OpenApiExample(
                "One",
                value={
                    "suggestions": [
                        {
                            "question_key": "faithful",
                            "value": True,
                            "score": 0.91,
                            "model_version": "rm-2026-01",
                        }
                    ]
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, item_id: int) -> Response:
        item = item_get(item_id=item_id)
        if item is None:
            raise ApiError("not_found", "No such item.", status_code=404)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        made = suggestions_add(
            item=item, suggestions=[dict(s) for s in data.validated_data["suggestions"]]
        )
        return Response({"item_id": item.pk, "created": len(made)}, status=201)


class ProjectMissingItemsApi(EngineApi):
    """Items imported into a corpus after a project took it do not join the project by
    themselves (they would all enter the annotators' queue): this says how many there are, and
    adds them when the owner asks."""

    permission_classes = [IsProjectReviewer & ReadOnly | IsProjectOwner]

    class CountSerializer(serializers.Serializer):
        missing = serializers.IntegerField(
            help_text="Items of the project's corpora (in its category filter) not in it."
        )

    class AddedSerializer(serializers.Serializer):
        added = serializers.IntegerField(help_text="Items added to the project (and its queue).")

    @extend_schema(
        operation_id="project_missing_items_count",
        summary="How many items of the project's corpora are not in the project (reviewer)",
        responses={200: CountSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = self.project(project_id)
        return Response({"missing": project_missing_items_count(project=project)})

    @extend_schema(
        operation_id="project_missing_items_add",
        summary="Add the corpora's items that are not in the project yet (owner)",
        request=None,
        responses={200: AddedSerializer, **error_responses(401, 403, 404)},
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = self.project(project_id)
        return Response({"added": project_items_sync(project=project)})

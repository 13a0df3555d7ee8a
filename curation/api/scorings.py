"""Scorings (corpus x model version): one scoring, its per-item scores, curations over it."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.errors import ApiError, error_responses
from core.api.pagination import paginated
from core.api.permissions import CanReadCorpus, IsProjectOwner, IsProjectReviewer
from curation.api.common import ScoringApi
from curation.api.curations import DatasetOutputSerializer, ScoringOutputSerializer
from curation.api.policy import PolicyField
from curation.selectors.scorings import scoring_item_scores
from curation.services.curation import curation_commit, curation_evaluate, public

# ?order= value -> the cursor's ordering (the item id breaks ties, so pages never overlap).
ORDERS = {
    "-score": ("-overall", "-item_id"),
    "score": ("overall", "item_id"),
    "-id": ("-item_id",),
    "id": ("item_id",),
}


class ScoreCursorPagination(CursorPagination):
    """Cursor pages over a scoring's items, by score (default: best first) or by item id."""

    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"
    ordering = ORDERS["-score"]

    def get_ordering(self, request, queryset, view):
        order = request.query_params.get("order", "-score")
        if order not in ORDERS:
            raise ApiError(
                "validation_error", f"order must be one of {', '.join(ORDERS)}.", status_code=400
            )
        return ORDERS[order]


class ScoringDetailApi(ScoringApi):
    permission_classes = [IsProjectReviewer & CanReadCorpus]

    @extend_schema(
        operation_id="scoring_retrieve",
        summary="A scoring: its model version, corpus, shards and job",
        description="Reviewers of the model's project who may read the corpus.",
        responses={200: ScoringOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, scoring_id: int) -> Response:
        return Response(ScoringOutputSerializer(self.scoring).data)


class ItemScoreOutputSerializer(serializers.Serializer):
    item_id = serializers.IntegerField(help_text="The item's id.")
    external_id = serializers.CharField(help_text="The item's id in its source.")
    category = serializers.CharField(allow_blank=True, help_text="The item's category.")
    score = serializers.FloatField(source="overall", help_text="Overall reward.")
    criteria = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text="Rubric criterion -> score."
    )
    rules = serializers.DictField(
        child=serializers.FloatField(), help_text="Constitution rule -> P(violated)."
    )


class ScoringItemsApi(ScoringApi):
    permission_classes = [IsProjectReviewer & CanReadCorpus]

    class FilterSerializer(serializers.Serializer):
        category = serializers.CharField(required=False, help_text="Only this category.")
        min_score = serializers.FloatField(required=False, help_text="Overall score >= this.")
        max_score = serializers.FloatField(required=False, help_text="Overall score <= this.")

    @extend_schema(
        operation_id="scoring_item_list",
        summary="Per-item scores of a scoring (overall, per criterion, per rule), cursor pages",
        parameters=[
            OpenApiParameter(
                "order",
                str,
                enum=list(ORDERS),
                required=False,
                description="-score (default, best first), score, -id or id.",
            ),
            OpenApiParameter("category", str, required=False, description="Only this category."),
            OpenApiParameter("min_score", float, required=False, description="score >= this."),
            OpenApiParameter("max_score", float, required=False, description="score <= this."),
            OpenApiParameter("cursor", str, required=False, description="From `next`."),
            OpenApiParameter("page_size", int, required=False, description="Up to 1000."),
        ],
        responses={
            200: paginated(ItemScoreOutputSerializer),
            **error_responses(400, 401, 403, 404),
        },
    )
    def get(self, request: Request, scoring_id: int) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        scores = scoring_item_scores(scoring=self.scoring, **filters.validated_data)
        paginator = ScoreCursorPagination()
        page = paginator.paginate_queryset(scores, request, view=self)
        return paginator.get_paginated_response(ItemScoreOutputSerializer(page, many=True).data)


class ScoringCurationApi(ScoringApi):
    permission_classes = [IsProjectOwner & CanReadCorpus]

    class InputSerializer(serializers.Serializer):
        policy = PolicyField(
            help_text='As for a project\'s curations: steps, a preset name ("align2llava", '
            '"top10") or [{"preset": ...}, ...steps].'
        )
        commit = serializers.BooleanField(default=False, help_text="False: preview only.")
        name = serializers.CharField(required=False, allow_blank=True, max_length=200)
        seed = serializers.IntegerField(
            required=False, default=0, help_text="Random baseline seed."
        )

    @extend_schema(
        operation_id="scoring_curation_create",
        summary="Preview or commit a selection over a scoring (every scored item of its corpus)",
        description="Owner of the model's project who may read the corpus. The dataset version "
        "belongs to the model's project and records the scoring it came from.",
        request=InputSerializer,
        responses={
            200: OpenApiTypes.OBJECT,
            201: DatasetOutputSerializer,
            **error_responses(400, 401, 403, 404, 409),
        },
        examples=[OpenApiExample("Top 10%", value={"policy": "top10"}, request_only=True)],
    )
    def post(self, request: Request, scoring_id: int) -> Response:
        scoring = self.scoring
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        common = {
            "project": scoring.run.project,
            "run": scoring.run,
            "policy": values["policy"],
            "seed": values["seed"],
            "scoring": scoring,
        }
        if values["commit"]:
            dataset = curation_commit(**common, name=values.get("name", ""), user=request.user)
            return Response(DatasetOutputSerializer(dataset).data, status=status.HTTP_201_CREATED)
        return Response(public(curation_evaluate(**common)))

"""Rewriting a dataset version: start it, follow it, read and decide its turns."""

from __future__ import annotations

from functools import cached_property

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.errors import error_responses
from core.api.jobs import JobOutputSerializer
from core.api.pagination import paginated
from core.api.permissions import CanReadCorpus, IsProjectOwner, IsProjectReviewer, ReadOnly
from curation.api.common import DatasetApi
from rewrites.models import RewriteRun, RewriteTurn
from rewrites.selectors import (
    rewrite_figures,
    rewrite_get,
    rewrite_turn_get,
    rewrite_turns,
    rewrites_of_dataset,
)
from rewrites.services import DEFAULT_SHARD_SIZE, rewrite_start, rewrite_turn_decide


class RewriteOutputSerializer(serializers.ModelSerializer):
    job = JobOutputSerializer()
    figures = serializers.SerializerMethodField(
        help_text="turns, rewritten, share_rewritten, flagged, guard_failures, review_ties, "
        "mean_nll_original, mean_nll_rewrite, human_decided, human_acceptance_rate; a failed or "
        "cancelled run also has discarded (turns, shards, dataset_version) and no turns."
    )

    class Meta:
        model = RewriteRun
        fields = [
            "id", "source", "result", "job", "llm", "prompt_version", "settings", "guards",
            "shard_size", "n_shards", "shards_done", "figures", "created_at",
        ]  # fmt: skip
        extra_kwargs = {
            "source": {"help_text": "The dataset version rewritten."},
            "result": {"help_text": "The new dataset version (once the job succeeded)."},
        }

    def get_figures(self, run: RewriteRun) -> dict:
        # an ended run's figures are frozen (a failed or cancelled one says what it discarded)
        return run.figures if run.result_id or run.job.is_finished else rewrite_figures(run=run)


class RewriteTurnOutputSerializer(serializers.ModelSerializer):
    final_text = serializers.CharField(read_only=True, help_text="What the new version holds.")

    class Meta:
        model = RewriteTurn
        fields = [
            "id", "item", "turn", "field", "original", "rewrite", "kept", "reason", "review",
            "nll_original", "nll_rewrite", "guards", "flagged", "decision", "edited_text",
            "decided_at", "final_text",
        ]  # fmt: skip


class TurnCursorPagination(CursorPagination):
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"
    ordering = "id"


class RewriteApi(DatasetApi):
    """A view on `datasets/<dataset_id>/rewrites/<rewrite_id>/...`."""

    @cached_property
    def rewrite(self) -> RewriteRun:
        return rewrite_get(rewrite_id=self.kwargs["rewrite_id"], dataset_id=self.dataset.pk)


class DatasetRewritesApi(DatasetApi):
    permission_classes = [(IsProjectReviewer & ReadOnly | IsProjectOwner) & CanReadCorpus]

    class InputSerializer(serializers.Serializer):
        settings = serializers.DictField(
            required=False,
            help_text="Rewriting settings: prompt_version (v1: rules; v2: rules and worked "
            "examples), custom_prompt (with {text}), granularity (turn, or sentence: each "
            "sentence rewritten and guarded on its own, a failing one keeps its words; the "
            "joined text is guarded again as a whole), "
            'fields (["answer"] or with "question"), temperature (0: greedy), top_p, '
            "max_new_tokens, batch_size, seed, review (order-controlled LLM review), "
            "review_margin.",
        )
        guards = serializers.DictField(
            required=False,
            help_text="Guards, each switchable: colours, numbers, objects, spatial, negation, "
            "length, similarity (booleans); length_low, length_high, min_similarity, "
            "max_added_objects.",
        )
        shard_size = serializers.IntegerField(
            required=False, default=DEFAULT_SHARD_SIZE, min_value=1, max_value=10_000,
            help_text="Items per shard: a restarted job goes on from the last finished shard.",
        )  # fmt: skip

    @extend_schema(
        operation_id="dataset_rewrite_list",
        summary="Rewritings of a dataset version",
        responses={200: RewriteOutputSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, dataset_id: int) -> Response:
        runs = rewrites_of_dataset(dataset_id=self.dataset.pk)
        return Response(RewriteOutputSerializer(runs, many=True).data)

    @extend_schema(
        operation_id="dataset_rewrite_create",
        summary="Rewrite a dataset version's turns with the LLM (background job)",
        request=InputSerializer,
        responses={202: RewriteOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
        examples=[
            OpenApiExample(
                "Greedy, answers only, every guard",
                value={"settings": {"temperature": 0, "max_new_tokens": 256}},
                request_only=True,
            ),
            OpenApiExample(
                "Questions too, no similarity guard",
                value={
                    "settings": {"fields": ["question", "answer"]},
                    "guards": {"similarity": False},
                },
                request_only=True,
            ),  # fmt: skip
        ],
    )
    def post(self, request: Request, dataset_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = rewrite_start(
            dataset=self.dataset,
            user=request.user,
            settings=data.validated_data.get("settings"),
            guards=data.validated_data.get("guards"),
            shard_size=data.validated_data["shard_size"],
        )
        return Response(RewriteOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RewriteDetailApi(RewriteApi):
    permission_classes = [IsProjectReviewer & CanReadCorpus]

    @extend_schema(
        operation_id="dataset_rewrite_retrieve",
        summary="A rewriting: its job's progress and its figures",
        responses={200: RewriteOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, dataset_id: int, rewrite_id: int) -> Response:
        return Response(RewriteOutputSerializer(self.rewrite).data)


class RewriteTurnsApi(RewriteApi):
    permission_classes = [IsProjectReviewer & CanReadCorpus]

    class FilterSerializer(serializers.Serializer):
        flagged = serializers.BooleanField(required=False, allow_null=True, default=None)
        decided = serializers.BooleanField(required=False, allow_null=True, default=None)
        kept = serializers.ChoiceField(choices=["rewrite", "original"], required=False)
        sample = serializers.IntegerField(required=False, min_value=1, max_value=1000)
        seed = serializers.IntegerField(required=False, default=0)

    @extend_schema(
        operation_id="dataset_rewrite_turn_list",
        summary="Per-turn results of a rewriting, cursor pages",
        parameters=[
            OpenApiParameter("flagged", bool, required=False, description="Only (not) flagged."),
            OpenApiParameter("decided", bool, required=False, description="Human decided or not."),
            OpenApiParameter("kept", str, enum=["rewrite", "original"], required=False),
            OpenApiParameter("sample", int, required=False, description="A random sample."),
            OpenApiParameter("seed", int, required=False, description="The sample's seed."),
            OpenApiParameter("cursor", str, required=False, description="From `next`."),
            OpenApiParameter("page_size", int, required=False, description="Up to 500."),
        ],
        responses={
            200: paginated(RewriteTurnOutputSerializer),
            **error_responses(400, 401, 403, 404),
        },
    )
    def get(self, request: Request, dataset_id: int, rewrite_id: int) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        turns = rewrite_turns(run=self.rewrite, **filters.validated_data)
        paginator = TurnCursorPagination()
        page = paginator.paginate_queryset(turns, request, view=self)
        return paginator.get_paginated_response(RewriteTurnOutputSerializer(page, many=True).data)


class RewriteTurnDecisionApi(RewriteApi):
    permission_classes = [IsProjectReviewer & CanReadCorpus]

    class InputSerializer(serializers.Serializer):
        decision = serializers.ChoiceField(
            choices=["accept", "reject", "edit", ""],
            help_text="accept: the rewrite; reject: the original; edit: `text`; empty: undo "
            "(the LLM's outcome again).",
        )
        text = serializers.CharField(required=False, allow_blank=True, max_length=20_000)

    @extend_schema(
        operation_id="dataset_rewrite_turn_decide",
        summary="A person's decision on one turn (overrides the LLM's)",
        request=InputSerializer,
        responses={200: RewriteTurnOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, dataset_id: int, rewrite_id: int, turn_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        turn = rewrite_turn_get(rewrite_id=self.rewrite.pk, turn_id=turn_id)
        turn = rewrite_turn_decide(
            turn=turn, user=request.user, decision=data.validated_data["decision"],
            text=data.validated_data.get("text"),
        )  # fmt: skip
        return Response(RewriteTurnOutputSerializer(turn).data)

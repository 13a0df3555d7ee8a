"""Reward-model runs: start, list, detail (curves and metrics), promote."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import ProjectMembership
from core.api.errors import error_responses
from core.api.jobs import JobOutputSerializer
from core.services.job_liveness import jobs_reap
from curation.api.common import project_for
from curation.models import ActiveRewardModel, RewardModelRun
from curation.services.reward_models import reward_model_promote, reward_model_run_start


class RunOutputSerializer(serializers.ModelSerializer):
    job = JobOutputSerializer(help_text="Status and progress (steps) of the training job.")
    curve = serializers.SerializerMethodField(
        help_text="Learning curve: [{step, loss, val_accuracy}], written as training goes."
    )
    is_active = serializers.SerializerMethodField(help_text="Whether the project uses this run.")

    class Meta:
        model = RewardModelRun
        fields = [
            "id",
            "project",
            "job",
            "hyperparameters",
            "seed",
            "text_encoder",
            "image_encoder",
            "criteria",
            "rules",
            "data_fingerprint",
            "data_summary",
            "metrics",
            "human_agreement",
            "artifact_path",
            "created_at",
            "finished_at",
            "curve",
            "is_active",
        ]

    def get_curve(self, run: RewardModelRun) -> list[dict]:
        if not self.context.get("with_curve"):
            return []
        return [
            {"step": s, "loss": round(loss, 5), "val_accuracy": acc}
            for s, loss, acc in run.steps.values_list("step", "loss", "val_accuracy")
        ]

    def get_is_active(self, run: RewardModelRun) -> bool:
        return self.context.get("active_run_id") == run.pk


class HyperparametersSerializer(serializers.Serializer):
    trainer = serializers.ChoiceField(
        choices=["item", "pairs"],
        required=False,
        help_text="'item' (default): one score per (question, answer) turn, trained on item "
        "judgments through the minimum over turns, an item scored by its worst turn; 'pairs': "
        "the whole conversation as one text, trained on pairs, ratings and verdicts. Omitted "
        "parameters take the recipe's defaults; a parameter of the other recipe is a 400.",
    )
    lr = serializers.FloatField(
        required=False, min_value=1e-6, max_value=1.0, help_text="AdamW learning rate."
    )
    epochs = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    max_steps = serializers.IntegerField(
        required=False,
        min_value=1,
        allow_null=True,
        help_text="Overrides epochs when set ('pairs' only).",
    )
    batch_size = serializers.IntegerField(required=False, min_value=1, max_value=65536)
    weight_decay = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)
    seed = serializers.IntegerField(
        required=False, min_value=0, help_text="Fixes split, init and batches."
    )
    center_coef = serializers.FloatField(required=False, min_value=0.0)
    eval_fraction = serializers.FloatField(
        required=False,
        min_value=0.0,
        max_value=0.9,
        help_text="Share of items held out (split by item).",
    )
    hidden = serializers.IntegerField(required=False, min_value=4, max_value=8192)
    dropout = serializers.FloatField(required=False, min_value=0.0, max_value=0.9)
    rating_weight = serializers.FloatField(required=False, min_value=0.0, help_text="'pairs'.")
    rule_weight = serializers.FloatField(required=False, min_value=0.0, help_text="'pairs'.")
    temperature = serializers.FloatField(
        required=False,
        min_value=1e-3,
        max_value=10.0,
        help_text="'item': soft-minimum temperature over turns in training (small = hard min).",
    )
    patience = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="'item': stop after this many validations without improvement (0: never); "
        "the best weights are kept.",
    )
    candidate_weight = serializers.FloatField(
        required=False, min_value=0.0, help_text="'item': weight of the in-item candidate pairs."
    )
    item_min_gap = serializers.FloatField(
        required=False,
        min_value=0.0,
        max_value=1.0,
        help_text="'item': two items form a pair when their scores (mean of their rescaled "
        "ratings, yes/no answers and rule compliance, in [0, 1]) differ by at least this.",
    )
    item_pairs_per_item = serializers.IntegerField(
        required=False, min_value=1, max_value=1000, help_text="'item': others drawn per item."
    )
    eval_every = serializers.IntegerField(required=False, min_value=1)
    checkpoint_every = serializers.IntegerField(required=False, min_value=1)
    text_encoder = serializers.CharField(
        required=False,
        max_length=500,
        help_text="'default-turn-text' ('item' default), 'turn:SPEC'; 'default-text' ('pairs' "
        "default), 'text:PATH' or a local path.",
    )
    image_encoder = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=500,
        help_text="'default-image-colour' ('item' default), 'colour:SPEC'; 'default-image' "
        "('pairs' default), 'image:PATH'; empty: text only.",
    )


class ProjectRewardModelsApi(APIView):
    class InputSerializer(serializers.Serializer):
        hyperparameters = HyperparametersSerializer(required=False, help_text="Omitted: defaults.")

    @extend_schema(
        operation_id="reward_model_list",
        summary="Reward-model training runs of a project",
        responses={200: RunOutputSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for(request, project_id)
        jobs_reap()  # runs whose worker died show as requeued or failed, not running forever
        active = (
            ActiveRewardModel.objects.filter(project=project)
            .values_list("run_id", flat=True)
            .first()
        )
        runs = RewardModelRun.objects.filter(project=project).select_related("job")
        return Response(
            RunOutputSerializer(runs, many=True, context={"active_run_id": active}).data
        )

    @extend_schema(
        operation_id="reward_model_train",
        summary="Start a training run (one per project at a time)",
        request=InputSerializer,
        responses={202: RunOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
        examples=[
            OpenApiExample(
                "Small run", value={"hyperparameters": {"epochs": 4, "seed": 1}}, request_only=True
            )
        ],
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for(request, project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        raw = request.data.get("hyperparameters") or {}
        run = reward_model_run_start(project=project, user=request.user, hyperparameters=raw)
        run.refresh_from_db()
        return Response(RunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


def _run_for(request: Request, run_id: int, roles=None) -> RewardModelRun:  # noqa: ANN001
    run = get_object_or_404(RewardModelRun.objects.select_related("job", "project"), pk=run_id)
    if roles is None:
        project_for(request, run.project_id)
    else:
        project_for(request, run.project_id, roles)
    return run


class RewardModelDetailApi(APIView):
    @extend_schema(
        operation_id="reward_model_retrieve",
        summary="A run: status, learning curve, metrics beside human agreement",
        responses={200: RunOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = _run_for(request, run_id)
        active = (
            ActiveRewardModel.objects.filter(project_id=run.project_id)
            .values_list("run_id", flat=True)
            .first()
        )
        context = {"with_curve": True, "active_run_id": active}
        return Response(RunOutputSerializer(run, context=context).data)


class RewardModelPromoteApi(APIView):
    @extend_schema(
        operation_id="reward_model_promote",
        summary="Make this run the project's active model (project owner or staff)",
        request=None,
        responses={200: RunOutputSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = _run_for(request, run_id, roles=(ProjectMembership.Role.OWNER,))
        reward_model_promote(run=run, user=request.user)
        return Response(RunOutputSerializer(run, context={"active_run_id": run.pk}).data)

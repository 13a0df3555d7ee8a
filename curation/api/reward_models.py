"""Reward-model runs: start, list, detail (curves and metrics), promote."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import error_responses
from core.api.jobs import JobOutputSerializer
from core.api.permissions import IsProjectOwner, IsProjectReviewer, project_access_of
from core.services.job_liveness import jobs_reap
from curation.api.common import RunApi
from curation.models import RewardModelRun
from curation.selectors.runs import (
    active_run_id,
    reward_model_curve,
    reward_model_runs,
    run_readouts,
)
from curation.services.reward_models import reward_model_promote, reward_model_run_start
from rewardmodel.configs import item_recipe_schema, vlm_recipe_schema
from rewardmodel.params import ParamSpec


class ReadoutSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["overall", "criterion", "rule"])
    name = serializers.CharField(help_text="'overall', a rubric criterion or a rule key.")
    accuracy = serializers.FloatField(allow_null=True, help_text="Held-out, in [0, 1].")
    pairs = serializers.IntegerField(allow_null=True, help_text="Held-out pairs it counts.")
    agreement = serializers.FloatField(
        allow_null=True, help_text="Annotators' agreement on the held-out items, in [0, 1]."
    )


class RunOutputSerializer(serializers.ModelSerializer):
    job = JobOutputSerializer(help_text="Status and progress (steps) of the training job.")
    curve = serializers.SerializerMethodField(
        help_text="Learning curve: [{step, loss, val_accuracy}], written as training goes."
    )
    is_active = serializers.SerializerMethodField(help_text="Whether the project uses this run.")
    readouts = serializers.SerializerMethodField(
        help_text="Held-out accuracy beside annotator agreement, the same for every recipe: "
        "[{kind: 'overall' | 'criterion' | 'rule', name, accuracy, pairs, agreement}]. Per "
        "criterion: of held-out item pairs whose consensus on it differs by a step or more, "
        "the share the model's reward orders the same way; per rule: of (complying, violating) "
        "pairs, the share it puts the complying item above. agreement: how often two "
        "annotators agree there. null where there is nothing to measure. The like-for-like "
        "comparison is metrics.eval_vs_annotators: {model, annotators, pairs, "
        "peer_comparisons, annotators_compared}: of the held-out item pairs an annotator "
        "scored differently, the share the model orders the same way (model) and the share "
        "another annotator does (annotators)."
    )

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
            "readouts",
        ]

    def get_curve(self, run: RewardModelRun) -> list[dict]:
        if not self.context.get("with_curve"):
            return []
        return [
            {"step": p["step"], "loss": round(p["loss"], 5), "val_accuracy": p["val_accuracy"]}
            for p in reward_model_curve(run=run)
        ]

    @extend_schema_field(ReadoutSerializer(many=True))
    def get_readouts(self, run: RewardModelRun) -> list[dict]:
        return run_readouts(run=run)

    def get_is_active(self, run: RewardModelRun) -> bool:
        return self.context.get("active_run_id") == run.pk


def _param_field(spec: ParamSpec) -> serializers.Field:
    help_text = f"{spec.help} Default: {spec.default}.".strip()
    kwargs = {"required": False, "allow_null": spec.nullable, "help_text": help_text}
    if spec.kind is bool:
        return serializers.BooleanField(**kwargs)
    field = serializers.IntegerField if spec.kind is int else serializers.FloatField
    return field(min_value=spec.low, max_value=spec.high, **kwargs)


class _RecipeSerializer(serializers.Serializer):
    trainer = serializers.ChoiceField(
        choices=["item", "vlm"],
        required=False,
        help_text="'item' (default): one score per (question, answer) turn from frozen text "
        "and image features, trained on item judgments through the minimum over turns, an "
        "item scored by its worst turn; CPU. 'vlm': a vision-language checkpoint "
        "('backbone') reads image and conversation together, LoRA and a value head trained "
        "on item pairs; GPU. Omitted parameters take the recipe's defaults; a parameter "
        "belongs to one recipe (the bounds shown are the item recipe's where both share it).",
    )
    backbone = serializers.CharField(
        required=False,
        max_length=500,
        help_text="'vlm' only, required: the checkpoint, a local directory or a hub name in "
        "the workers' cache (e.g. 'llava-hf/llava-1.5-7b-hf'); any image-text-to-text model "
        "(LLaVA, LLaVA-NeXT, Qwen2-VL, Idefics3/SmolVLM) or causal LM.",
    )
    text_encoder = serializers.CharField(
        required=False,
        max_length=500,
        help_text="'grounded-turn-text' (default: 'default-turn-text' plus the colours each "
        "answer names), 'default-turn-text', 'turn:SPEC' or a local path.",
    )
    image_encoder = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=500,
        help_text="'grounded-image-colour' (default: 'default-image-colour' plus the share of "
        "each colour term; with 'grounded-turn-text' the head compares the two), "
        "'default-image-colour', 'colour:SPEC'; empty: text only.",
    )


# The item recipe's parameters, built from the library's config dataclasses
# (`rewardmodel.configs`), where names, types, defaults and bounds are declared once.
HyperparametersSerializer = type(
    "HyperparametersSerializer",
    (_RecipeSerializer,),
    {
        **{name: _param_field(spec) for name, spec in vlm_recipe_schema().items()},
        **{name: _param_field(spec) for name, spec in item_recipe_schema().items()},
    },
)


class ProjectRewardModelsApi(APIView):
    permission_classes = [IsProjectReviewer]

    class InputSerializer(serializers.Serializer):
        hyperparameters = HyperparametersSerializer(required=False, help_text="Omitted: defaults.")

    @extend_schema(
        operation_id="reward_model_list",
        summary="Reward-model training runs of a project",
        responses={200: RunOutputSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        jobs_reap()  # runs whose worker died show as requeued or failed, not running forever
        active = active_run_id(project_id=project_id)
        runs = reward_model_runs(project_id=project_id)
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
            ),
            OpenApiExample(
                "VLM run (GPU)",
                value={
                    "hyperparameters": {
                        "trainer": "vlm",
                        "backbone": "llava-hf/llava-1.5-7b-hf",
                        "lora_r": 16,
                        "steps": 500,
                        "batch_size": 16,
                    }
                },
                request_only=True,
            ),  # fmt: skip
        ],
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_access_of(request, project_id).project
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        raw = request.data.get("hyperparameters") or {}
        run = reward_model_run_start(project=project, user=request.user, hyperparameters=raw)
        run.refresh_from_db()
        return Response(RunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RewardModelDetailApi(RunApi):
    permission_classes = [IsProjectReviewer]

    @extend_schema(
        operation_id="reward_model_retrieve",
        summary="A run: status, learning curve, metrics beside human agreement",
        responses={200: RunOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = self.run
        active = active_run_id(project_id=run.project_id)
        context = {"with_curve": True, "active_run_id": active}
        return Response(RunOutputSerializer(run, context=context).data)


class RewardModelPromoteApi(RunApi):
    permission_classes = [IsProjectOwner]

    @extend_schema(
        operation_id="reward_model_promote",
        summary="Make this run the project's active model (project owner or staff)",
        request=None,
        responses={200: RunOutputSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = self.run
        reward_model_promote(run=run, user=request.user)
        return Response(RunOutputSerializer(run, context={"active_run_id": run.pk}).data)

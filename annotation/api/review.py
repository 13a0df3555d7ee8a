"""Agreement, progress and review API."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.api.engine import EngineApi, item_payload
from annotation.api.serializers import AnswersField, ItemOutputSerializer
from annotation.selectors.agreement import project_agreement
from annotation.selectors.progress import project_progress
from annotation.services.review import adjudication_save, review_next
from core.api.errors import error_responses
from core.api.permissions import IsProjectReviewer


class AgreementApi(EngineApi):
    permission_classes = [IsProjectReviewer]

    class OutputSerializer(serializers.Serializer):
        annotations = serializers.IntegerField(help_text="Human annotations counted.")
        items = serializers.IntegerField(help_text="Items with at least one annotation.")
        overlap = serializers.IntegerField()
        questions = serializers.ListField(
            child=serializers.DictField(),
            help_text="Per question (per rule for verdicts): key, type, level, alpha, "
            "alpha_interval (ratings), fleiss_kappa, fleiss_raters, units, cohen [{a, b, "
            "shared, kappa}]; alpha_undefined says why when alpha is null.",
        )
        annotators = serializers.ListField(
            child=serializers.DictField(),
            help_text="Per annotator: majority_agreement, gold_accuracy, answers.",
        )
        most_disagreement = serializers.ListField(
            child=serializers.DictField(),
            help_text="Unadjudicated items, most disputed first: [{item_id, external_id, "
            "category, disagreement, answers: [{annotator, answers}]}]",
        )
        position_bias = serializers.ListField(
            child=serializers.DictField(),
            help_text="Per pairwise/ranking question: how often the candidate shown first won"
            " ({key, type, answers, first_shown, share, expected, interval [low, high] (95%"
            " Wilson), p_value, biased}); ties and tied first places are left out.",
        )

    @extend_schema(
        operation_id="project_agreement",
        summary="Inter-annotator agreement (reviewer)",
        responses={200: OutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = self.project(project_id)
        return Response(self.OutputSerializer(project_agreement(project=project)).data)


class ProgressApi(EngineApi):
    permission_classes = [IsProjectReviewer]

    class OutputSerializer(serializers.Serializer):
        total = serializers.IntegerField()
        done = serializers.IntegerField()
        started = serializers.IntegerField()
        annotations = serializers.IntegerField()
        active_annotators = serializers.IntegerField(
            help_text="People who have submitted at least one answer."
        )
        per_day = serializers.ListField(
            child=serializers.DictField(), help_text="[{day, annotations}]"
        )
        per_annotator = serializers.ListField(
            child=serializers.DictField(),
            help_text="[{user_id, username, role, annotations, skipped, gold_answered, "
            "gold_accuracy, gold_status: ok|warn|blocked}]",
        )

    @extend_schema(
        operation_id="project_progress",
        summary="Progress for dashboards (reviewer)",
        responses={200: OutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = self.project(project_id)
        return Response(self.OutputSerializer(project_progress(project=project)).data)


class ReviewAnswerSerializer(serializers.Serializer):
    annotation_id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    source = serializers.CharField(help_text="human | external")
    answers = AnswersField()
    revision = serializers.IntegerField()


class ReviewNextApi(EngineApi):
    permission_classes = [IsProjectReviewer]

    class QuerySerializer(serializers.Serializer):
        after = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=2**63 - 1,
            help_text="Skip items up to this item id (paging).",
        )

    class OutputSerializer(serializers.Serializer):
        item = ItemOutputSerializer()
        annotations = ReviewAnswerSerializer(many=True, help_text="Every answer, side by side.")
        agreement = serializers.DictField(help_text="{disagreement, per_question: {key: {...}}}")
        prefill = serializers.DictField(
            help_text="Where adjudication starts: per question the ratings' median (the nearest "
            "label), otherwise the most frequent answer."
        )
        adjudicated = serializers.BooleanField()
        judge = serializers.ListField(
            child=serializers.DictField(),
            help_text="The latest safety-judge run on this item, beside the humans: "
            "[{rule, verdict, score, model_version, trace}]",
        )

    @extend_schema(
        operation_id="project_review_next",
        summary="The most conflicting unreviewed item (reviewer)",
        parameters=[QuerySerializer],
        responses={
            200: OutputSerializer,
            204: OpenApiResponse(description="Nothing to review."),
            **error_responses(400, 401, 403, 404),
        },
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = self.project(project_id)
        params = self.QuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = review_next(project=project, after_item_id=params.validated_data.get("after"))
        if data is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(
            {
                "item": item_payload(data["project_item"].item),
                "annotations": [
                    {
                        "annotation_id": a.pk,
                        "user_id": a.user_id,
                        "username": a.user.username,
                        "source": a.source,
                        "answers": a.answers,
                        "revision": a.revision,
                    }
                    for a in data["annotations"]
                ],
                "agreement": data["agreement"],
                "prefill": data["prefill"],
                "adjudicated": data["project_item"].adjudicated,
                "judge": data["judge"],
            }
        )


class ReviewSubmitApi(EngineApi):
    permission_classes = [IsProjectReviewer]

    class InputSerializer(serializers.Serializer):
        answers = AnswersField()
        note = serializers.CharField(required=False, allow_blank=True, default="")

    class OutputSerializer(serializers.Serializer):
        item_id = serializers.IntegerField()
        answers = AnswersField()
        note = serializers.CharField()
        reviewer_id = serializers.IntegerField()
        revisions = serializers.IntegerField(help_text="Earlier adjudications kept.")

    @extend_schema(
        operation_id="project_review_submit",
        summary="Record the adjudicated answer for an item (reviewer)",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 404)},
        examples=[
            OpenApiExample(
                "Adjudicate",
                value={"answers": {"faithful": False}, "note": "Two of three missed the dog."},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, project_id: int, item_id: int) -> Response:
        project, _ = self.project(project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        adj = adjudication_save(
            project=project,
            item_id=item_id,
            reviewer=request.user,
            answers=data.validated_data["answers"],
            note=data.validated_data["note"],
        )
        return Response(
            {
                "item_id": item_id,
                "answers": adj.answers,
                "note": adj.note,
                "reviewer_id": adj.reviewer_id,
                "revisions": len(adj.history),
            }
        )

"""Scoring a corpus, previewing and committing curations, dataset versions and their exports."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ApiError, error_responses
from core.api.jobs import JobOutputSerializer
from core.api.permissions import (
    CanReadCorpus,
    IsProjectOwner,
    IsProjectReviewer,
    ReadOnly,
    project_access_of,
)
from corpora.selectors import corpus_get
from curation.api.common import DatasetApi, ExportApi, RunApi
from curation.api.policy import PolicyField
from curation.models import DatasetVersion, Export, ScoringRun
from curation.selectors.runs import (
    active_run_id,
    dataset_exports,
    dataset_versions,
    reward_model_run_get,
)
from curation.selectors.scorings import scorings_of_run
from curation.services.curation import curation_commit, curation_evaluate, dataset_diff, public
from curation.services.export import export_file_path, export_start
from curation.services.scoring import DEFAULT_SHARD_SIZE, scoring_start


class ScoringOutputSerializer(serializers.ModelSerializer):
    job = JobOutputSerializer()

    class Meta:
        model = ScoringRun
        fields = [
            "id",
            "run",
            "corpus",
            "corpus_version",
            "shard_size",
            "n_shards",
            "job",
            "created_at",
        ]


class RewardModelScoreApi(RunApi):
    # Reviewers list the model's scorings (of the corpora they may read); the project's owner
    # scores any corpus they may read, in a project of theirs or not.
    permission_classes = [IsProjectReviewer & ReadOnly | IsProjectOwner]

    class InputSerializer(serializers.Serializer):
        corpus_id = serializers.IntegerField(help_text="Corpus to score.")
        shard_size = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=1_000_000,
            default=DEFAULT_SHARD_SIZE,
            help_text="Items per shard (one Celery task each).",
        )

    @extend_schema(
        operation_id="reward_model_scoring_list",
        summary="Scorings by this model (of the corpora the caller may read), newest first",
        responses={200: ScoringOutputSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, run_id: int) -> Response:
        scorings = scorings_of_run(run=self.run, user=request.user)
        return Response(ScoringOutputSerializer(scorings, many=True).data)

    @extend_schema(
        operation_id="reward_model_score_corpus",
        summary="Score any corpus the caller may read with this model (sharded across workers)",
        description="Owner of the model's project and reader of the corpus. The corpus need "
        "not belong to any project: no project changes, no item enters a queue. A corpus the "
        "caller may not read answers 404, as a missing one.",
        request=InputSerializer,
        responses={202: ScoringOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = self.run
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        corpus = corpus_get(corpus_id=data.validated_data["corpus_id"], user=request.user)
        scoring = scoring_start(
            run=run,
            corpus=corpus,
            user=request.user,
            shard_size=data.validated_data["shard_size"],
        )
        scoring.job.refresh_from_db()
        return Response(ScoringOutputSerializer(scoring).data, status=status.HTTP_202_ACCEPTED)


class DatasetOutputSerializer(serializers.ModelSerializer):
    exports = serializers.SerializerMethodField(
        help_text="Exports of this version with their jobs."
    )

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "project",
            "number",
            "name",
            "policy",
            "run",
            "scoring",
            "corpus_versions",
            "statistics",
            "n_items",
            "created_at",
            "exports",
        ]

    def get_exports(self, dataset: DatasetVersion) -> list[dict]:
        return ExportOutputSerializer(dataset_exports(dataset=dataset), many=True).data


class ProjectCurationApi(APIView):
    permission_classes = [IsProjectReviewer]

    class InputSerializer(serializers.Serializer):
        policy = PolicyField(
            help_text='Steps of rewardmodel.selection (e.g. [{"op": "top_fraction", "score": '
            '"overall", "fraction": 0.1}]), a preset name ("align2llava", "top10") or '
            '[{"preset": ...}, ...steps]. Flags: unsafe, unsafe_model, unsafe_human, rule:<key>.'
        )
        model_run_id = serializers.IntegerField(
            required=False, help_text="Model version; default: the active one."
        )
        commit = serializers.BooleanField(default=False, help_text="False: preview only.")
        name = serializers.CharField(required=False, allow_blank=True, max_length=200)
        seed = serializers.IntegerField(
            required=False, default=0, help_text="Random baseline seed."
        )

    @extend_schema(
        operation_id="curation_create",
        summary="Preview a selection policy, or commit it as a new immutable dataset version",
        request=InputSerializer,
        responses={
            200: OpenApiTypes.OBJECT,
            201: DatasetOutputSerializer,
            **error_responses(400, 401, 403, 404, 409),
        },
        examples=[
            OpenApiExample(
                "Align²LLaVA preview", value={"policy": "align2llava"}, request_only=True
            )
        ],
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_access_of(request, project_id).project
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        run_id = values.get("model_run_id") or active_run_id(project_id=project.pk)
        if run_id is None:
            raise ApiError(
                "no_model", "Give model_run_id or promote a model first.", status_code=409
            )
        run = reward_model_run_get(run_id=run_id, project_id=project.pk)
        if values["commit"]:
            dataset = curation_commit(
                project=project,
                run=run,
                policy=values["policy"],
                name=values.get("name", ""),
                user=request.user,
                seed=values["seed"],
            )
            return Response(DatasetOutputSerializer(dataset).data, status=status.HTTP_201_CREATED)
        evaluation = curation_evaluate(
            project=project, run=run, policy=values["policy"], seed=values["seed"]
        )
        return Response(public(evaluation))


class ProjectDatasetListApi(APIView):
    permission_classes = [IsProjectReviewer]

    @extend_schema(
        operation_id="dataset_list",
        summary="Dataset versions of a project",
        responses={200: DatasetOutputSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        datasets = dataset_versions(project_id=project_id)
        return Response(DatasetOutputSerializer(datasets, many=True).data)


class DatasetDetailApi(DatasetApi):
    permission_classes = [IsProjectReviewer & CanReadCorpus]

    @extend_schema(
        operation_id="dataset_retrieve",
        summary="A dataset version and its exports",
        responses={200: DatasetOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, dataset_id: int) -> Response:
        return Response(DatasetOutputSerializer(self.dataset).data)


class DatasetDiffApi(DatasetApi):
    permission_classes = [IsProjectReviewer & CanReadCorpus]

    @extend_schema(
        operation_id="dataset_diff",
        summary="Items added and removed between two versions",
        responses={200: OpenApiTypes.OBJECT, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, dataset_id: int, other_id: int) -> Response:
        return Response(dataset_diff(first=self.dataset, second=self.other))


class ExportOutputSerializer(serializers.ModelSerializer):
    job = JobOutputSerializer()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = [
            "id",
            "dataset",
            "format",
            "include_images",
            "options",
            "sink",
            "job",
            "manifest",
            "size_bytes",
            "created_at",
            "download_url",
        ]

    def get_download_url(self, export: Export) -> str:
        return f"/api/v1/exports/{export.pk}/download/"


class ExportOptionsSerializer(serializers.Serializer):
    """Per-format export options (export_options_clean in services/export.py applies them)."""

    scores = serializers.BooleanField(
        default=False,
        help_text="Add the model's scores as fields (score_overall, score_<criterion>,"
        " rule_<rule>) to jsonl, parquet, parquet_images and webdataset records. LLaVA"
        " JSON stays exactly LLaVA's.",
    )
    file_format = serializers.ChoiceField(
        choices=["parquet", "jsonl"],
        required=False,
        help_text="trl_pairs only: parquet (images inside, the default) or jsonl (image"
        " paths; with include_images, images.tar).",
    )
    shard_bytes = serializers.IntegerField(
        required=False,
        min_value=1024 * 1024,
        help_text="parquet_images, webdataset and trl_pairs parquet: start a new shard"
        " past this many bytes (default: the ARBITER_EXPORT_SHARD_BYTES setting).",
    )


class DatasetExportApi(DatasetApi):
    permission_classes = [IsProjectReviewer & CanReadCorpus]

    class InputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(
            choices=Export.Format.choices,
            help_text="llava_json (LLaVA's train.py), jsonl, parquet (text; images in"
            " images.tar), parquet_images (images inside, a `datasets` Image column, sharded),"
            " webdataset (tar shards of {key}.json + {key}.jpg|png), trl_pairs (the reward"
            " model's judged pairs as TRL prompt/chosen/rejected + images), llamafactory (the"
            " same pairs in LLaMA-Factory's sharegpt ranking format + dataset_info.json).",
        )
        include_images = serializers.BooleanField(
            default=False,
            help_text="Also write images.tar (llava_json, jsonl, parquet, trl_pairs jsonl,"
            " llamafactory); parquet_images and webdataset always carry their images.",
        )
        options = ExportOptionsSerializer(required=False, help_text="Per-format options.")
        sink = serializers.ChoiceField(
            choices=Export.Sink.choices,
            default=Export.Sink.LOCAL,
            help_text="local, or s3: also upload every file and the manifest to the S3-compatible"
            " bucket of the ARBITER_EXPORT_S3_* settings (manifest.sink says where).",
        )

    @extend_schema(
        operation_id="dataset_export",
        summary="Export a dataset version (background job)",
        request=InputSerializer,
        responses={202: ExportOutputSerializer, **error_responses(400, 401, 403, 404)},
        examples=[
            OpenApiExample(
                "TRL preference pairs to S3",
                value={
                    "format": "trl_pairs",
                    "options": {"file_format": "parquet"},
                    "sink": "s3",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Parquet with images and scores",
                value={"format": "parquet_images", "options": {"scores": True}},
                request_only=True,
            ),
        ],
    )
    def post(self, request: Request, dataset_id: int) -> Response:
        dataset = self.dataset
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        export = export_start(
            dataset=dataset,
            format=data.validated_data["format"],
            include_images=data.validated_data["include_images"],
            options=data.validated_data.get("options"),
            sink=data.validated_data["sink"],
            user=request.user,
        )
        export.job.refresh_from_db()
        return Response(ExportOutputSerializer(export).data, status=status.HTTP_202_ACCEPTED)


class ExportDownloadApi(ExportApi):
    permission_classes = [IsProjectReviewer & CanReadCorpus]

    @extend_schema(
        operation_id="export_download",
        summary="Download an export's data file (or ?file=manifest.json / images.tar)",
        parameters=[OpenApiParameter("file", str, required=False)],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            **error_responses(401, 403, 404, 409),
        },
    )
    def get(self, request: Request, export_id: int):
        export = self.export
        path = export_file_path(export=export, name=request.query_params.get("file"))
        return FileResponse(
            path.open("rb"), as_attachment=True, filename=f"dataset-{export.dataset_id}-{path.name}"
        )

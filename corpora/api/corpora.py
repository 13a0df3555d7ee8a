from __future__ import annotations

import shutil
from pathlib import Path

from django.db import transaction
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ApiError, error_responses
from core.api.jobs import JobOutputSerializer
from core.api.permissions import IsAuthenticated, IsStaff, ReadOnly
from core.errors import DomainError
from corpora.models import Corpus
from corpora.selectors import corpus_get, corpus_list
from corpora.services.corpora import corpus_create
from corpora.services.corpus_delete import corpus_delete_start
from corpora.services.corpus_import import corpus_import_start, upload_dir_new


class CorpusOutputSerializer(serializers.ModelSerializer):
    item_count = serializers.IntegerField(read_only=True, help_text="Items in the corpus.")

    class Meta:
        model = Corpus
        fields = ["id", "name", "description", "version", "item_count", "created_at"]


class CorpusListApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, help_text="Unique name of the corpus.")
        description = serializers.CharField(required=False, allow_blank=True, default="")

    # Anyone signed in lists the corpora they may see (the selector filters); staff create.
    permission_classes = [IsAuthenticated & ReadOnly | IsStaff]

    @extend_schema(
        operation_id="corpus_list",
        summary="List the corpora I may see (all for staff; else those of my projects)",
        responses={200: CorpusOutputSerializer(many=True), **error_responses(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(CorpusOutputSerializer(corpus_list(user=request.user), many=True).data)

    @extend_schema(
        operation_id="corpus_create",
        summary="Create an empty corpus (staff)",
        request=InputSerializer,
        responses={201: CorpusOutputSerializer, **error_responses(400, 401, 403, 409)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        corpus = corpus_create(created_by=request.user, **data.validated_data)
        corpus.item_count = 0
        return Response(CorpusOutputSerializer(corpus).data, status=status.HTTP_201_CREATED)


class CorpusDetailApi(APIView):
    # Reads: staff, or members of a project that uses the corpus (others get 404, as for a
    # missing one). Deletion: staff.
    permission_classes = [IsAuthenticated & ReadOnly | IsStaff]

    @extend_schema(
        operation_id="corpus_retrieve",
        summary="One corpus",
        responses={200: CorpusOutputSerializer, **error_responses(401, 404)},
    )
    def get(self, request: Request, corpus_id: int) -> Response:
        corpus = corpus_get(corpus_id=corpus_id, user=request.user, with_item_count=True)
        return Response(CorpusOutputSerializer(corpus).data)

    @extend_schema(
        operation_id="corpus_delete",
        summary="Delete a corpus and everything that depends on it (background job, staff)",
        description=(
            "The corpus disappears from lists and reads at once; a `corpus_delete` job removes "
            "its items with their project items, annotations, scores and dataset items, its "
            "image links, and the images no other corpus uses, in batches. 409 while an import "
            "or a scoring of the corpus is queued or running. Asking again while the deletion "
            "runs answers 404 (the corpus is hidden)."
        ),
        request=None,
        responses={202: JobOutputSerializer, **error_responses(401, 403, 404, 409)},
    )
    def delete(self, request: Request, corpus_id: int) -> Response:
        corpus = corpus_get(corpus_id=corpus_id)
        job = corpus_delete_start(corpus=corpus, created_by=request.user)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class CorpusImportApi(APIView):
    """Upload LLaVA JSON/JSONL (and optionally an image archive); import in the background."""

    permission_classes = [IsStaff]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(
            required=False, help_text="LLaVA JSON (an array) or JSONL file to import."
        )
        images = serializers.FileField(
            required=False, help_text="A .zip or .tar archive of the images the records name."
        )
        path = serializers.CharField(
            required=False, help_text="Instead of `file`: a path on the server (staff only)."
        )
        images_path = serializers.CharField(
            required=False, help_text="Instead of `images`: a folder or archive on the server."
        )
        category = serializers.CharField(
            required=False,
            allow_blank=True,
            help_text="Category for records without one (default: from the file name).",
        )

        def validate(self, attrs: dict) -> dict:
            if bool(attrs.get("file")) == bool(attrs.get("path")):
                raise serializers.ValidationError("Give exactly one of `file` or `path`.")
            return attrs

    @extend_schema(
        operation_id="corpus_import_create",
        summary="Import items into a corpus (background job)",
        request={"multipart/form-data": InputSerializer, "application/json": InputSerializer},
        responses={202: JobOutputSerializer, **error_responses(400, 401, 403, 404)},
        examples=[
            OpenApiExample(
                "Server path",
                value={"path": "/data/llava_instruct_150k.json", "images_path": "/data/coco"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, corpus_id: int) -> Response:
        corpus = corpus_get(corpus_id=corpus_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        upload_dir = upload_dir_new()
        source = _save_upload(values.get("file"), upload_dir) or Path(values["path"])
        images = _save_upload(values.get("images"), upload_dir) or values.get("images_path")
        if not source.is_file():
            raise ApiError("file_not_found", f"{source} does not exist on the server.")
        try:
            with transaction.atomic():
                job = corpus_import_start(
                    corpus=corpus,
                    source=source,
                    images=images,
                    category=values.get("category"),
                    source_name=values["file"].name if values.get("file") else source.name,
                    created_by=request.user,
                )
        except DomainError:
            # No job will clean up after this request (the corpus began to be deleted meanwhile).
            shutil.rmtree(upload_dir, ignore_errors=True)
            raise
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


def _save_upload(upload, directory: Path) -> Path | None:
    if upload is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / Path(upload.name).name
    with target.open("wb") as sink:
        for chunk in upload.chunks():
            sink.write(chunk)
    return target

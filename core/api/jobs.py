from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ApiError, error_responses
from core.api.permissions import IsJobCreatorOrStaff
from core.models import Job
from core.services.job_liveness import jobs_reap
from core.services.jobs import job_cancel, job_live_progress


class JobOutputSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField(
        help_text="current/total (bytes for imports, steps for training, items for scoring) "
        "and a message; `fraction` is in [0, 1] when the total is known."
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "status",
            "params",
            "progress",
            "result",
            "error",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_progress(self, job: Job) -> dict:
        live = job_live_progress(job)
        total = live.get("total")
        fraction = min(1.0, live["current"] / total) if total else None
        if job.status == Job.Status.SUCCEEDED:
            fraction = 1.0
        return {**live, "fraction": fraction}


def _reaped(job: Job) -> Job:
    """The job as it is: if its worker died, the reaper requeues or fails it first."""
    if job.status == Job.Status.RUNNING and jobs_reap(job_ids=[job.pk]):
        job.refresh_from_db()
    return job


class JobDetailApi(APIView):
    permission_classes = [IsJobCreatorOrStaff]

    @extend_schema(
        operation_id="job_retrieve",
        summary="Status and progress of a background job",
        responses={200: JobOutputSerializer, **error_responses(401, 404)},
        examples=[
            OpenApiExample(
                "Running import",
                value={
                    "id": 7,
                    "kind": "corpus_import",
                    "status": "running",
                    "progress": {"current": 5, "total": 10, "message": "", "fraction": 0.5},
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request, job_id: int) -> Response:
        return Response(JobOutputSerializer(_reaped(self.job)).data)


class JobCancelApi(APIView):
    permission_classes = [IsJobCreatorOrStaff]

    @extend_schema(
        operation_id="job_cancel",
        summary="Ask a job to stop",
        request=None,
        responses={200: JobOutputSerializer, **error_responses(401, 404, 409)},
    )
    def post(self, request: Request, job_id: int) -> Response:
        job = _reaped(self.job)
        if job.is_finished:
            raise ApiError("job_finished", f"The job has already {job.status}.", status_code=409)
        return Response(JobOutputSerializer(job_cancel(job=job)).data)

from __future__ import annotations

from django.db.models import QuerySet

from core.models import Job


def job_get(*, job_id: int) -> Job | None:
    return Job.objects.filter(pk=job_id).first()


def jobs_recent(*, kind: str, limit: int) -> QuerySet[Job]:
    return Job.objects.filter(kind=kind).order_by("-created_at")[:limit]

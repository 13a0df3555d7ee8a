from __future__ import annotations

from core.models import Job


def job_get(*, job_id: int) -> Job | None:
    return Job.objects.filter(pk=job_id).first()

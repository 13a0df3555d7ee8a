"""Background-job bookkeeping shared by every kind of job.

Live progress goes to the cache as well as the row: a job that writes inside one long
transaction (an all-or-nothing import) cannot show progress through its own uncommitted row.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from core.models import Job
from core.services.webhooks import job_failed_emit

logger = logging.getLogger(__name__)
PROGRESS_TTL_S = 24 * 3600


class JobCancelled(Exception):
    """Raised inside a job when its owner asked to cancel it."""


def _progress_key(job_id: int) -> str:
    return f"arbiter:job:{job_id}:progress"


def job_create(*, kind: str, params: dict[str, Any], created_by=None) -> Job:
    return Job.objects.create(kind=kind, params=params, created_by=created_by)


def job_progress(*, job_id: int, current: int, total: int | None = None, message: str = "") -> None:
    cache.set(
        _progress_key(job_id),
        {"current": current, "total": total, "message": message[:500]},
        PROGRESS_TTL_S,
    )
    if not connection.in_atomic_block:
        Job.objects.filter(pk=job_id).update(
            progress_current=current, progress_total=total, message=message[:500]
        )


def job_live_progress(job: Job) -> dict[str, Any]:
    """Progress as a user should see it: the cache while running, else the row."""
    if job.status == Job.Status.RUNNING:
        live = cache.get(_progress_key(job.pk))
        if live:
            return live
    return {"current": job.progress_current, "total": job.progress_total, "message": job.message}


def job_cancel_requested(job_id: int) -> bool:
    if connection.in_atomic_block:
        # The row read inside the job's own transaction would be stale only for other writers;
        # a cache flag set by job_cancel is visible at once.
        return bool(cache.get(f"arbiter:job:{job_id}:cancel"))
    return bool(
        cache.get(f"arbiter:job:{job_id}:cancel")
        or Job.objects.filter(pk=job_id, cancel_requested=True).exists()
    )


def job_cancel(*, job: Job) -> Job:
    cache.set(f"arbiter:job:{job.pk}:cancel", True, PROGRESS_TTL_S)
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    if job.status == Job.Status.QUEUED:
        Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
            status=Job.Status.CANCELLED, finished_at=timezone.now()
        )
    job.refresh_from_db()
    return job


def job_run(job_id: int, body: Callable[[Job], dict[str, Any]]) -> Job | None:
    """Run `body(job)` with status bookkeeping. Safe to call again for a redelivered task."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            logger.warning("job %s no longer exists", job_id)
            return None
        if job.is_finished:
            return job
        job.status = Job.Status.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.attempts += 1
        job.save(update_fields=["status", "started_at", "attempts"])
    try:
        result = body(job)
    except JobCancelled:
        _finish(job, Job.Status.CANCELLED, message="Cancelled.")
    except Exception as exc:  # every failure is reported on the job
        error = getattr(exc, "as_error", None)
        payload = (
            error()
            if callable(error)
            else {
                "code": "job_failed",
                "message": f"{type(exc).__name__}: {exc}",
                "details": {"traceback": traceback.format_exc()[-4000:]},
            }
        )
        logger.warning("job %s failed: %s", job_id, payload["message"])
        _finish(job, Job.Status.FAILED, error=payload, message=payload["message"])
        job_failed_emit(job_id=job.pk)
    else:
        _finish(job, Job.Status.SUCCEEDED, result=result or {}, message="Done.")
    job.refresh_from_db()
    return job


def _finish(
    job: Job,
    status: str,
    *,
    result: dict | None = None,
    error: dict | None = None,
    message: str = "",
) -> None:
    live = cache.get(_progress_key(job.pk)) or {}
    fields: dict[str, Any] = {
        "status": status,
        "finished_at": timezone.now(),
        "message": message[:500],
        "error": error,
        "progress_current": live.get("current", job.progress_current),
        "progress_total": live.get("total", job.progress_total),
    }
    if result is not None:
        fields["result"] = result
        if fields["progress_total"]:
            fields["progress_current"] = fields["progress_total"]
    Job.objects.filter(pk=job.pk).update(**fields)
    cache.delete(_progress_key(job.pk))

"""Background-job bookkeeping shared by every kind of job.

Live progress goes to the cache as well as the row: a job that writes inside one long
transaction (an all-or-nothing import) cannot show progress through its own uncommitted row.

Each kind of job may register what happens when its worker dies (`requeue`: send it to the
workers again, for kinds that resume) and when it ends however it ends (`on_end`: clean up
uploads, partial files, busy flags). Domain apps register them (see `workers/apps.py`), so
this module knows no domain; `core/services/job_liveness.py` reaps jobs whose worker died.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.models import Job
from core.services.webhooks import job_failed_emit

logger = logging.getLogger(__name__)
PROGRESS_TTL_S = 24 * 3600
FINISHED = [Job.Status.SUCCEEDED, Job.Status.FAILED, Job.Status.CANCELLED]


class JobCancelled(Exception):
    """Raised inside a job when its owner asked to cancel it."""


@dataclass(frozen=True)
class JobKindHooks:
    requeue: Callable[[Job], None] | None = None
    on_end: Callable[[Job], None] | None = None


_HOOKS: dict[str, JobKindHooks] = {}


def job_kind_register(
    *,
    kind: str,
    requeue: Callable[[Job], None] | None = None,
    on_end: Callable[[Job], None] | None = None,
) -> None:
    """`requeue(job)` dispatches the job again (the reaper calls it once committed);
    `on_end(job)` runs once the job has ended, whatever the outcome and whoever ended it."""
    _HOOKS[kind] = JobKindHooks(requeue=requeue, on_end=on_end)


def job_kind_hooks(kind: str) -> JobKindHooks:
    return _HOOKS.get(kind, JobKindHooks())


def job_ended(job_id: int) -> None:
    """Run the kind's end hook; a failing hook is logged, never raised into the caller."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or not job.is_finished:
        return
    hook = job_kind_hooks(job.kind).on_end
    if hook is None:
        return
    try:
        hook(job)
    except Exception:  # clean-up must not turn an outcome into another
        logger.exception("end hook of job %s (%s) failed", job.pk, job.kind)


def job_error_unexpected(*, job_id: int, exc: BaseException | None = None) -> dict[str, Any]:
    """The error a client sees for an unexpected failure: a message and an error id. The
    traceback (with its server paths) goes only to the log, under the same id."""
    error_id = uuid.uuid4().hex[:12]
    logger.error(
        "job %s failed [error id %s]",
        job_id,
        error_id,
        exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None,
    )
    return {
        "code": "job_failed",
        "message": f"The job failed unexpectedly (error id {error_id}).",
        "details": {"error_id": error_id},
    }


def _progress_key(job_id: int) -> str:
    return f"arbiter:job:{job_id}:progress"


def _cancel_key(job_id: int) -> str:
    return f"arbiter:job:{job_id}:cancel"


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
        return bool(cache.get(_cancel_key(job_id)))
    return bool(
        cache.get(_cancel_key(job_id))
        or Job.objects.filter(pk=job_id, cancel_requested=True).exists()
    )


def job_cancel(*, job: Job) -> Job:
    """Queued: cancelled at once. Running: the job stops at its next progress check; if its
    worker has stopped heart-beating nobody will check, so it is cancelled at once too."""
    from core.services.job_liveness import job_is_stale

    cache.set(_cancel_key(job.pk), True, PROGRESS_TTL_S)
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    job.refresh_from_db()
    if job.status == Job.Status.QUEUED or (job.status == Job.Status.RUNNING and job_is_stale(job)):
        with transaction.atomic():
            ended = Job.objects.filter(pk=job.pk, status=job.status).update(
                status=Job.Status.CANCELLED, finished_at=timezone.now(), message="Cancelled."
            )
            if ended:
                transaction.on_commit(lambda: job_ended(job.pk))
    job.refresh_from_db()
    return job


def job_run(job_id: int, body: Callable[[Job], dict[str, Any]]) -> Job | None:
    """Run `body(job)` with status bookkeeping and a heartbeat. Safe to call again for a
    redelivered task: a finished job is not run again."""
    from core.services.job_liveness import job_heartbeat, worker_name

    worker = worker_name()
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
        job.worker = worker
        job.heartbeat_at = timezone.now()
        job.save(update_fields=["status", "started_at", "attempts", "worker", "heartbeat_at"])
    try:
        with job_heartbeat(job_id=job.pk, worker=worker, attempt=job.attempts):
            result = body(job)
    except JobCancelled:
        _finish(job, Job.Status.CANCELLED, message="Cancelled.")
    except Exception as exc:  # every failure is reported on the job
        error = getattr(exc, "as_error", None)
        if callable(error):
            payload = error()
            logger.warning("job %s failed: %s", job_id, payload["message"])
        else:
            payload = job_error_unexpected(job_id=job_id, exc=exc)
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
    # Only this attempt may end the job: if the reaper gave up on this worker (and failed or
    # requeued the job), a late finish of the presumed-dead attempt changes nothing.
    ended = (
        Job.objects.filter(pk=job.pk, attempts=job.attempts)
        .exclude(status__in=FINISHED)
        .update(**fields)
    )
    cache.delete(_progress_key(job.pk))
    if ended:
        job_ended(job.pk)


def job_started_elsewhere(*, job_id: int, worker: str) -> None:
    """For jobs split into tasks (scoring shards): mark the job running on `worker`."""
    now = timezone.now()
    Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING,
        started_at=Coalesce("started_at", Value(now, output_field=DateTimeField())),
        attempts=F("attempts") + 1,
    )
    Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(worker=worker, heartbeat_at=now)

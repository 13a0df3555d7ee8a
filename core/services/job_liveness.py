"""Job liveness: a running job heart-beats; the reaper ends or requeues jobs whose worker died.

The worker process running a job writes `Job.heartbeat_at` every ARBITER_JOB_HEARTBEAT_S from
a timer thread. A running job whose heartbeat is older than ARBITER_JOB_STALE_S lost its
worker (killed, machine gone, out of memory): `jobs_reap` requeues it when its kind can be
sent again and it has attempts left, else fails it with the reason. Redis' visibility timeout
(hours) would redeliver the task eventually; by then the job is finished and the redelivered
task is a no-op (`job_run` does not run a finished job again).

Celery beat is not part of a deployment, so the reaper runs where it is cheap and needed:
every worker's heartbeat bootstep, the jobs API when a job is read or cancelled, and before
the "one training run per project" check. It is idempotent and race-safe: rows are claimed
with `SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent reapers never handle a job twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.models import Job
from core.services.jobs import job_ended, job_kind_hooks

logger = logging.getLogger(__name__)


def worker_name() -> str:
    """The Celery worker's node name (as `celery -n` set it) and the process id."""
    from celery import current_task

    task = current_task._get_current_object()  # None outside a task (tests, commands)
    hostname = (task.request.hostname or "") if task is not None else ""
    return f"{hostname or socket.gethostname()} pid {os.getpid()}"[:255]


def _stale_cutoff():
    return timezone.now() - timedelta(seconds=settings.ARBITER_JOB_STALE_S)


def _stale_filter() -> Q:
    cutoff = _stale_cutoff()
    return Q(status=Job.Status.RUNNING) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )


def job_is_stale(job: Job) -> bool:
    return Job.objects.filter(_stale_filter(), pk=job.pk).exists()


@contextmanager
def job_heartbeat(*, job_id: int, worker: str, attempt: int | None = None) -> Iterator[None]:
    """Beat for the job while the block runs (from a thread: the block may hold the GIL
    little, but it may hold a long transaction, which the beat must stay outside of)."""
    stop = threading.Event()

    def beat() -> None:
        touched = False
        while not stop.wait(settings.ARBITER_JOB_HEARTBEAT_S):
            rows = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING)
            if attempt is not None:
                rows = rows.filter(attempts=attempt)
            try:
                touched = True
                rows.update(heartbeat_at=timezone.now(), worker=worker)
            except Exception:  # a missed beat must not end the job
                logger.exception("could not write the heartbeat of job %s", job_id)
        if touched:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"arbiter-job-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _reason(job: Job) -> str:
    seen = job.heartbeat_at or job.started_at
    when = seen.strftime("%Y-%m-%d %H:%M:%S UTC") if seen else "an unknown time"
    return f"Worker {job.worker or '(unknown)'} stopped responding at {when}."


def jobs_reap(*, job_ids: list[int] | None = None) -> list[int]:
    """Requeue or fail running jobs whose worker stopped heart-beating; returns their ids."""
    reaped: list[int] = []
    with transaction.atomic():
        rows = Job.objects.select_for_update(skip_locked=True).filter(_stale_filter())
        if job_ids is not None:
            rows = rows.filter(pk__in=job_ids)
        for job in rows.order_by("pk")[:100]:
            reaped.append(job.pk)
            reason = _reason(job)
            hooks = job_kind_hooks(job.kind)
            if job.cancel_requested:
                _end(job, Job.Status.CANCELLED, "Cancelled.", None)
            elif hooks.requeue is not None and job.attempts < settings.ARBITER_JOB_MAX_ATTEMPTS:
                Job.objects.filter(pk=job.pk).update(
                    status=Job.Status.QUEUED,
                    worker="",
                    heartbeat_at=None,
                    message=f"{reason} Requeued (attempt {job.attempts + 1}).",
                )
                logger.warning("job %s requeued: %s", job.pk, reason)
                transaction.on_commit(lambda job=job: _requeue(job.pk))
            else:
                if hooks.requeue is not None:
                    reason += f" Gave up after {job.attempts} attempts."
                logger.warning("job %s failed: %s", job.pk, reason)
                error = {"code": "worker_lost", "message": reason, "details": {}}
                _end(job, Job.Status.FAILED, reason, error)
    return reaped


def _end(job: Job, status: str, message: str, error: dict | None) -> None:
    from core.services.webhooks import job_failed_emit

    Job.objects.filter(pk=job.pk).update(
        status=status, finished_at=timezone.now(), message=message[:500], error=error
    )
    if status == Job.Status.FAILED:
        job_failed_emit(job_id=job.pk)
    transaction.on_commit(lambda: job_ended(job.pk))


def _requeue(job_id: int) -> None:
    job = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).first()
    if job is None:
        return
    requeue = job_kind_hooks(job.kind).requeue
    try:
        if requeue is not None:
            requeue(job)
    except Exception as exc:  # a job we cannot send again must not stay queued
        from core.services.jobs import job_error_unexpected

        error = job_error_unexpected(job_id=job_id, exc=exc)
        from core.services.webhooks import job_failed_emit

        failed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
            status=Job.Status.FAILED,
            finished_at=timezone.now(),
            message=error["message"],
            error=error,
        )
        if failed:
            job_failed_emit(job_id=job_id)
        job_ended(job_id)

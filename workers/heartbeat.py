"""Workers write a heartbeat row every few seconds; /healthz and the UI read it."""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta

from celery import bootsteps
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

logger = logging.getLogger(__name__)


def heartbeat_write(*, hostname: str, queues: list[str], started_at) -> None:
    from workers.models import WorkerHeartbeat

    close_old_connections()
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={
            "queues": queues,
            "pid": os.getpid(),
            "started_at": started_at,
            "last_seen": timezone.now(),
        },
    )


def workers_alive() -> list[dict]:
    from workers.models import WorkerHeartbeat

    cutoff = timezone.now() - timedelta(seconds=settings.ARBITER_WORKER_STALE_S)
    return [
        {"hostname": beat.hostname, "queues": beat.queues, "last_seen": beat.last_seen.isoformat()}
        for beat in WorkerHeartbeat.objects.filter(last_seen__gte=cutoff).order_by("hostname")
    ]


class HeartbeatStep(bootsteps.StartStopStep):
    """A consumer bootstep: starts when the worker is ready to take tasks."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs) -> None:
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, parent) -> None:
        hostname = parent.hostname
        queues = sorted(queue.name for queue in parent.task_consumer.queues)
        started_at = timezone.now()

        from core.services.job_liveness import jobs_reap

        def beat() -> None:
            while not self._stop.is_set():
                try:
                    heartbeat_write(hostname=hostname, queues=queues, started_at=started_at)
                    # Every worker reaps: a job whose worker died is requeued or failed within
                    # ARBITER_JOB_STALE_S plus one beat, with no scheduler to run.
                    jobs_reap()
                except Exception:  # a missed beat must not kill the worker
                    logger.exception("could not write worker heartbeat")
                self._stop.wait(settings.ARBITER_WORKER_HEARTBEAT_S)

        self._thread = threading.Thread(target=beat, name="arbiter-heartbeat", daemon=True)
        self._thread.start()

    def stop(self, parent) -> None:
        self._stop.set()

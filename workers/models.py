"""Liveness of Celery workers, written by the workers themselves.

A heartbeat row per worker works with every broker (kombu's SQLAlchemy transport has no
broadcast, so `celery inspect ping` is not available in the embedded mode).
"""

from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    hostname = models.CharField(max_length=255, unique=True)
    queues = models.JSONField(default=list)
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.hostname} ({', '.join(self.queues)})"

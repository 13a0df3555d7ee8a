"""Which Celery queue a kind of work goes to."""

from __future__ import annotations

from django.conf import settings

CPU_QUEUE = "cpu"
GPU_QUEUE = "gpu"


def heavy_queue() -> str:
    """Training and scoring go to the GPU workers when a deployment has them."""
    return GPU_QUEUE if settings.ARBITER_GPU_QUEUE else CPU_QUEUE

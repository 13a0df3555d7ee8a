"""Which Celery queue a kind of work goes to."""

from __future__ import annotations

import sys

from django.conf import settings

CPU_QUEUE = "cpu"
GPU_QUEUE = "gpu"


def heavy_queue() -> str:
    """Training and scoring go to the GPU workers when a deployment has them."""
    return GPU_QUEUE if settings.ARBITER_GPU_QUEUE else CPU_QUEUE


def worker_argv(*, hostname: str, loglevel: str = "INFO", concurrency: int = 2) -> list[str]:
    """The command that starts one Celery worker on both queues (embedded mode and tests)."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "webapp",
        "worker",
        "-Q",
        f"{CPU_QUEUE},{GPU_QUEUE}",
        "--concurrency",
        str(concurrency),
        "-n",
        hostname,
        "--loglevel",
        loglevel,
    ]

"""Celery tasks for reward-model training.

Training acks late and is rejected (requeued) when its worker dies, so a killed worker's run is
picked up by another worker and resumes from its last checkpoint instead of starting over.
"""

from __future__ import annotations

import os

from celery import shared_task
from django.core.cache import cache

from core.models import Job
from core.services.jobs import job_run


def worker_pid_key(run_id: int) -> str:
    return f"arbiter:rmrun:{run_id}:pid"


@shared_task(name="arbiter.reward_model_train", acks_late=True, reject_on_worker_lost=True)
def reward_model_train_task(run_id: int) -> str:
    from curation.models import RewardModelRun
    from curation.services.reward_models import reward_model_run_execute, reward_model_run_finished

    run = RewardModelRun.objects.select_related("project", "job").filter(pk=run_id).first()
    if run is None:
        return "missing"
    # Operators (and the crash test) can see which process trains a run.
    cache.set(worker_pid_key(run_id), os.getpid(), 24 * 3600)

    def body(job: Job) -> dict:
        return reward_model_run_execute(run=run)

    job = job_run(run.job_id, body)
    if job is not None and job.is_finished:
        reward_model_run_finished(run_id=run_id)
    return job.status if job else "missing"

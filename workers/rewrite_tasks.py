"""Celery task for rewriting a dataset version (thin: load by id, call the service)."""

from __future__ import annotations

from celery import shared_task

from core.services.jobs import job_run


@shared_task(name="arbiter.dataset_rewrite", acks_late=True, reject_on_worker_lost=True)
def rewrite_task(rewrite_id: int) -> str:
    from rewrites.models import RewriteRun
    from rewrites.services import rewrite_execute

    run = RewriteRun.objects.select_related("source").filter(pk=rewrite_id).first()
    if run is None:
        return "missing"
    job = job_run(run.job_id, lambda job: rewrite_execute(run=run))
    return job.status if job else "missing"

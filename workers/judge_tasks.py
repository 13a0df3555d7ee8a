"""Celery task of the safety judge (thin: load the run by id, call the service in job_run)."""

from __future__ import annotations

from celery import shared_task

from core.models import Job
from core.services.jobs import job_run


@shared_task(name="arbiter.judge_run", acks_late=True, reject_on_worker_lost=True)
def judge_run_task(run_id: int) -> str:
    from curation.models import JudgeRun
    from curation.services.judge import judge_run_execute

    run = (
        JudgeRun.objects.select_related("constitution", "project", "project__rubric")
        .filter(pk=run_id)
        .first()
    )
    if run is None:
        return "missing"

    def body(job: Job) -> dict:
        return judge_run_execute(run=run, job=job)

    job = job_run(run.job_id, body)
    return job.status if job else "missing"


@shared_task(name="arbiter.judge_proposal", acks_late=True, reject_on_worker_lost=True)
def judge_proposal_task(job_id: int) -> str:
    from curation.services.judge_proposals import judge_proposal_execute

    job = job_run(job_id, lambda job: judge_proposal_execute(job=job))
    return job.status if job else "missing"

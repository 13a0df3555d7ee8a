"""Celery tasks: thin wrappers that load rows by id and call a service."""

from __future__ import annotations

from pathlib import Path

from celery import shared_task

from core.models import Job
from core.services.jobs import JobCancelled, job_cancel_requested, job_progress, job_run
from corpora.models import Corpus
from corpora.services.corpus_delete import corpus_delete
from corpora.services.corpus_import import corpus_import


@shared_task(name="arbiter.corpus_import", acks_late=True, reject_on_worker_lost=True)
def corpus_import_task(job_id: int) -> str:
    def body(job: Job) -> dict:
        params = job.params
        corpus = Corpus.objects.get(pk=params["corpus_id"])

        def progress(current: int, total: int, message: str) -> None:
            job_progress(job_id=job.pk, current=current, total=total, message=message)
            if job_cancel_requested(job.pk):
                raise JobCancelled()  # inside the import's transaction: nothing is kept

        report = corpus_import(
            corpus=corpus,
            source=Path(params["source"]),
            images=params.get("images") or None,
            category=params.get("category"),
            progress=progress,
        )
        return report.as_dict()

    job = job_run(job_id, body)
    return job.status if job else "missing"


@shared_task(name="arbiter.corpus_delete", acks_late=True, reject_on_worker_lost=True)
def corpus_delete_task(job_id: int) -> str:
    def body(job: Job) -> dict:
        def progress(current: int, total: int, message: str) -> None:
            job_progress(job_id=job.pk, current=current, total=total, message=message)
            if job_cancel_requested(job.pk):
                raise JobCancelled()  # between batches: what is deleted stays deleted

        return corpus_delete(corpus_id=job.params["corpus_id"], progress=progress)

    job = job_run(job_id, body)
    return job.status if job else "missing"

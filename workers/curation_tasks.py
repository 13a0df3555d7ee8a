"""Celery tasks for corpus scoring, curation and dataset export (thin: load by id, call a service).

Scoring fans out as a chord: one task per shard on the heavy queue, so every worker that is up
takes shards, and a callback closes the job once all shards reported.
"""

from __future__ import annotations

from celery import chord, shared_task

from core.models import Job
from core.services.jobs import job_run
from workers.queues import heavy_queue


def scoring_dispatch(scoring_id: int) -> None:
    from curation.models import ScoringShard

    indices = list(
        ScoringShard.objects.filter(scoring_id=scoring_id, done=False)
        .order_by("index")
        .values_list("index", flat=True)
    )
    queue = heavy_queue()
    header = [scoring_shard_task.s(scoring_id, index).set(queue=queue) for index in indices]
    callback = scoring_finish_task.si(scoring_id).set(queue=queue)
    if not header:
        callback.apply_async()
        return
    chord(header)(callback)


@shared_task(name="arbiter.scoring_shard", acks_late=True, reject_on_worker_lost=True)
def scoring_shard_task(scoring_id: int, index: int) -> dict:
    from curation.models import ScoringRun
    from curation.services.scoring import scoring_fail, scoring_shard_execute

    scoring = ScoringRun.objects.select_related("run").filter(pk=scoring_id).first()
    if scoring is None:
        return {"shard": index, "missing": True}
    try:
        return scoring_shard_execute(scoring=scoring, index=index)
    except Exception as exc:
        scoring_fail(scoring_id=scoring_id, index=index, exc=exc)
        raise


@shared_task(name="arbiter.scoring_finish", acks_late=True)
def scoring_finish_task(scoring_id: int) -> str:
    from curation.models import ScoringRun
    from curation.services.scoring import scoring_finish

    scoring = ScoringRun.objects.select_related("run", "corpus").filter(pk=scoring_id).first()
    if scoring is None:
        return "missing"
    return scoring_finish(scoring=scoring).status


@shared_task(name="arbiter.dataset_export", acks_late=True, reject_on_worker_lost=True)
def dataset_export_task(export_id: int) -> str:
    from curation.models import Export
    from curation.services.events import export_ready_emit
    from curation.services.export import export_execute

    export = Export.objects.select_related("dataset", "dataset__run").filter(pk=export_id).first()
    if export is None:
        return "missing"

    def body(job: Job) -> dict:
        return export_execute(export=export)

    job = job_run(export.job_id, body)
    if job is not None and job.status == Job.Status.SUCCEEDED:
        export.refresh_from_db()
        export_ready_emit(export=export)
    return job.status if job else "missing"


@shared_task(name="arbiter.corpus_featurize", acks_late=True, reject_on_worker_lost=True)
def corpus_featurize_task(job_id: int) -> str:
    from curation.services.featurize import corpus_featurize_run

    job = job_run(job_id, lambda job: corpus_featurize_run(job=job))
    return job.status if job else "missing"

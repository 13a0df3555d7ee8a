"""What each kind of job does when its worker dies (requeue) and when it ends (clean up).

Registered with core's job services when Django starts (`WorkersConfig.ready`), in every
process: the web process reaps jobs too. Training resumes from its last checkpoint, scoring
sends its unfinished shards again, an export is rewritten from the start; an import (one
transaction, which died with its worker) is failed with the reason and the user imports again.
"""

from __future__ import annotations

from core.models import Job
from core.services.jobs import job_kind_register


def _train_requeue(job: Job) -> None:
    from workers.queues import heavy_queue
    from workers.reward_tasks import reward_model_train_task

    reward_model_train_task.apply_async(args=[job.params["run_id"]], queue=heavy_queue())


def _train_ended(job: Job) -> None:
    from curation.services.reward_models import reward_model_run_finished

    if "run_id" in job.params:
        reward_model_run_finished(run_id=job.params["run_id"])


def _score_requeue(job: Job) -> None:
    from curation.models import ScoringRun
    from workers.curation_tasks import scoring_dispatch

    scoring_dispatch(ScoringRun.objects.get(job=job).pk)


def _export_requeue(job: Job) -> None:
    from curation.models import Export
    from workers.curation_tasks import dataset_export_task

    dataset_export_task.delay(Export.objects.get(job=job).pk)


def _export_ended(job: Job) -> None:
    from curation.services.export import export_ended

    export_ended(job=job)


def _import_ended(job: Job) -> None:
    from corpora.services.corpus_import import corpus_import_ended

    corpus_import_ended(job=job)


def _delete_requeue(job: Job) -> None:
    from workers.tasks import corpus_delete_task

    corpus_delete_task.delay(job.pk)  # batches commit one by one: it goes on with what is left


def _delete_ended(job: Job) -> None:
    from corpora.services.corpus_delete import corpus_delete_ended

    corpus_delete_ended(job=job)


def _featurize_requeue(job: Job) -> None:
    from curation.services.featurize import corpus_featurize_dispatch

    corpus_featurize_dispatch(job.pk)  # the cache keeps what was encoded: it goes on from there


def _rewrite_requeue(job: Job) -> None:
    from workers.queues import heavy_queue
    from workers.rewrite_tasks import rewrite_task

    # finished shards are kept: the task goes on from the last one
    rewrite_task.apply_async(args=[job.params["rewrite_id"]], queue=heavy_queue())


def _rewrite_ended(job: Job) -> None:
    from rewrites.models import RewriteRun
    from rewrites.services import rewrite_discard

    # failed or cancelled: remove the partial turns and version (a success keeps everything)
    run = RewriteRun.objects.filter(job_id=job.pk).first()
    if run is not None:
        rewrite_discard(run=run)


def _judge_requeue(job: Job) -> None:
    from curation.services.judge import judge_run_requeue

    judge_run_requeue(job)  # resumes: the items already judged are skipped


def _proposal_requeue(job: Job) -> None:
    from curation.services.judge_proposals import judge_proposal_requeue

    judge_proposal_requeue(job)  # writes nothing but its result: asked again


def job_kinds_register() -> None:
    job_kind_register(kind=Job.Kind.CORPUS_IMPORT, on_end=_import_ended)
    job_kind_register(kind=Job.Kind.REWARD_MODEL_TRAIN, requeue=_train_requeue, on_end=_train_ended)
    job_kind_register(kind=Job.Kind.CORPUS_SCORE, requeue=_score_requeue)
    job_kind_register(kind=Job.Kind.DATASET_EXPORT, requeue=_export_requeue, on_end=_export_ended)
    job_kind_register(kind=Job.Kind.CORPUS_DELETE, requeue=_delete_requeue, on_end=_delete_ended)
    job_kind_register(kind=Job.Kind.CORPUS_FEATURIZE, requeue=_featurize_requeue)
    job_kind_register(
        kind=Job.Kind.DATASET_REWRITE, requeue=_rewrite_requeue, on_end=_rewrite_ended
    )
    job_kind_register(kind=Job.Kind.SAFETY_JUDGE, requeue=_judge_requeue)
    job_kind_register(kind=Job.Kind.JUDGE_PROPOSAL, requeue=_proposal_requeue)

"""Featurise a corpus ahead of training: fill the feature cache in the background.

Training and scoring featurise what they need themselves; this job only does it earlier, so a
model trained from the UI right after start-up finds every turn and image already encoded (the
demo queues it for its corpus). Chunks of items are encoded one by one: progress and cancel
are checked between chunks, and a job that runs again (requeued after a lost worker, or started
twice) skips what the cache already holds.
"""

from __future__ import annotations

from django.db import transaction

from core.errors import DomainError
from core.models import Job
from core.services.jobs import JobCancelled, job_cancel_requested, job_create, job_progress
from corpora.models import Corpus, Item
from curation.services.features import featurize_many
from curation.services.reward_models import DEFAULT_TRAINER, ENCODER_DEFAULTS
from curation.services.turns import items_turn_specs

CHUNK = 64


def corpus_featurize_start(
    *,
    corpus: Corpus,
    created_by=None,
    text_encoder: str | None = None,
    image_encoder: str | None = None,
) -> Job:
    """Queue the featurisation of every item of `corpus` (the default recipe's encoders)."""
    if corpus.deleting:
        raise DomainError("not_found", "No such corpus.", status=404)
    defaults = ENCODER_DEFAULTS[DEFAULT_TRAINER]
    params = {
        "corpus_id": corpus.pk,
        "text_encoder": text_encoder or defaults["text_encoder"],
        "image_encoder": image_encoder if image_encoder is not None else defaults["image_encoder"],
    }
    with transaction.atomic():
        job = job_create(kind=Job.Kind.CORPUS_FEATURIZE, params=params, created_by=created_by)
        transaction.on_commit(lambda: corpus_featurize_dispatch(job.pk))
    return job


def corpus_featurize_dispatch(job_id: int) -> None:
    from workers.curation_tasks import corpus_featurize_task
    from workers.queues import heavy_queue

    corpus_featurize_task.apply_async(args=[job_id], queue=heavy_queue())


def corpus_featurize_run(*, job: Job) -> dict:
    """The job's body: encode each chunk's turns and images that the cache lacks."""
    params = job.params
    items_of_corpus = Item.objects.filter(corpus_id=params["corpus_id"]).order_by("pk")
    ids = list(items_of_corpus.values_list("pk", flat=True))
    total = len(ids)
    job_progress(job_id=job.pk, current=0, total=total, message=f"Featurising 0/{total} items")
    turns = 0
    for start in range(0, total, CHUNK):
        if job_cancel_requested(job.pk):
            raise JobCancelled()
        items = list(
            Item.objects.filter(pk__in=ids[start : start + CHUNK])
            .select_related("image")
            .only("pk", "conversations", "questions", "image__sha256", "image__file")
            .order_by("pk")
        )
        _, things = items_turn_specs(items)
        featurize_many(
            things,
            text_encoder=params["text_encoder"],
            image_encoder=params["image_encoder"] or None,
        )
        turns += len(things)
        done = min(start + CHUNK, total)
        job_progress(
            job_id=job.pk, current=done, total=total, message=f"Featurising {done}/{total} items"
        )
    return {"items": total, "turns": turns}

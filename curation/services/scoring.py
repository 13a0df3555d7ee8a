"""Scoring a corpus with a model version: shards run as a Celery chord across all workers.

Each shard is a contiguous range of item ids. A shard is idempotent (scores are upserted on
(model, item)) and resumable (a finished shard is marked done and skipped when redelivered).
A model's recipe (in its artifact) says what it scores: whole items, or (question, answer)
turns whose scores make the item's (`rewardmodel.item_outputs.aggregate_turn_scores`).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.errors import DomainError
from core.models import Job
from core.services.job_liveness import job_heartbeat, worker_name
from core.services.jobs import (
    FINISHED,
    job_cancel_requested,
    job_create,
    job_error_unexpected,
    job_started_elsewhere,
)
from core.services.webhooks import job_failed_emit
from corpora.models import Corpus, Item
from corpora.services.corpora import corpus_lock_for_work
from curation.models import ItemScore, RewardModelRun, ScoringRun, ScoringShard
from curation.services.features import Featurizable, featurize_many
from curation.services.model_cache import encoder_specs, run_artifact
from curation.services.texts import candidate_text, item_text
from curation.services.turns import items_turn_specs
from rewardmodel.records import candidate_turns

DEFAULT_SHARD_SIZE = 5000
WRITE_BATCH = 2000


def scoring_start(
    *,
    run: RewardModelRun,
    corpus: Corpus,
    user=None,
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> ScoringRun:
    from workers.curation_tasks import scoring_dispatch

    if run.job.status != Job.Status.SUCCEEDED or not run.artifact_path:
        raise DomainError("run_not_ready", "Only a finished reward model can score.", status=409)
    if not 1 <= shard_size <= 1_000_000:
        raise DomainError("validation_error", "shard_size must be between 1 and 1000000.")
    ids = list(Item.objects.filter(corpus=corpus).order_by("pk").values_list("pk", flat=True))
    with transaction.atomic():
        corpus_lock_for_work(corpus_id=corpus.pk)  # not while the corpus is being deleted
        job = job_create(
            kind=Job.Kind.CORPUS_SCORE,
            params={"run_id": run.pk, "corpus_id": corpus.pk, "shard_size": shard_size},
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        scoring = ScoringRun.objects.create(
            run=run, corpus=corpus, job=job, corpus_version=corpus.version, shard_size=shard_size
        )
        shards = [
            ScoringShard(
                scoring=scoring,
                index=number,
                first_item_id=ids[start],
                last_item_id=ids[min(start + shard_size, len(ids)) - 1],
                n_items=min(shard_size, len(ids) - start),
            )
            for number, start in enumerate(range(0, len(ids), shard_size))
        ]
        ScoringShard.objects.bulk_create(shards)
        scoring.n_shards = len(shards)
        scoring.save(update_fields=["n_shards"])
        Job.objects.filter(pk=job.pk).update(progress_total=len(ids))
        transaction.on_commit(lambda: scoring_dispatch(scoring.pk))
    return scoring


def _item_things(items: list[Item]) -> tuple[list[Featurizable], list[tuple[int, int, int]]]:
    """The item texts (one per item) then every candidate: (item index, turn, candidate)."""
    things: list[Featurizable] = []
    candidates: list[tuple[int, int, int]] = []
    extra: list[Featurizable] = []
    for index, item in enumerate(items):
        image_key = item.image.sha256 if item.image_id else None
        image_file = item.image.file if item.image_id else None
        conversations = item.conversations or []
        things.append(Featurizable(item_text(conversations, item.questions), image_key, image_file))
        if item.has_candidates:
            for turn in candidate_turns(conversations):
                for k in range(len(conversations[turn]["value"])):
                    candidates.append((index, turn, k))
                    extra.append(
                        Featurizable(candidate_text(conversations, turn, k), image_key, image_file)
                    )
    return things + extra, candidates


def scoring_shard_execute(*, scoring: ScoringRun, index: int) -> dict[str, Any]:
    shard = ScoringShard.objects.get(scoring=scoring, index=index)
    if shard.done:
        return {"shard": index, "skipped": True}
    job_id = scoring.job_id
    worker = worker_name()
    job_started_elsewhere(job_id=job_id, worker=worker)
    if job_cancel_requested(job_id):
        return {"shard": index, "cancelled": True}
    with job_heartbeat(job_id=job_id, worker=worker):
        return _shard_score(scoring=scoring, shard=shard)


def _shard_score(*, scoring: ScoringRun, shard: ScoringShard) -> dict[str, Any]:
    job_id, index = scoring.job_id, shard.index
    items = list(
        Item.objects.filter(
            corpus_id=scoring.corpus_id, pk__gte=shard.first_item_id, pk__lte=shard.last_item_id
        )
        .select_related("image")
        .only("pk", "conversations", "questions", "has_candidates", "image__sha256", "image__file")
        .order_by("pk")
    )
    rows = items_score(run=scoring.run, items=items)
    with transaction.atomic():
        ItemScore.objects.bulk_create(
            rows,
            batch_size=WRITE_BATCH,
            update_conflicts=True,
            unique_fields=["run", "item"],
            update_fields=["overall", "criteria", "rules", "best_candidates"],
        )
        marked = ScoringShard.objects.filter(pk=shard.pk, done=False).update(done=True)
        if marked:
            Job.objects.filter(pk=job_id).update(
                progress_current=F("progress_current") + len(items),
                message=f"Scored shard {index + 1} of {scoring.n_shards}.",
            )
    return {"shard": index, "items": len(items)}


def items_score(*, run: RewardModelRun, items: list[Item]) -> list[ItemScore]:
    """Unsaved scores of `items` by the run's model: the one scoring path, shared by the batch
    job's shards and the scoring service (`curation.services.serving`)."""
    artifact = run_artifact(run)
    if artifact.recipe.get("trainer") == "vlm":
        return _score_vlm(run, artifact, items)
    text_spec, image_spec = encoder_specs(run)
    score = _score_turns if artifact.recipe.get("unit") == "turn" else _score_items
    return score(run, artifact, items, text_spec, image_spec)


def _score_vlm(run, artifact, items) -> list[ItemScore]:
    """VLM models: each item read whole with its image (batched by length, bf16 on CUDA)."""
    from curation.services.vlm_recipe import vlm_items_score

    scored = vlm_items_score(artifact.path, items)
    return [
        ItemScore(
            run_id=run.pk,
            item_id=item.pk,
            overall=float(s["overall"]),
            criteria={},
            rules={},
            best_candidates=s["best_candidates"],
        )  # fmt: skip
        for item, s in zip(items, scored, strict=True)
    ]


def _loader(artifact):
    from curation.services.features import feature_loader

    return feature_loader(
        text_encoder_id=artifact.text_encoder_id, image_encoder_id=artifact.image_encoder_id
    )


def _score_items(run, artifact, items, text_spec, image_spec) -> list[ItemScore]:
    """Whole-item models: the item's text, and each candidate in its dialogue so far."""
    from rewardmodel.scoring import score_refs

    things, candidates = _item_things(items)
    refs = featurize_many(things, text_encoder=text_spec, image_encoder=image_spec)
    scores = score_refs(artifact.head, refs, _loader(artifact))
    best: dict[int, dict[str, tuple[float, int]]] = {}
    for offset, (item_index, turn, k) in enumerate(candidates):
        value = float(scores.overall[len(items) + offset])
        current = best.setdefault(item_index, {}).get(str(turn))
        if current is None or value > current[0]:
            best[item_index][str(turn)] = (value, k)
    return [
        ItemScore(
            run_id=run.pk,
            item_id=item.pk,
            overall=float(scores.overall[i]),
            criteria={name: round(float(v[i]), 5) for name, v in scores.criteria.items()},
            rules={name: round(float(v[i]), 5) for name, v in scores.rules.items()},
            best_candidates={t: k for t, (_, k) in best.get(i, {}).items()},
        )
        for i, item in enumerate(items)
    ]


def _score_turns(run, artifact, items, text_spec, image_spec) -> list[ItemScore]:
    """Turn-level models: every turn and candidate scored, aggregated to the item."""
    from rewardmodel.item_outputs import aggregate_turn_scores
    from rewardmodel.scoring import score_refs

    specs, things = items_turn_specs(items)
    refs = featurize_many(things, text_encoder=text_spec, image_encoder=image_spec)
    per_item = aggregate_turn_scores(specs, score_refs(artifact.head, refs, _loader(artifact)))
    rows = []
    for item in items:
        scores = per_item[str(item.pk)]
        rows.append(
            ItemScore(
                run_id=run.pk,
                item_id=item.pk,
                overall=scores.overall,
                criteria={name: round(v, 5) for name, v in scores.criteria.items()},
                rules={name: round(v, 5) for name, v in scores.rules.items()},
                best_candidates={str(t): k for t, k in scores.best_candidates.items()},
            )
        )
    return rows


def scoring_finish(*, scoring: ScoringRun) -> Job:
    """The chord's callback: every shard reported; close the job."""
    job = Job.objects.get(pk=scoring.job_id)
    if job.is_finished:
        return job
    pending = scoring.shards.filter(done=False).count()
    scored = ItemScore.objects.filter(run=scoring.run, item__corpus=scoring.corpus).count()
    if job_cancel_requested(job.pk):
        status, message = Job.Status.CANCELLED, "Cancelled."
    elif pending:
        status, message = Job.Status.FAILED, f"{pending} shards did not finish."
    else:
        status, message = Job.Status.SUCCEEDED, "Done."
    # The job may have been requeued meanwhile (its worker died): end it only once.
    Job.objects.filter(pk=job.pk).exclude(status__in=FINISHED).update(
        status=status,
        finished_at=timezone.now(),
        message=message,
        result={
            "scoring_id": scoring.pk,
            "shards": scoring.n_shards,
            "items_scored": scored,
            "pending_shards": pending,
        },
        error=None
        if status != Job.Status.FAILED
        else {"code": "shards_failed", "message": message, "details": {}},
    )
    job.refresh_from_db()
    if status == Job.Status.FAILED:
        job_failed_emit(job_id=job.pk)
    return job


def scoring_fail(*, scoring_id: int, index: int, exc: BaseException) -> None:
    """A shard raised: the job fails with a message and an error id (the traceback is logged)."""
    scoring = ScoringRun.objects.filter(pk=scoring_id).first()
    if scoring is None:
        return
    error = job_error_unexpected(job_id=scoring.job_id, exc=exc)
    error["message"] = f"Shard {index}: {error['message']}"
    Job.objects.filter(pk=scoring.job_id).exclude(status__in=FINISHED).update(
        status=Job.Status.FAILED,
        finished_at=timezone.now(),
        message=error["message"][:500],
        error=error,
    )
    job_failed_emit(job_id=scoring.job_id)

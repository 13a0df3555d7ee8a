"""Reward-model training runs: start (validated, one per project), execute, promote."""

from __future__ import annotations

import math
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.models import Job, Project
from annotation.services.imported_scores import imported_scores_to_annotations
from annotation.services.jobs import JobCancelled, job_cancel_requested, job_create, job_progress
from curation.models import ActiveRewardModel, RewardModelRun, RewardModelStep
from curation.selectors.agreement import annotator_agreement
from curation.selectors.training_data import project_training_data, rubric_criteria
from curation.services.errors import CurationError
from curation.services.features import encoder_id_of, feature_loader

# What a caller may set, with its type and allowed range: (type, default, min, max).
HYPERPARAMETERS: dict[str, tuple[type, Any, float | None, float | None]] = {
    "lr": (float, 2e-3, 1e-6, 1.0),
    "epochs": (int, 8, 1, 1000),
    "max_steps": (int, None, 1, 1_000_000),
    "batch_size": (int, 256, 1, 65536),
    "weight_decay": (float, 1e-2, 0.0, 1.0),
    "seed": (int, 0, 0, 2**31 - 1),
    "center_coef": (float, 1e-2, 0.0, 10.0),
    "eval_fraction": (float, 0.1, 0.0, 0.9),
    "hidden": (int, 256, 4, 8192),
    "dropout": (float, 0.1, 0.0, 0.9),
    "rating_weight": (float, 1.0, 0.0, 100.0),
    "rule_weight": (float, 1.0, 0.0, 100.0),
    "eval_every": (int, 50, 1, 1_000_000),
    "checkpoint_every": (int, 100, 1, 1_000_000),
}
ENCODER_DEFAULTS = {"text_encoder": "default-text", "image_encoder": "default-image"}
CHECKPOINT_RE = re.compile(r"^step-(\d{8})\.pt$")


def hyperparameters_clean(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults filled in; CurationError lists every bad field with a clear message."""
    raw = dict(raw or {})
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    unknown = set(raw) - set(HYPERPARAMETERS) - set(ENCODER_DEFAULTS)
    for name in sorted(unknown):
        errors[name] = [f"Unknown hyper-parameter; known: {', '.join(sorted(HYPERPARAMETERS))}."]
    for name, (kind, default, low, high) in HYPERPARAMETERS.items():
        value = raw.get(name, default)
        if value is None:
            clean[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors[name] = [f"Must be a number ({kind.__name__})."]
            continue
        if kind is int and float(value) != int(value):
            errors[name] = ["Must be an integer."]
            continue
        value = kind(value)
        if (
            not math.isfinite(value)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            errors[name] = [f"Must be between {low} and {high}."]
            continue
        clean[name] = value
    for name, default in ENCODER_DEFAULTS.items():
        value = raw.get(name, default)
        if name == "image_encoder" and value in (None, ""):
            clean[name] = ""  # a text-only model
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > 500:
            errors[name] = ["Must be an encoder spec such as 'default-text' or a local path."]
            continue
        clean[name] = value.strip()
    if errors:
        first = next(iter(errors))
        raise CurationError(
            "validation_error", f"{first}: {errors[first][0]}", details={"fields": errors}
        )
    return clean


def _train_config(hyper: dict[str, Any]):  # noqa: ANN202 - TrainConfig
    from rewardmodel.training import TrainConfig

    names = {f.name for f in fields(TrainConfig)}
    try:
        return TrainConfig(**{k: v for k, v in hyper.items() if k in names and v is not None})
    except ValueError as exc:
        raise CurationError("validation_error", str(exc)) from exc


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
    hyperparameters: dict[str, Any] | None,  # noqa: ANN001
) -> RewardModelRun:
    from workers.queues import heavy_queue
    from workers.reward_tasks import reward_model_train_task

    hyper = hyperparameters_clean(hyperparameters)
    _train_config(hyper)
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
                    text_encoder=hyper["text_encoder"],
                    image_encoder=hyper["image_encoder"],
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


def _busy(run: RewardModelRun | None) -> CurationError:
    return CurationError(
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
    from curation.services.training_inputs import library_inputs
    from rewardmodel.artifacts import reward_model_save
    from rewardmodel.training import train_reward_head

    hyper = run.hyperparameters
    job_id = run.job_id
    config = _train_config(hyper)
    job_progress(job_id=job_id, current=0, total=None, message="Collecting training data.")
    # Imported candidate scores are judgments by the external annotator: bring in the missing
    # ones (idempotent), so a corpus with scores trains with no human answer at all.
    imported_scores_to_annotations(project=run.project)
    data = project_training_data(project=run.project)
    criteria = rubric_criteria(run.project)
    image_encoder = hyper["image_encoder"] or None
    job_progress(job_id=job_id, current=0, total=None, message="Featurising (cached).")
    inputs = library_inputs(
        data, criteria=criteria, text_encoder=hyper["text_encoder"], image_encoder=image_encoder
    )
    if not inputs.pairs and not inputs.ratings and not inputs.verdicts:
        raise CurationError(
            "no_training_data",
            "The project has no preference pairs, ratings or verdicts to train on yet.",
        )
    text_id = encoder_id_of(hyper["text_encoder"])
    image_id = encoder_id_of(image_encoder) if image_encoder else None
    load = feature_loader(text_encoder_id=text_id, image_encoder_id=image_id)
    checkpoints = run_dir(run) / "checkpoints"
    resumed_from = _checkpoint_step(checkpoints)

    def progress(step: int, total: int, loss: float, val_acc: float | None) -> bool:
        RewardModelStep.objects.bulk_create(
            [RewardModelStep(run=run, step=step, loss=loss, val_accuracy=val_acc)],
            ignore_conflicts=True,  # a resumed run logs again the steps after its checkpoint
        )
        accuracy = f", validation accuracy {val_acc:.3f}" if val_acc is not None else ""
        job_progress(
            job_id=job_id,
            current=step,
            total=total,
            message=f"Step {step}/{total}: loss {loss:.4f}{accuracy}.",
        )
        return not job_cancel_requested(job_id)

    log_every = max(1, min(50, config.checkpoint_every, config.eval_every))
    result = train_reward_head(
        inputs.pairs,
        load,
        config=config,
        criteria=inputs.criteria,
        rules=inputs.rules,
        ratings=inputs.ratings,
        verdicts=inputs.verdicts,
        checkpoint_dir=checkpoints,
        resume=True,
        progress=progress,
        log_every=log_every,
    )
    if result.cancelled:
        raise JobCancelled()
    metrics = dict(result.metrics)
    metrics.update(_spearman_on_eval(result.head, inputs, load, config))
    eval_items = [
        int(item_id)
        for item_id in data.answers_by_item
        if _in_eval(str(item_id), config.eval_fraction, config.seed)
    ]
    questions = list(run.project.rubric.questions) if hasattr(run.project, "rubric") else []
    agreement = annotator_agreement(data.answers_by_item, questions, eval_items)
    path = reward_model_save(
        run_dir(run) / "model",
        result.head,
        text_encoder_id=text_id,
        image_encoder_id=image_id,
        metrics=metrics,
        fingerprint=result.fingerprint,
        data_info={
            **data.summary(),
            "train_pairs": result.train_pairs,
            "eval_pairs": result.eval_pairs,
            "seed": config.seed,
        },
    )
    run.metrics = _json_safe(metrics)
    run.human_agreement = agreement
    run.criteria = list(inputs.criteria)
    run.rules = list(inputs.rules)
    run.data_fingerprint = result.fingerprint
    run.data_summary = data.summary()
    run.artifact_path = str(path.relative_to(settings.ARTIFACTS_ROOT))
    run.finished_at = timezone.now()
    run.in_progress = False
    run.save()
    return {
        "run_id": run.pk,
        "steps": result.steps,
        "resumed_from_step": resumed_from,
        "eval_accuracy": metrics.get("eval_accuracy"),
        "artifact": run.artifact_path,
    }


def _in_eval(item_id: str, fraction: float, seed: int) -> bool:
    from rewardmodel.evaluation import item_in_eval

    return item_in_eval(item_id, fraction, seed)


def _spearman_on_eval(head, inputs, load, config) -> dict[str, Any]:  # noqa: ANN001
    """Per-criterion Spearman between predicted criterion scores and held-out ratings."""
    from rewardmodel.evaluation import spearman
    from rewardmodel.scoring import score_features

    held = [r for r in inputs.ratings if _in_eval(r.item_id, config.eval_fraction, config.seed)]
    if not held:
        return {}
    image, text = load([r.ref for r in held])
    scores = score_features(head, image, text)
    out: dict[str, float | None] = {}
    for name in inputs.criteria:
        rows = [i for i, r in enumerate(held) if r.criterion == name]
        if len(rows) >= 2:
            value = spearman(scores.criteria[name][rows], np.asarray([held[i].value for i in rows]))
            out[name] = None if math.isnan(value) else round(value, 4)
    return {"eval_spearman_by_criterion": out}


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
    """Called after the job ends whatever the outcome: the project may train again."""
    RewardModelRun.objects.filter(pk=run_id).update(in_progress=False)


def reward_model_promote(*, run: RewardModelRun, user) -> ActiveRewardModel:  # noqa: ANN001
    if run.job.status != Job.Status.SUCCEEDED or not run.artifact_path:
        raise CurationError(
            "run_not_ready",
            f"Only a finished run can be promoted (this one is {run.job.status}).",
            status=409,
        )
    active, _ = ActiveRewardModel.objects.update_or_create(
        project=run.project, defaults={"run": run, "promoted_by": user}
    )
    return active

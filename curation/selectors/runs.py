"""Reads on reward-model runs, dataset versions and exports (for the API, pages and `curate`)."""

from __future__ import annotations

from django.db.models import QuerySet

from core.errors import DomainError
from curation.models import ActiveRewardModel, DatasetVersion, Export, RewardModelRun


def _not_found() -> DomainError:
    return DomainError("not_found", "Not found.", status=404)


def reward_model_run_get(*, run_id: int, project_id: int | None = None) -> RewardModelRun:
    """The run with its job and project (in `project_id` when given), or a 404 domain error."""
    runs = RewardModelRun.objects.select_related("job", "project")
    if project_id is not None:
        runs = runs.filter(project_id=project_id)
    run = runs.filter(pk=run_id).first()
    if run is None:
        raise _not_found()
    return run


def reward_model_runs(*, project_id: int, with_artifact: bool = False) -> QuerySet[RewardModelRun]:
    runs = RewardModelRun.objects.filter(project_id=project_id).select_related("job")
    return runs.filter(artifact_path__gt="") if with_artifact else runs


def reward_model_run_of(*, project_id: int, run_id: int) -> RewardModelRun | None:
    return RewardModelRun.objects.filter(project_id=project_id, pk=run_id).first()


def active_run_id(*, project_id: int) -> int | None:
    return (
        ActiveRewardModel.objects.filter(project_id=project_id)
        .values_list("run_id", flat=True)
        .first()
    )


def active_reward_model(*, project_id: int) -> ActiveRewardModel | None:
    return ActiveRewardModel.objects.filter(project_id=project_id).first()


def reward_model_curve(*, run: RewardModelRun) -> list[dict]:
    """[{step, loss, val_accuracy}] in step order."""
    return list(run.steps.values("step", "loss", "val_accuracy"))


def dataset_get(*, dataset_id: int) -> DatasetVersion:
    dataset = DatasetVersion.objects.filter(pk=dataset_id).first()
    if dataset is None:
        raise _not_found()
    return dataset


def dataset_versions(*, project_id: int, with_exports: bool = False) -> QuerySet[DatasetVersion]:
    datasets = DatasetVersion.objects.filter(project_id=project_id)
    return datasets.prefetch_related("exports__job") if with_exports else datasets


def dataset_exports(*, dataset: DatasetVersion) -> QuerySet[Export]:
    return Export.objects.filter(dataset=dataset).select_related("job")


def export_get(*, export_id: int) -> Export:
    export = Export.objects.select_related("job", "dataset").filter(pk=export_id).first()
    if export is None:
        raise _not_found()
    return export


def run_readouts(*, run: RewardModelRun) -> list[dict]:
    """The run's held-out accuracy overall, per rubric criterion and per safety rule, each
    beside the annotators' agreement there (the ceiling): rows of {"kind" ("overall",
    "criterion" or "rule"), "name", "accuracy", "pairs", "agreement"}, any of them None when
    the run or the annotators have nothing to say there. The same for every recipe."""
    metrics, agreement = run.metrics or {}, run.human_agreement or {}
    rows = [
        {
            "kind": "overall",
            "name": "overall",
            "accuracy": metrics.get("eval_accuracy"),
            # the pairs `eval_accuracy` counts: the head recipe's validation pairs (items and
            # turns), the VLM recipe's held-out item pairs
            "pairs": metrics.get("eval_pairs", metrics.get("eval_item_pairs")),
            "agreement": agreement.get("agreement"),
        }
    ]
    for kind, read_key, agree_key in (
        ("criterion", "eval_accuracy_by_criterion", "agreement_by_criterion"),
        ("rule", "eval_accuracy_by_rule", "agreement_by_rule"),
    ):
        read, agree = metrics.get(read_key) or {}, agreement.get(agree_key) or {}
        for name in sorted(set(read) | set(agree)):
            value = read.get(name) or {}
            rows.append(
                {
                    "kind": kind,
                    "name": name,
                    "accuracy": value.get("accuracy"),
                    "pairs": value.get("pairs"),
                    "agreement": agree.get(name),
                }
            )
    return rows

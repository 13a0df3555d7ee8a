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

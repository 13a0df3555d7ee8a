"""The webhook events of curation: what each says (core sends them, knowing no domain)."""

from __future__ import annotations

from core.services.webhooks import event_emit
from curation.models import ActiveRewardModel, DatasetVersion, Export, RewardModelRun


def export_ready_emit(*, export: Export) -> None:
    manifest = export.manifest or {}
    event_emit(
        type="export.ready",
        key=f"export.ready:export:{export.pk}",
        data={
            "export": {
                "id": export.pk,
                "dataset_id": export.dataset_id,
                "project_id": export.dataset.project_id,
                "format": export.format,
                "include_images": export.include_images,
                "size_bytes": export.size_bytes,
                "records": manifest.get("records"),
                "files": manifest.get("files", {}),
                "download_url": f"/api/v1/exports/{export.pk}/download/",
            }
        },
    )


def reward_model_trained_emit(*, run: RewardModelRun) -> None:
    event_emit(
        type="reward_model.trained",
        key=f"reward_model.trained:run:{run.pk}",
        data={
            "reward_model": {
                "id": run.pk,
                "project_id": run.project_id,
                "metrics": run.metrics,
                "url": f"/api/v1/reward-models/{run.pk}/",
            }
        },
    )


def reward_model_promoted_emit(*, active: ActiveRewardModel) -> None:
    # every promotion is news, the same run promoted again included: no key
    event_emit(
        type="reward_model.promoted",
        data={
            "reward_model": {
                "id": active.run_id,
                "project_id": active.project_id,
                "url": f"/api/v1/reward-models/{active.run_id}/",
            },
            "promoted_by": getattr(active.promoted_by, "username", None),
        },
    )


def curation_committed_emit(*, dataset: DatasetVersion) -> None:
    event_emit(
        type="curation.committed",
        key=f"curation.committed:dataset:{dataset.pk}",
        data={
            "dataset": {
                "id": dataset.pk,
                "project_id": dataset.project_id,
                "number": dataset.number,
                "name": dataset.name,
                "n_items": dataset.n_items,
                "model_run_id": dataset.run_id,
                "scoring_id": dataset.scoring_id,
                "url": f"/api/v1/datasets/{dataset.pk}/",
            }
        },
    )

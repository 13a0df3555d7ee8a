"""Loaded reward models, one per artifact and process (workers score many shards in a row)."""

from __future__ import annotations

import functools
from pathlib import Path

from django.conf import settings

from curation.models import RewardModelRun


@functools.lru_cache(maxsize=4)
def _load(path: str):  # RewardModelArtifact
    from rewardmodel.artifacts import reward_model_load

    return reward_model_load(path)


def run_artifact(run: RewardModelRun):  # RewardModelArtifact
    return _load(str(Path(settings.ARTIFACTS_ROOT) / run.artifact_path))


def encoder_specs(run: RewardModelRun) -> tuple[str, str | None]:
    """Encoder specs to featurise new content with, for this run."""
    return run.text_encoder, (run.image_encoder or None)

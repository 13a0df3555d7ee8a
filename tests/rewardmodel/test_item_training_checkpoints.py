"""The item trainer's checkpoints: a run stopped part-way resumes to the uninterrupted result."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rewardmodel.item_training import (
    ItemTrainConfig,
    item_pairs_from_scores,
    train_item_reward_head,
)
from tests.rewardmodel.conftest import dict_loader
from tests.rewardmodel.test_item_training import _task

CONFIG = ItemTrainConfig(
    epochs=40,
    hidden=8,
    dropout=0.2,
    eval_fraction=0.2,
    lr=3e-3,
    patience=None,
    eval_every=5,
    checkpoint_every=10,
)


def _train(checkpoints: Path | None, progress=None):
    images, texts, sides, scores, _ = _task(n_items=90)
    pairs = item_pairs_from_scores(scores, min_gap=2.0, others_per_item=4, seed=0)
    return train_item_reward_head(
        sides,
        pairs,
        dict_loader(images, texts),
        config=CONFIG,
        checkpoint_dir=checkpoints,
        progress=progress,
        log_every=5,
    )


def test_cancelled_run_resumes_bit_identical(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    reference = _train(None)
    seen: list[tuple[int, int]] = []

    def stop_at_30(step: int, total: int, loss: float, val_acc: float | None) -> bool:
        seen.append((step, total))
        return step < 30

    # when: a run is stopped at step 30, then started again on the same checkpoints
    stopped = _train(tmp_path, stop_at_30)
    assert stopped.cancelled and stopped.steps == 30
    assert [s for s, _ in seen] == [5, 10, 15, 20, 25, 30]
    resumed_steps: list[int] = []
    resumed = _train(tmp_path, lambda step, *_: resumed_steps.append(step))
    # then: it went on from step 30 and ended exactly where the uninterrupted run did
    assert resumed_steps[0] == 35 and not resumed.cancelled
    assert resumed.steps == reference.steps == seen[0][1]
    assert resumed.metrics == reference.metrics
    for name, value in reference.head.state_dict().items():
        assert torch.equal(value, resumed.head.state_dict()[name]), name


def test_checkpoint_of_other_data_is_refused(tmp_path: Path) -> None:
    _train(tmp_path, lambda step, *_: step < 10)
    images, texts, sides, scores, _ = _task(n_items=60)
    pairs = item_pairs_from_scores(scores, min_gap=2.0, others_per_item=4, seed=0)
    with pytest.raises(ValueError, match="different run"):
        train_item_reward_head(
            sides, pairs, dict_loader(images, texts), config=CONFIG, checkpoint_dir=tmp_path
        )

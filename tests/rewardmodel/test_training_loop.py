"""The one training loop: resume, early stopping, cancellation and its settings, on a toy problem.

The item recipe's own resume test is in test_item_training_checkpoints.py; here the loop runs
with a learning-rate scheduler and a sampler of its own, which that recipe doesn't use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rewardmodel.evaluation import pairwise_accuracy
from rewardmodel.heads import HeadConfig, RewardHead
from rewardmodel.losses import bradley_terry_loss
from rewardmodel.training import LoopSettings, checkpoints, training_loop


class _PairProblem:
    """Pairs of random text vectors, the better one closer to a hidden direction."""

    def __init__(self, head: RewardHead, seed: int = 0, n: int = 400) -> None:
        rng = np.random.default_rng(seed)
        direction = rng.normal(size=8)
        a, b = rng.normal(size=(n, 8)), rng.normal(size=(n, 8))
        better = (a @ direction > b @ direction)[:, None]
        self.chosen = torch.tensor(np.where(better, a, b), dtype=torch.float32)
        self.rejected = torch.tensor(np.where(better, b, a), dtype=torch.float32)
        self.head, self.train, self.held = head, slice(0, n - 100), slice(n - 100, n)
        self.generator = torch.Generator().manual_seed(seed)

    def _reward(self, texts: torch.Tensor) -> torch.Tensor:
        return self.head(torch.zeros(len(texts), 0), texts).overall

    def step_loss(self, step: int) -> torch.Tensor:
        pick = torch.randint(300, (32,), generator=self.generator)
        return bradley_terry_loss(
            self._reward(self.chosen[pick]), self._reward(self.rejected[pick]), None, 0.0
        )

    def validate(self) -> float | None:
        chosen, rejected = (
            self._reward(self.chosen[self.held]),
            self._reward(self.rejected[self.held]),
        )
        return pairwise_accuracy(chosen.numpy(), rejected.numpy())

    def sampler_state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_sampler_state(self, checkpoint: dict[str, Any]) -> None:
        self.generator.set_state(checkpoint["generator"])


def _run(checkpoint_dir: Path | None = None, progress=None, patience=None, run_key=None):
    torch.manual_seed(0)
    head = RewardHead(HeadConfig(image_dim=0, text_dim=8, hidden=8, dropout=0.3))
    problem = _PairProblem(head)
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.7)
    settings = LoopSettings(
        total_steps=60, eval_every=5, log_every=5, checkpoint_every=10, patience=patience
    )
    outcome = training_loop(
        head,
        optimizer,
        problem,
        settings,
        run_key=run_key or {"data": 1},
        checkpoint_dir=checkpoint_dir,
        progress=progress,
        scheduler=scheduler,
    )
    return head, outcome


def test_a_cancelled_run_resumes_bit_identical_with_its_scheduler(tmp_path: Path) -> None:
    reference, full = _run()
    seen: list[int] = []

    def stop_at_25(step: int, total: int, loss: float, val_acc: float | None) -> bool:
        seen.append(step)
        return step < 25

    _, stopped = _run(tmp_path, stop_at_25)
    assert stopped.cancelled and stopped.steps == 25 and seen == [5, 10, 15, 20, 25]
    assert [step for step, _ in checkpoints(tmp_path)] == [20, 25]  # the last two are kept
    resumed, outcome = _run(tmp_path)
    assert not outcome.cancelled and outcome.steps == 60 and outcome.history == full.history
    for name, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    with pytest.raises(ValueError, match="different run"):
        _run(tmp_path, run_key={"data": 2})


def test_early_stopping_returns_the_best_evaluated_weights() -> None:
    head, outcome = _run(patience=2)
    best = max(entry["val_acc"] for entry in outcome.history)
    assert outcome.steps < 60  # stopped before the schedule ended
    assert outcome.history[-1]["step"] == outcome.steps
    assert [e["val_acc"] for e in outcome.history if e["step"] == outcome.best_step] == [best]
    problem = _PairProblem(head)
    with torch.no_grad():
        assert problem.validate() == best  # the head holds the best weights, not the last


def test_settings_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="eval_every, patience"):
        LoopSettings(total_steps=10, eval_every=0, patience=0)

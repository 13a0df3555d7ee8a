"""The one training loop of the reward heads: checkpoints, bit-identical resume, early stopping,
progress and cancellation, written once.

A recipe says what differs through a `TrainingProblem`: the loss of one step's batch, the
validation accuracy, and the state of its batch sampler (saved in checkpoints so a resumed
run draws exactly the batches an uninterrupted one would). `item_training` is the recipe.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from rewardmodel.heads import RewardHead

ProgressCallback = Callable[[int, int, float, float | None], bool | None]
CHECKPOINT_RE = re.compile(r"^step-(\d{8})\.pt$")


class TrainingProblem(Protocol):
    """What a recipe trains on, seen by the loop."""

    def step_loss(self, step: int) -> torch.Tensor:
        """The loss of step ``step``'s batch (the head is in training mode); a loss that does
        not require grad means the problem already ran its backward (gradients are zeroed
        before this call)."""
        ...

    def validate(self) -> float | None:
        """Validation accuracy (the loop sets eval mode and no_grad); None: nothing held out."""
        ...

    def sampler_state(self) -> dict[str, Any]:
        """The batch sampler's state (e.g. generator states) as entries of a checkpoint."""
        ...

    def load_sampler_state(self, checkpoint: dict[str, Any]) -> None:
        """Restore the sampler from a checkpoint (it holds ``sampler_state()``'s entries)."""
        ...


@dataclass(frozen=True)
class LoopSettings:
    total_steps: int
    eval_every: int
    log_every: int = 10  # steps between progress calls
    checkpoint_every: int = 100  # steps between checkpoints (with a checkpoint directory)
    keep_checkpoints: int = 2
    # stop after this many evaluations without improvement (None: run every step); the
    # weights with the best validation accuracy are returned either way
    patience: int | None = None

    def __post_init__(self) -> None:
        checks = {
            "total_steps": self.total_steps >= 1,
            "eval_every": self.eval_every >= 1,
            "log_every": self.log_every >= 1,
            "checkpoint_every": self.checkpoint_every >= 1,
            "keep_checkpoints": self.keep_checkpoints >= 1,
            "patience": self.patience is None or self.patience >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid loop settings: {', '.join(bad)} ({self})")


@dataclass
class LoopOutcome:
    steps: int
    cancelled: bool
    best_step: int
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class TrainResult:
    head: RewardHead
    metrics: dict[str, Any]
    steps: int
    total_steps: int
    cancelled: bool
    fingerprint: str
    train_pairs: int
    eval_pairs: int
    history: list[dict[str, float]] = field(default_factory=list)


def training_loop(
    head: RewardHead,
    optimizer: torch.optim.Optimizer,
    problem: TrainingProblem,
    settings: LoopSettings,
    *,
    run_key: dict[str, Any],
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = True,
    progress: ProgressCallback | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> LoopOutcome:
    """Train ``head`` for ``settings.total_steps`` steps of ``problem``, leaving it with the
    weights of the best validation accuracy (the last ones when nothing is held out).

    With ``checkpoint_dir``, a checkpoint is written every ``checkpoint_every`` steps, at the
    end, on early stop and on cancel; with ``resume`` the run continues from the last one,
    bit-identical to an uninterrupted run (weights, optimizer, scheduler, torch's RNG, the
    sampler's state). A checkpoint whose ``run_key`` differs (other data or config) is
    refused. ``progress(step, total, loss, val_acc)`` is called every ``log_every`` steps, at
    the end and on early stop; returning False cancels after a checkpoint.
    """
    total = settings.total_steps
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    best_acc, best_state, best_step, stale = -1.0, copy.deepcopy(head.state_dict()), 0, 0
    history: list[dict[str, float]] = []
    step = 0
    if ckpt_dir is not None and resume and (found := checkpoints(ckpt_dir)):
        state = torch.load(found[-1][1], map_location="cpu", weights_only=False)
        if state["run_key"] != run_key:
            raise ValueError(
                f"checkpoint {found[-1][1]} belongs to a different run (other data or config); "
                "use a fresh checkpoint directory or resume=False"
            )
        head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        problem.load_sampler_state(state)
        step, history = int(state["step"]), list(state["history"])
        best_acc, best_state = state["best_acc"], state["best_state"]
        best_step, stale = state["best_step"], state["stale"]

    def checkpoint() -> None:
        if ckpt_dir is None or _rank() != 0:
            return  # under data parallelism every process holds the same state: one writes
        state = {
            "run_key": run_key,
            "head": head.state_dict(),
            "optimizer": optimizer.state_dict(),
            **({"scheduler": scheduler.state_dict()} if scheduler is not None else {}),
            "rng": torch.get_rng_state(),
            **problem.sampler_state(),
            "step": step,
            "history": history,
            "best_acc": best_acc,
            "best_state": best_state,
            "best_step": best_step,
            "stale": stale,
        }
        save_checkpoint(ckpt_dir, step, state, settings.keep_checkpoints)

    @torch.no_grad()
    def validate() -> float | None:
        head.eval()
        try:
            return problem.validate()
        finally:
            head.train()

    val_acc: float | None = history[-1].get("val_acc") if history else None
    cancelled = stopped = False
    head.train()
    while step < total:
        if settings.patience is not None and stale >= settings.patience:
            break  # resumed from the checkpoint written when the run stopped early
        optimizer.zero_grad(set_to_none=True)
        loss = problem.step_loss(step)
        if loss.requires_grad:  # a problem may run its backward itself (micro-batches)
            loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        step += 1
        if step % settings.eval_every == 0 or step == total:
            val_acc = validate()
            history.append({"step": step, "loss": float(loss.detach()),
                            **({"val_acc": val_acc} if val_acc is not None else {})})  # fmt: skip
            if val_acc is None:
                best_state, best_step = copy.deepcopy(head.state_dict()), step
            elif val_acc > best_acc:
                best_acc, best_state, best_step = val_acc, copy.deepcopy(head.state_dict()), step
                stale = 0
            else:
                stale += 1
                stopped = settings.patience is not None and stale >= settings.patience
        at_log = step % settings.log_every == 0 or step == total or stopped
        if (
            at_log
            and progress is not None
            and (progress(step, total, float(loss.detach()), val_acc) is False)
        ):
            cancelled = step < total and not stopped
        if step % settings.checkpoint_every == 0 or step == total or stopped or cancelled:
            checkpoint()
        if stopped or cancelled:
            break
    head.load_state_dict(best_state)
    head.eval()
    return LoopOutcome(steps=step, cancelled=cancelled, best_step=best_step, history=history)


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """The checkpoints in ``directory``, oldest first, with their steps."""
    if not directory.is_dir():
        return []
    found = [
        (int(m.group(1)), directory / m.group(0))
        for p in directory.iterdir()
        if (m := CHECKPOINT_RE.match(p.name))
    ]
    return sorted(found)


def save_checkpoint(directory: Path, step: int, state: dict[str, Any], keep: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{step:08d}.pt"
    tmp = directory / f".{final.name}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, final)  # atomic: a crash never leaves a half-written checkpoint
    for _, old in checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)

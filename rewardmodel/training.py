"""What the reward-head trainers share: their result, progress callback and checkpoints."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rewardmodel.heads import RewardHead

ProgressCallback = Callable[[int, int, float, float | None], bool | None]
CHECKPOINT_RE = re.compile(r"^step-(\d{8})\.pt$")


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


def _checkpoints(directory: Path) -> list[tuple[int, Path]]:
    if not directory.is_dir():
        return []
    found = [
        (int(m.group(1)), directory / m.group(0))
        for p in directory.iterdir()
        if (m := CHECKPOINT_RE.match(p.name))
    ]
    return sorted(found)


def _save_checkpoint(directory: Path, step: int, state: dict[str, Any], keep: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{step:08d}.pt"
    tmp = directory / f".{final.name}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, final)  # atomic: a crash never leaves a half-written checkpoint
    for _, old in _checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)

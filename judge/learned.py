"""A judge learned from the annotators: one violation logit per rule over reward-model
features, trained with the rule BCE (``rewardmodel.losses.rule_bce_loss``) on the
annotators' mean verdict per (item, rule) (NaN where nobody judged)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewardmodel.heads import HeadConfig, RewardHead
from rewardmodel.losses import rule_bce_loss


@dataclass(frozen=True)
class LearnedJudgeConfig:
    """Defaults chosen on the easy-VQA proxy rules by validation against the annotators'
    majority on a part of the training items (``bench/judge_learned.py --validate``)."""

    hidden: int = 128
    epochs: int = 40
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-2
    dropout: float = 0.1
    threshold: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError("hidden, epochs and batch_size must be positive")
        if not 0 < self.lr < 1 or not 0 <= self.threshold <= 1:
            raise ValueError("lr must be in (0, 1) and threshold in [0, 1]")


def verdict_targets(
    item_keys: Sequence[str], rules: Sequence[str], verdicts: Sequence[tuple[str, str, bool]]
) -> np.ndarray:
    """(N, R) mean verdict per (item, rule) from (item key, rule, violated) rows; NaN where
    no one judged. The mean keeps disagreement as a soft target instead of a coin flip."""
    row = {k: i for i, k in enumerate(item_keys)}
    col = {r: j for j, r in enumerate(rules)}
    sums = np.zeros((len(item_keys), len(rules)))
    counts = np.zeros_like(sums)
    for item, rule, violated in verdicts:
        if item in row and rule in col:
            sums[row[item], col[rule]] += float(bool(violated))
            counts[row[item], col[rule]] += 1
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


class LearnedJudge:
    def __init__(self, head: RewardHead, config: LearnedJudgeConfig) -> None:
        self.head = head.eval()
        self.config = config

    @property
    def rules(self) -> tuple[str, ...]:
        return self.head.config.rules

    @torch.inference_mode()
    def predict_proba(self, image: np.ndarray, text: np.ndarray | None = None) -> np.ndarray:
        image_t = torch.as_tensor(np.asarray(image, dtype=np.float32))
        text_t = _text(text, len(image_t), self.head.config.text_dim)
        return torch.sigmoid(self.head(image_t, text_t).rules).numpy()

    def predict(self, image: np.ndarray, text: np.ndarray | None = None) -> np.ndarray:
        return self.predict_proba(image, text) > self.config.threshold

    def save(self, folder: Path | str) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.head.state_dict(), folder / "head.pt")
        meta = {"head": self.head.config.to_json(), "config": asdict(self.config)}
        (folder / "judge.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: Path | str) -> LearnedJudge:
        folder = Path(folder)
        meta = json.loads((folder / "judge.json").read_text())
        head = RewardHead(HeadConfig.from_json(meta["head"]))
        head.load_state_dict(torch.load(folder / "head.pt", weights_only=True))
        return cls(head, LearnedJudgeConfig(**meta["config"]))


def _text(text: np.ndarray | None, n: int, dim: int) -> torch.Tensor:
    # safety rules are about the image: without text features the head reads a constant
    if text is None:
        return torch.ones((n, dim), dtype=torch.float32)
    return torch.as_tensor(np.asarray(text, dtype=np.float32))


def train_learned_judge(
    image: np.ndarray,
    targets: np.ndarray,
    rules: Sequence[str],
    *,
    text: np.ndarray | None = None,
    config: LearnedJudgeConfig | None = None,
    progress: Callable[[float], Any] | None = None,
) -> LearnedJudge:
    """Fit the rule logits of a ``RewardHead`` to ``targets`` (N, R; NaN = not judged).
    ``progress`` gets the share done after each epoch; raising there stops training."""
    config = config or LearnedJudgeConfig()
    image = np.asarray(image, dtype=np.float32)
    targets = np.asarray(targets, dtype=np.float32)
    if image.ndim != 2 or targets.shape != (len(image), len(rules)):
        raise ValueError(f"image {image.shape} and targets {targets.shape} for {len(rules)} rules")
    if not np.isfinite(targets).any():
        raise ValueError("no verdicts to learn from")
    torch.manual_seed(config.seed)
    text_dim = 1 if text is None else int(np.asarray(text).shape[1])
    head = RewardHead(
        HeadConfig(
            image_dim=image.shape[1],
            text_dim=text_dim,
            hidden=config.hidden,
            rules=tuple(rules),
            dropout=config.dropout,
        )
    )
    image_t = torch.from_numpy(image)
    text_t = _text(text, len(image), text_dim)
    target_t = torch.from_numpy(targets)
    optimiser = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    head.train()
    for epoch in range(config.epochs):
        order = torch.randperm(len(image), generator=generator)
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            loss = rule_bce_loss(head(image_t[batch], text_t[batch]).rules, target_t[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if progress is not None:
            progress((epoch + 1) / config.epochs)
    return LearnedJudge(head, config)

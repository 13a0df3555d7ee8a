"""Scoring feature matrices with a reward head, in batches, into numpy arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rewardmodel.features import FeatureLoader, FeatureRef
from rewardmodel.heads import RewardHead


@dataclass
class Scores:
    overall: np.ndarray  # (N,) float32 reward
    criteria: dict[str, np.ndarray]  # name -> (N,) score
    rules: dict[str, np.ndarray]  # name -> (N,) probability that the rule is violated

    def __len__(self) -> int:
        return len(self.overall)


@torch.inference_mode()
def score_features(
    head: RewardHead, image: np.ndarray, text: np.ndarray, *, batch_size: int = 8192
) -> Scores:
    """Overall reward, per-criterion scores and per-rule violation probabilities."""
    image = np.asarray(image, dtype=np.float32)
    text = np.asarray(text, dtype=np.float32)
    if len(image) != len(text):
        raise ValueError(f"{len(image)} image rows but {len(text)} text rows")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    config = head.config
    head.eval()
    n = len(text)
    overall = np.empty(n, dtype=np.float32)
    criteria = np.empty((n, len(config.criteria)), dtype=np.float32)
    rules = np.empty((n, len(config.rules)), dtype=np.float32)
    for start in range(0, n, batch_size):
        end = min(n, start + batch_size)
        output = head(torch.from_numpy(image[start:end]), torch.from_numpy(text[start:end]))
        overall[start:end] = output.overall.numpy()
        criteria[start:end] = output.criteria.numpy()
        rules[start:end] = torch.sigmoid(output.rules).numpy()
    return Scores(
        overall=overall,
        criteria={name: criteria[:, i].copy() for i, name in enumerate(config.criteria)},
        rules={name: rules[:, i].copy() for i, name in enumerate(config.rules)},
    )


def score_refs(
    head: RewardHead,
    refs: Sequence[FeatureRef],
    load_features: FeatureLoader,
    *,
    batch_size: int = 8192,
    chunk: int = 65536,
) -> Scores:
    """Score cached examples, loading features chunk by chunk to bound memory."""
    parts: list[Scores] = []
    for start in range(0, len(refs), chunk):
        image, text = load_features(refs[start : start + chunk])
        parts.append(score_features(head, image, text, batch_size=batch_size))
    if not parts:
        return score_features(
            head,
            np.zeros((0, head.config.image_dim)),
            np.zeros((0, head.config.text_dim)),
        )
    return Scores(
        overall=np.concatenate([p.overall for p in parts]),
        criteria={k: np.concatenate([p.criteria[k] for p in parts]) for k in parts[0].criteria},
        rules={k: np.concatenate([p.rules[k] for p in parts]) for k in parts[0].rules},
    )

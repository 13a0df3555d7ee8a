"""The encoder interface shared by text and image encoders.

Every encoder returns L2-normalised float32 rows (unit length), so a dot product between two
embeddings of one encoder is their cosine similarity, and the reward head sees inputs of a
fixed scale whatever the backbone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class Encoder(Protocol):
    """Turns a batch of raw inputs into a ``(len(batch), dim)`` float32, L2-normalised tensor.

    ``encoder_id`` names the model *and* its preprocessing, so it is safe to use as a cache key:
    two encoders with the same id must give the same embedding for the same content.
    ``prepare`` is the CPU-side half (decode, resize, tokenise) that a pipeline may run in a
    thread pool; ``forward`` is the model half. ``encode(batch) == forward(prepare(batch))``.
    """

    encoder_id: str
    dim: int

    def prepare(self, batch: Sequence[Any]) -> Any: ...

    def forward(self, prepared: Any) -> torch.Tensor: ...

    def encode(self, batch: Sequence[Any]) -> torch.Tensor: ...


def l2_normalise(rows: torch.Tensor) -> torch.Tensor:
    """Float32 rows scaled to unit length (zero rows stay zero instead of becoming NaN)."""
    rows = rows.float()
    return rows / rows.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def pick_device(device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")

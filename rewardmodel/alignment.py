"""Image-text alignment learned from the corpus itself, without labels.

Most of a machine-generated corpus is right: an answer that names a colour or a shape mostly
sits beside an image that shows it. A contrastive (InfoNCE) objective over the corpus's own
(image, turn) pairs learns that correspondence from every item, labelled or not, where the
reward head, trained on a few hundred judged defects, cannot. The cosine between an image and
a turn in the learned space is then one more input to the reward head: an answer that
contradicts its image scores low.

The maps read chosen column ranges of the cached features (e.g. the colour histogram of the
image and the answer embedding of a turn), so that they learn content rather than memorising
which image a layout sentence belongs to.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class AlignConfig:
    dim: int = 32
    steps: int = 800
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dim < 1 or self.steps < 1 or self.batch_size < 2 or self.lr <= 0:
            raise ValueError(f"invalid alignment config: {self}")


Columns = tuple[int, int]


class ImageTextAlignment(nn.Module):
    """Two linear maps into a shared space; ``forward`` gives the cosine of each row pair."""

    def __init__(self, image_cols: Columns, text_cols: Columns, dim: int) -> None:
        super().__init__()
        for start, stop in (image_cols, text_cols):
            if not 0 <= start < stop:
                raise ValueError(f"bad column range ({start}, {stop})")
        self.image_cols, self.text_cols = tuple(image_cols), tuple(text_cols)
        self.image_map = nn.Linear(image_cols[1] - image_cols[0], dim)
        self.text_map = nn.Linear(text_cols[1] - text_cols[0], dim)

    def embed(self, image: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.image_map(image[:, self.image_cols[0] : self.image_cols[1]])
        b = self.text_map(text[:, self.text_cols[0] : self.text_cols[1]])
        return F.normalize(a, dim=1), F.normalize(b, dim=1)

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        a, b = self.embed(image, text)
        return (a * b).sum(dim=1)


def train_alignment(
    images: torch.Tensor,
    texts: torch.Tensor,
    image_ids: Sequence[Hashable],
    *,
    image_cols: Columns,
    text_cols: Columns,
    config: AlignConfig | None = None,
) -> ImageTextAlignment:
    """InfoNCE over (image, text) rows: each text against the batch's images and back.

    Rows that share an image (several turns of one item) are never in the same batch, so no
    row is pushed away from its own image. Returns the maps with gradients switched off.
    """
    config = config or AlignConfig()
    if len(images) != len(texts) or len(images) != len(image_ids):
        raise ValueError("images, texts and image_ids must have the same length")
    group_of: dict[Hashable, int] = {}
    groups = np.asarray([group_of.setdefault(i, len(group_of)) for i in image_ids])
    if len(group_of) < 2:
        raise ValueError("alignment needs at least two different images")
    torch.manual_seed(config.seed)
    model = ImageTextAlignment(image_cols, text_cols, config.dim)
    log_scale = nn.Parameter(torch.tensor(2.0))
    optimizer = torch.optim.AdamW(
        [*model.parameters(), log_scale], lr=config.lr, weight_decay=config.weight_decay
    )
    rng = np.random.default_rng(config.seed)
    for _ in range(config.steps):
        pick = rng.choice(len(images), size=min(config.batch_size, len(images)), replace=False)
        _, first = np.unique(groups[pick], return_index=True)  # one row per image
        rows = torch.from_numpy(pick[first])
        a, b = model.embed(images[rows], texts[rows])
        logits = log_scale.clamp(max=4.6).exp() * b @ a.T
        target = torch.arange(len(rows))
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.requires_grad_(False)
    return model.eval()

"""The fusion reward head over cached (image, text) features."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from rewardmodel.alignment import ImageTextAlignment
from rewardmodel.colour_terms import (
    N_GROUNDING,
    N_TERMS,
    N_TEXT_COLUMNS,
    colour_grounding,
)

_COLUMN_KEYS = ("align_image_cols", "align_text_cols", "ground_text_cols", "ground_image_cols")


@dataclass(frozen=True)
class HeadConfig:
    """Shape of a reward head. ``criteria``: rubric criteria (one output each, trained from
    pairs or ratings of that criterion); ``rules``: safety rules (one violation logit each)."""

    image_dim: int
    text_dim: int
    hidden: int = 256
    criteria: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    dropout: float = 0.1
    # image-text alignment (``rewardmodel.alignment``): 0 = none; else its width and the
    # feature columns it reads
    align_dim: int = 0
    align_image_cols: tuple[int, int] | None = None
    align_text_cols: tuple[int, int] | None = None
    # colour-term grounding (``rewardmodel.colour_terms``): the columns of the text row holding
    # the mention flags and of the image row holding the shares; None = off
    ground_text_cols: tuple[int, int] | None = None
    ground_image_cols: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.text_dim < 1 or self.image_dim < 0 or self.hidden < 1:
            raise ValueError(f"bad head dims: {self}")
        for kind, names in (("criteria", self.criteria), ("rules", self.rules)):
            if len(set(names)) != len(names):
                raise ValueError(f"duplicate names in {kind}: {names}")
            if "overall" in names:
                raise ValueError(f"'overall' is the head's main output, not one of its {kind}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.align_dim < 0:
            raise ValueError(f"align_dim must be >= 0, got {self.align_dim}")
        if self.align_dim and self.image_dim == 0:
            raise ValueError("image-text alignment needs image features")
        self._check_grounding()

    def _check_grounding(self) -> None:
        text, image = self.ground_text_cols, self.ground_image_cols
        if text is None and image is None:
            return
        if text is None or image is None or self.image_dim == 0:
            raise ValueError("colour grounding needs both text and image columns")
        widths = ((text, self.text_dim, N_TEXT_COLUMNS), (image, self.image_dim, N_TERMS))
        for (start, end), dim, width in widths:
            if not (start >= 0 and end <= dim and end - start == width):
                raise ValueError(f"bad colour-grounding columns {(start, end)} for width {dim}")

    @property
    def grounded(self) -> bool:
        return self.ground_text_cols is not None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["criteria"], data["rules"] = list(self.criteria), list(self.rules)
        for key in _COLUMN_KEYS:
            if data[key] is not None:
                data[key] = list(data[key])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HeadConfig:
        data = dict(data)
        data["criteria"] = tuple(data.get("criteria", ()))
        data["rules"] = tuple(data.get("rules", ()))
        for key in _COLUMN_KEYS:
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)


class HeadOutput(NamedTuple):
    overall: torch.Tensor  # (N,)
    criteria: torch.Tensor  # (N, C)
    rules: torch.Tensor  # (N, R) logits; sigmoid = probability the rule is violated


class RewardHead(nn.Module):
    """Project both modalities to ``hidden``, fuse ``[p_img, p_txt, p_img * p_txt]`` with an
    MLP, and read the overall reward, one score per criterion and one logit per rule.

    The elementwise product is what lets the head model image-text *interaction* (does this
    answer match this image?); a purely additive head could only score image and text apart.
    Text-only examples come with a zero image vector, which the product turns into "no image".
    With ``align_dim``, the cosine of an ``ImageTextAlignment`` (learned beforehand from the
    corpus, frozen here) joins the fused input and, through a learned weight, the reward.
    With colour grounding (``ground_*_cols``), the five numbers of ``colour_grounding`` (do the
    colours the answer names appear in the image?) join the text input, standardised.
    """

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        self.alignment: ImageTextAlignment | None = None
        h = config.hidden
        self._grounding_width = N_GROUNDING if config.grounded else 0
        self.image_proj = nn.Sequential(nn.Linear(max(config.image_dim, 1), h), nn.LayerNorm(h))
        self.text_proj = nn.Sequential(
            nn.Linear(config.text_dim + self._grounding_width, h), nn.LayerNorm(h)
        )
        if config.align_dim:
            self.alignment = ImageTextAlignment(
                config.align_image_cols or (0, config.image_dim),
                config.align_text_cols or (0, config.text_dim),
                config.align_dim,
            ).requires_grad_(False)
            self.align_weight = nn.Parameter(torch.zeros(()))
        if config.grounded:
            # the text layer reads the grounding standardised like every other input column;
            # the trainer sets these from the rows it reads (saved with the weights)
            self.register_buffer("ground_mean", torch.zeros(N_GROUNDING))
            self.register_buffer("ground_std", torch.ones(N_GROUNDING))
        self.trunk = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(3 * h + (1 if config.align_dim else 0), h),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(h, h),
            nn.GELU(),
        )
        self.overall = nn.Linear(h, 1)
        # No zero-width layers: a head without criteria or rules simply has no such module.
        self.criteria = nn.Linear(h, len(config.criteria)) if config.criteria else None
        self.rules = nn.Linear(h, len(config.rules)) if config.rules else None

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> HeadOutput:
        if text.dim() != 2 or text.shape[1] != self.config.text_dim:
            raise ValueError(
                f"text features must be (N, {self.config.text_dim}), got {tuple(text.shape)}"
            )
        if self.config.image_dim == 0:
            image = text.new_zeros((text.shape[0], 1))
        elif image.shape != (text.shape[0], self.config.image_dim):
            raise ValueError(
                f"image features must be ({text.shape[0]}, {self.config.image_dim}), "
                f"got {tuple(image.shape)}"
            )
        text_in = text
        if self.config.grounded:
            grounding = self.grounding(image, text)
            standard = (grounding - self.ground_mean) / self.ground_std
            # read with the text (the comparison describes the answer), before any dropout
            text_in = torch.cat([text, standard], dim=1)
        p_img = self.image_proj(image)
        p_txt = self.text_proj(text_in)
        fused = [p_img, p_txt, p_img * p_txt]
        overall_shift = 0.0
        if self.alignment is not None:
            match = self.alignment(image, text)
            fused.append(match.unsqueeze(1))
            overall_shift = self.align_weight * match
        hidden = self.trunk(torch.cat(fused, dim=-1))
        empty = hidden.new_zeros((hidden.shape[0], 0))
        return HeadOutput(
            self.overall(hidden).squeeze(-1) + overall_shift,
            self.criteria(hidden) if self.criteria is not None else empty,
            self.rules(hidden) if self.rules is not None else empty,
        )

    def grounding(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """``colour_grounding`` of each row, read from the configured columns."""
        (t0, t1), (i0, i1) = self.config.ground_text_cols, self.config.ground_image_cols
        return colour_grounding(text[:, t0:t1], image[:, i0:i1])

    def reward_for(self, output: HeadOutput, criterion: torch.Tensor) -> torch.Tensor:
        """Per-row reward for a criterion index (-1 = overall, k = ``config.criteria[k]``)."""
        if output.criteria.shape[1] == 0:
            return output.overall
        padded = torch.cat([output.criteria, output.overall.unsqueeze(1)], dim=1)
        column = torch.where(criterion < 0, padded.shape[1] - 1, criterion)
        return padded.gather(1, column.unsqueeze(1)).squeeze(1)

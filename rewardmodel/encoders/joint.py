"""A vision-language checkpoint, frozen, as one encoder of image and text together.

Where the head recipe's default encoders embed the text and the image apart, this reads the
(image, turn) pair through the VLM (``rewardmodel.vlm``: any image-text-to-text checkpoint)
and returns its last hidden state mean-pooled over the real tokens (image tokens included),
L2-normalised. It takes the text encoder's place in ``featurize`` with no image encoder; its
cache key is the pair's (``rewardmodel.features.joint_key``), so features are cached per
(image, text) as today's are per text and per image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from rewardmodel.encoders.base import l2_normalise


class JointVLMEncoder:
    joint = True  # inputs are (text, image) pairs; featurize keys them by both

    def __init__(
        self,
        name_or_path: str | os.PathLike[str],
        *,
        device: str | torch.device | None = None,
        max_length: int = 1024,
    ) -> None:
        from rewardmodel.configs import VLMTrainConfig
        from rewardmodel.vlm import backbone_revision, vlm_reward_model_load

        config = VLMTrainConfig(gradient_checkpointing=False)
        self.model = vlm_reward_model_load(name_or_path, config=config, device=device, lora=False)
        self.model.eval()
        self.max_length = max_length
        self.dim = int(self.model.value_head.in_features)
        revision = backbone_revision(name_or_path)
        self.encoder_id = f"vlm-joint:{name_or_path}@{revision}:mean:{max_length}:v1"

    def prepare(self, batch: Sequence[Any]) -> dict[str, torch.Tensor]:
        from rewardmodel.vlm import Sample, collate

        samples = [Sample((("user", str(text)),), image) for text, image in batch]
        return collate(self.model, samples, max_length=self.max_length)

    @torch.no_grad()
    def forward(self, prepared: dict[str, torch.Tensor]) -> torch.Tensor:
        from rewardmodel.vlm import _device_dtype, _to

        device, dtype = _device_dtype(self.model)
        inputs = _to(prepared, device, dtype)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            hidden = self.model.backbone(**inputs, use_cache=False).last_hidden_state.float()
        mask = inputs["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)
        return l2_normalise(pooled).cpu()

    def encode(self, batch: Sequence[Any]) -> torch.Tensor:
        return self.forward(self.prepare(batch))

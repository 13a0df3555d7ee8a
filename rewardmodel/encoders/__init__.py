"""Text and image encoders behind one small interface, and ``encoder_load`` to build them."""

from __future__ import annotations

from pathlib import Path

import torch

from rewardmodel.encoder_specs import (
    COMPOSITE_DEFAULTS,
    DEFAULT_IMAGE_COLOUR,
    DEFAULT_TURN_TEXT,
    GROUNDED_IMAGE,
    GROUNDED_TEXT,
)
from rewardmodel.encoders.base import Encoder, l2_normalise
from rewardmodel.encoders.text import TextEncoder, default_text_encoder
from rewardmodel.encoders.vision import EfficientNetLiteEncoder, ImageEncoder

__all__ = [
    "EfficientNetLiteEncoder",
    "Encoder",
    "ImageEncoder",
    "TextEncoder",
    "default_text_encoder",
    "encoder_load",
    "l2_normalise",
]


def encoder_load(spec: str, *, device: str | torch.device | None = None) -> Encoder:
    """Build an encoder from a spec.

    - ``"default-text"``: all-MiniLM-L6-v2 (offline, 384 dims);
    - ``"default-image"``: EfficientNet-Lite0 (offline, 1280 dims);
    - ``"default-turn-text"``: ``TurnTextEncoder`` over all-MiniLM-L6-v2, one embedding per
      (question, answer) turn (texts made by ``composite.turn_text``);
    - ``"default-image-colour"``: EfficientNet-Lite0 at 128 pixels with a colour histogram
      (``ImageWithColourEncoder``);
    - ``"grounded-turn-text"`` / ``"grounded-image-colour"``: the two defaults above, each
      with the colour-term columns (``rewardmodel.colour_terms``) a head grounds colours with;
    - ``"turn:SPEC"`` / ``"colour:SPEC"``: those composites over the encoder ``SPEC`` names
      (``"colour:none"``: the colour histogram alone);
    - ``"text:NAME_OR_PATH"`` / ``"image:NAME_OR_PATH"``: explicit kind;
    - ``"vlm:NAME_OR_PATH"``: a vision-language checkpoint, frozen, embedding (image, text)
      pairs together (``JointVLMEncoder``; it replaces both encoders in ``featurize``);
    - a bare hub name or local path: the kind is read from its config (a vision or CLIP-like
      config gives an image encoder, anything else a text encoder).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"encoder spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if spec in COMPOSITE_DEFAULTS or spec.startswith(("turn:", "colour:")):
        return _composite_load(spec, device)
    if spec == "default-text":
        return default_text_encoder(device)
    if spec == "default-image":
        return EfficientNetLiteEncoder(device=device)
    if spec.startswith("vlm:"):
        from rewardmodel.encoders.joint import JointVLMEncoder

        return JointVLMEncoder(spec[4:], device=device)
    if spec.startswith("text:"):
        return TextEncoder(spec[5:], device=device)
    if spec.startswith("image:"):
        return ImageEncoder(spec[6:], device=device)
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(spec, local_files_only=True)
    except OSError as exc:
        hint = "" if Path(spec).exists() else " (not a local path either)"
        raise ValueError(
            f"unknown encoder spec {spec!r}{hint}: use 'default-text', 'default-image', "
            f"a local checkpoint directory or a hub name present in the local cache"
        ) from exc
    model_type = str(getattr(config, "model_type", ""))
    is_vision = (
        hasattr(config, "vision_config")
        or "vision" in model_type
        or any(
            name in model_type for name in ("vit", "convnext", "resnet", "dinov2", "efficientnet")
        )
    )
    if is_vision:
        return ImageEncoder(spec, device=device)
    return TextEncoder(spec, device=device)


def _composite_load(spec: str, device: str | torch.device | None) -> Encoder:
    from rewardmodel.encoders.composite import ImageWithColourEncoder, TurnTextEncoder

    if spec in (DEFAULT_TURN_TEXT, GROUNDED_TEXT):
        return TurnTextEncoder(default_text_encoder(device), colour_terms=spec == GROUNDED_TEXT)
    if spec in (DEFAULT_IMAGE_COLOUR, GROUNDED_IMAGE):
        # 128 pixels, as in the offline quality experiment: ~3x faster on CPU than 224
        return ImageWithColourEncoder(
            EfficientNetLiteEncoder(image_size=128, device=device),
            colour_terms=spec == GROUNDED_IMAGE,
        )
    kind, _, inner = spec.partition(":")
    if kind == "turn":
        return TurnTextEncoder(encoder_load(inner, device=device))
    base = None if inner == "none" else encoder_load(inner, device=device)
    return ImageWithColourEncoder(base)

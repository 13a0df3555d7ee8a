"""Decoding images given as bytes, paths or PIL images, and a plain resize + normalise step."""

from __future__ import annotations

import io
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ImageInput = bytes | bytearray | str | PathLike | Image.Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def image_open(image: ImageInput) -> Image.Image:
    """An RGB PIL image from encoded bytes, a file path or a PIL image."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, bytes | bytearray):
        try:
            with Image.open(io.BytesIO(image)) as opened:
                return opened.convert("RGB")
        except Exception as exc:  # PIL raises several types; give one clear message
            raise ValueError(f"cannot decode image bytes ({len(image)} bytes): {exc}") from exc
    if isinstance(image, str | PathLike):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {path}")
        try:
            with Image.open(path) as opened:
                return opened.convert("RGB")
        except Exception as exc:
            raise ValueError(f"cannot decode image file {path}: {exc}") from exc
    raise TypeError(f"images must be bytes, a path or a PIL image, not {type(image).__name__}")


def image_bytes(image: ImageInput) -> bytes:
    """The bytes that identify an image's content (file bytes, or raw pixels for PIL images)."""
    if isinstance(image, bytes | bytearray):
        return bytes(image)
    if isinstance(image, str | PathLike):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {path}")
        return path.read_bytes()
    if isinstance(image, Image.Image):
        header = f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode()
        return header + image.tobytes()
    raise TypeError(f"images must be bytes, a path or a PIL image, not {type(image).__name__}")


def image_to_tensor(
    image: Image.Image,
    size: int,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> torch.Tensor:
    """Resize the short side to ``size``, centre-crop a square, scale to [0, 1], normalise."""
    width, height = image.size
    scale = size / min(width, height)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    image = image.crop((left, top, left + size, top + size))
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = (array - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))

"""Small LLaVA files and images that the foundation tests write themselves."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image


def png_bytes(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def record(item_id: str, image: str | None = "a.png", answer: str = "A red square.") -> dict:
    first = "<image>\nWhat is shown?" if image else "What is shown?"
    rec = {
        "id": item_id,
        "conversations": [
            {"from": "human", "value": first},
            {"from": "gpt", "value": answer},
        ],
    }
    if image:
        rec["image"] = image
    return rec


def write_json(path: Path, records: list) -> Path:
    path.write_text(json.dumps(records, indent=1))
    return path


def write_images(folder: Path, names: dict[str, tuple[int, int, int]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, color in names.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(png_bytes(color))
    return folder

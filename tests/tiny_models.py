"""Tiny random-init checkpoints the tests build and save themselves (no download)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_bert(path: Path, words: Sequence[str]) -> Path:
    """A 2-layer BERT whose vocabulary is the special tokens plus `words`, saved to `path`."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = [*SPECIAL_TOKENS, *words]
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(path / "vocab.txt")).save_pretrained(path)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(path)
    return path

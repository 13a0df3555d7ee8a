"""A tiny random-init causal LM (saved to disk) for the generation mechanics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rewriting.lm import CausalLM, causal_lm_load
from tests.tiny_models import SPECIAL_TOKENS, bert_tokenizer

WORDS = ["a", "b", "the", "cat", "dog", "sat", "on", "mat", "red", "blue", "two", "left",
         "system", "user", "assistant", ":", "answer", "question", "rewrite"]  # fmt: skip


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny-causal-lm")
    vocab = [*SPECIAL_TOKENS, *WORDS]
    tokenizer = bert_tokenizer(vocab)
    tokenizer.eos_token = "[SEP]"
    tokenizer.save_pretrained(path)
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        pad_token_id=0, eos_token_id=3, bos_token_id=2,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_lm(tiny_lm_dir: Path) -> CausalLM:
    return causal_lm_load(tiny_lm_dir, device="cpu")

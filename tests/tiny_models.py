"""Tiny random-init checkpoints the tests build and save themselves (no download)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def bert_tokenizer(vocab: Sequence[str]) -> object:
    """A WordPiece tokenizer over exactly `vocab`.

    The vocabulary is passed as a mapping: transformers 5 silently ignores ``vocab_file=``,
    which leaves every word unknown.
    """
    from transformers import BertTokenizerFast

    tokenizer = BertTokenizerFast(vocab={word: i for i, word in enumerate(vocab)})
    known = tokenizer(vocab[-1], add_special_tokens=False)["input_ids"]
    assert known == [len(vocab) - 1], f"tokenizer lost its vocabulary: {known}"
    return tokenizer


def tiny_bert(path: Path, words: Sequence[str]) -> Path:
    """A 2-layer BERT whose vocabulary is the special tokens plus `words`, saved to `path`."""
    from transformers import BertConfig, BertModel

    vocab = [*SPECIAL_TOKENS, *words]
    path.mkdir(parents=True, exist_ok=True)
    bert_tokenizer(vocab).save_pretrained(path)
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


TINY_LM_WORDS = ["a", "b", "the", "cat", "dog", "sat", "on", "mat", "red", "blue", "two", "left",
                 "system", "user", "assistant", ":", "answer", "question", "rewrite"]  # fmt: skip


def tiny_causal_lm(path: Path, words: Sequence[str] = TINY_LM_WORDS) -> Path:
    """A 2-layer random-init Llama over the special tokens plus `words`, saved to `path`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    vocab = [*SPECIAL_TOKENS, *words]
    path.mkdir(parents=True, exist_ok=True)
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

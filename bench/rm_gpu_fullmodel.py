"""Benchmark for a GPU box: train the full-model reward model (random-init ~1B Llama) in bf16.

The preference is learnable (every chosen text ends in one word, every rejected text in
another), so the held-out accuracy shows that the CUDA path learns, beside training pairs/s
and scoring items/s. Prints one JSON line per mode (full fine-tune, and LoRA with
``--lora``). ``--tiny`` uses a small config so the script can be checked on CPU.
Usage: PYTHONPATH=. python bench/rm_gpu_fullmodel.py [--steps 200] [--lora] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from rewardmodel.fullmodel import (
    FullModelConfig,
    full_reward_model_load,
    score_full_reward_model,
    train_full_reward_model,
)


def _tokenizer(directory: str, vocab_size: int) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"<pad>": 0, "<unk>": 1, **{f"w{i}": i + 2 for i in range(vocab_size - 2)}}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>"
    ).save_pretrained(directory)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--lora", action="store_true", help="also train with LoRA adapters")
    parser.add_argument("--tiny", action="store_true", help="small config, for a CPU check")
    args = parser.parse_args()
    if args.tiny:
        size = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 2}  # fmt: skip
        args.steps, args.seq_len, args.batch_size = min(args.steps, 5), 64, 2
    else:  # ~1.1B parameters (TinyLlama-1.1B shape)
        size = {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22,
                "num_attention_heads": 32, "num_key_value_heads": 4}  # fmt: skip
    vocab_size = 32000
    rng = random.Random(0)
    words = [f"w{i}" for i in range(vocab_size - 2)]

    def text(last: str) -> str:  # seq_len words; the last one carries the preference
        return " ".join([*rng.choices(words, k=args.seq_len - 1), last])

    pairs = [(text("w0"), text("w1"), 0.0) for _ in range(256 + 64)]
    with tempfile.TemporaryDirectory() as directory:
        config = LlamaConfig(
            vocab_size=vocab_size, max_position_embeddings=args.seq_len * 2, **size
        )
        with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
            LlamaForCausalLM(config).save_pretrained(directory)  # initialised on the GPU: fast
        _tokenizer(directory, vocab_size)
        for lora in [False, True] if args.lora else [False]:
            record = _run(directory, pairs[:256], pairs[256:], args, lora=lora)
            print(json.dumps(record), flush=True)


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _run(
    directory: str, pairs: list, held_out: list, args: argparse.Namespace, *, lora: bool
) -> dict:
    """Train for ``args.steps`` steps, then score held-out texts; one JSON-able record."""
    train_config = FullModelConfig(
        lr=1e-5 if not lora else 1e-4, steps=args.steps, batch_size=args.batch_size,
        max_length=args.seq_len, lora=lora, gradient_checkpointing=not args.tiny,
    )  # fmt: skip
    model, tokenizer = full_reward_model_load(directory, config=train_config)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    warmup = FullModelConfig(**{**train_config.__dict__, "steps": 2})
    train_full_reward_model(model, tokenizer, pairs, config=warmup)  # kernels, allocator
    _synchronize()
    start = time.perf_counter()
    losses = train_full_reward_model(model, tokenizer, pairs, config=train_config)
    _synchronize()
    train_wall = time.perf_counter() - start
    texts = [chosen for chosen, _, _ in held_out] + [rejected for _, rejected, _ in held_out]
    score_full_reward_model(model, tokenizer, texts[:64], batch_size=64, max_length=args.seq_len)
    _synchronize()
    start = time.perf_counter()
    scores = score_full_reward_model(
        model, tokenizer, texts, batch_size=64, max_length=args.seq_len
    )
    _synchronize()
    score_wall = time.perf_counter() - start
    n = len(held_out)
    accuracy = sum(c > r for c, r in zip(scores[:n], scores[n:], strict=True)) / n
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "bench": "rm_gpu_fullmodel",
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "mode": "lora" if lora else "full",
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "trainable_m": round(trainable / 1e6, 2),
        "steps": len(losses),
        "batch_pairs": args.batch_size,
        "seq_len": args.seq_len,
        "train_s": round(train_wall, 2),
        "pairs_per_s": round(len(losses) * args.batch_size / train_wall, 2),
        "train_tokens_per_s": round(len(losses) * args.batch_size * 2 * args.seq_len / train_wall),
        "score_items_per_s": round(len(scores) / score_wall, 1),
        "held_out_accuracy": round(accuracy, 3),
        "first_loss": round(losses[0], 4),
        "last_loss": round(losses[-1], 4),
        "max_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if torch.cuda.is_available()
        else None,
    }


if __name__ == "__main__":
    main()

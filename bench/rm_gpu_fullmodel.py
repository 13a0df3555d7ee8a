"""Benchmark for a GPU box: train the full-model reward model (random-init ~1B Llama) in bf16.

Prints one JSON line with pairs/s. ``--tiny`` uses a small config so the script can be
checked on CPU. Usage: python bench/rm_gpu_fullmodel.py [--steps 200] [--lora] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from rewardmodel.fullmodel import FullModelConfig, full_reward_model_load, train_full_reward_model


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
    parser.add_argument("--lora", action="store_true")
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
    pairs = [
        (
            " ".join(rng.choices(words, k=args.seq_len)),
            " ".join(rng.choices(words, k=args.seq_len)),
            0.0,
        )
        for _ in range(256)
    ]
    with tempfile.TemporaryDirectory() as directory:
        config = LlamaConfig(
            vocab_size=vocab_size, max_position_embeddings=args.seq_len * 2, **size
        )
        LlamaForCausalLM(config).save_pretrained(directory)
        _tokenizer(directory, vocab_size)
        train_config = FullModelConfig(
            lr=1e-5, steps=args.steps, batch_size=args.batch_size, max_length=args.seq_len,
            lora=args.lora, gradient_checkpointing=not args.tiny,
        )  # fmt: skip
        model, tokenizer = full_reward_model_load(directory, config=train_config)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        losses = train_full_reward_model(model, tokenizer, pairs, config=train_config)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        wall = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters())
    print(
        json.dumps(
            {
                "bench": "rm_gpu_fullmodel",
                "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
                "params_m": round(params / 1e6, 1),
                "steps": len(losses),
                "seq_len": args.seq_len,
                "pairs_per_s": round(len(losses) * args.batch_size / wall, 2),
                "first_loss": round(losses[0], 4),
                "last_loss": round(losses[-1], 4),
                "max_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
                if torch.cuda.is_available()
                else None,
            }
        )
    )


if __name__ == "__main__":
    main()

"""GPU benchmark: rewriting throughput of a 7B LLM (random-initialised, Llama-2-7B shape).

Random weights say nothing of quality but cost what a real 7B costs per token. Every turn is
forced to generate exactly --max-new-tokens tokens (a random model would stop anywhere), then
reviewed in both orders and scored (likelihoods); guards run with MiniLM on the GPU. The
tokenizer and chat template are SmolLM2's (offline). Prints one JSON line: turns/s and the time
for --extrapolate items (default 14k) at --turns-per-item turns each.

Usage (one call on a GPU box):
  python bench/rewrite_gpu_7b.py --turns 512 --batch-size 64
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from rewriting.guards import GuardSettings  # noqa: E402
from rewriting.pipeline import RewriteSettings, Unit, rewrite_units  # noqa: E402

ANSWER = ("The image shows a red bus parked on the left side of a wide street. Two people are "
          "standing next to it, and there is no traffic light in view.")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--extrapolate", type=int, default=14_000)
    parser.add_argument("--turns-per-item", type=float, default=2.0)
    parser.add_argument("--cache", default="var/models")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA GPU")
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from rewardmodel.causal_lm import causal_lm_wrap
    from rewardmodel.encoders.text import default_text_encoder
    from rewardmodel.gguf import gguf_to_safetensors, smollm2_gguf_path

    tokenizer = AutoTokenizer.from_pretrained(gguf_to_safetensors(smollm2_gguf_path(), args.cache))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=4096, intermediate_size=11008,
                         num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                         max_position_embeddings=4096)  # fmt: skip
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    n_params = sum(p.numel() for p in model.parameters())
    model.generation_config.min_new_tokens = args.max_new_tokens  # fixed length per turn
    lm = causal_lm_wrap(model, tokenizer, name="random-7b", device="cuda")
    encoder = default_text_encoder("cuda")
    units = [Unit(str(i), 0, "answer", f"{ANSWER} (item {i})", question="Describe the image.")
             for i in range(args.turns)]  # fmt: skip
    settings = RewriteSettings(batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                               temperature=0.7, seed=0)  # fmt: skip
    rewrite_units(lm, units[: args.batch_size], settings, GuardSettings(), embed=encoder.encode)
    torch.cuda.synchronize()
    start = time.perf_counter()
    results = rewrite_units(lm, units, settings, GuardSettings(), embed=encoder.encode)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    rate = len(results) / seconds
    total_turns = args.extrapolate * args.turns_per_item
    print(json.dumps({
        "gpu": torch.cuda.get_device_name(0),
        "params_b": round(n_params / 1e9, 2),
        "turns": len(results),
        "batch_size": args.batch_size,
        "new_tokens_per_turn": args.max_new_tokens,
        "seconds": round(seconds, 1),
        "turns_per_s": round(rate, 2),
        "items_extrapolated": args.extrapolate,
        "turns_per_item": args.turns_per_item,
        "hours_for_items": round(total_turns / rate / 3600, 2),
        "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()

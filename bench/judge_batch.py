"""Benchmark (CPU): the zero-shot cascade one (image, rule) at a time against the batched
cascade (``Judge.judge_batch``: each round's yes/no queries of every image and rule in one VLM
call), with the tiny random-initialised VLM, CLIP and OWLv2 the tests build.

Both paths judge the same images against the same rules with fresh judges; the decisions are
compared (verdicts and decided-by equal, every number of the trace within 2e-4). Reported:
items (images) per second of each path (median of alternated runs), the speed-up, VLM calls
and queries, and the machine's load average before and after. Prints one JSON line.

  OMP_NUM_THREADS=1 python bench/judge_batch.py --images 32 --rules 6 --batch 16
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.judge_gpu import constitution, image  # noqa: E402
from judge.cascade import Judge  # noqa: E402
from judge.checkpoints import build_clip, build_owlv2, build_vlm  # noqa: E402
from judge.config import JudgeConfig  # noqa: E402
from judge.hf import (  # noqa: E402
    ClipRelevanceSource,
    OwlDetectorSource,
    PilEditor,
    VisionLanguageSource,
)


class Counting:
    """The VLM with its calls and queries counted."""

    def __init__(self, vlm: VisionLanguageSource) -> None:
        self.vlm, self.name, self.calls, self.queries = vlm, vlm.name, 0, 0

    def yes_no(self, images: Any, prompts: Any) -> Any:
        self.calls += 1
        self.queries += len(images)
        return self.vlm.yes_no(images, prompts)

    def generate(self, image: Any, prompt: str, max_new_tokens: int) -> str:
        return self.vlm.generate(image, prompt, max_new_tokens)


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, abs_tol=2e-4)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--rules", type=int, default=6)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--chunk", type=int, default=16, help="images per judge_batch call")
    parser.add_argument("--reasoning-tokens", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="alternated runs; medians")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument(
        "--no-cascade", action="store_true", help="inconclusive checks by the fallback threshold"
    )
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="judge-batch-bench-"))
    vlm = VisionLanguageSource(str(build_vlm(root / "vlm")), device="cpu", batch_size=args.batch)
    clip = ClipRelevanceSource(str(build_clip(root / "clip")), device="cpu")
    owl = OwlDetectorSource(str(build_owlv2(root / "owl")), device="cpu")
    # the paper's thresholds; the relevance scan passes every rule (random CLIP cosines sit
    # near 0) so that the VLM is asked; reasoning kept short (it is not batched)
    config = JudgeConfig(
        relevance_threshold=-1.0,
        cascade=not args.no_cascade,
        reasoning_tokens=args.reasoning_tokens,
        verdict_tokens=args.reasoning_tokens,
    )
    rules = constitution(args.rules)
    pictures = [image(n).resize((args.size, args.size)) for n in range(args.images)]

    def judge(source: Counting) -> Judge:
        return Judge(source, relevance=clip, detector=owl, editor=PilEditor(), config=config)

    def one_at_a_time() -> tuple[float, Counting, list]:
        source = Counting(vlm)
        sequential = judge(source)
        started = time.perf_counter()
        rows = [[d.to_json() for d in sequential.judge_all(p, rules)] for p in pictures]
        return time.perf_counter() - started, source, rows

    def in_batches() -> tuple[float, Counting, list]:
        source = Counting(vlm)
        batched = judge(source)
        # an older checkout without the batched path (to measure "before"): the same path again
        run = getattr(
            batched, "judge_batch", lambda ims, rs: [batched.judge_all(i, rs) for i in ims]
        )
        started = time.perf_counter()
        rows = []
        for start in range(0, len(pictures), args.chunk):
            out = run(pictures[start : start + args.chunk], rules)
            rows.extend([d.to_json() for d in row] for row in out)
        return time.perf_counter() - started, source, rows

    # alternated, so that a change of the machine's load hits both paths alike
    times: dict[str, list[float]] = {"one": [], "many": []}
    for _ in range(args.repeat):
        one_s, one, expected = one_at_a_time()
        many_s, many, got = in_batches()
        times["one"].append(round(one_s, 2))
        times["many"].append(round(many_s, 2))
    one_s, many_s = statistics.median(times["one"]), statistics.median(times["many"])

    steps: dict[str, int] = {}
    for row in expected:
        for d in row:
            for p in d["trace"]["preconditions"]:
                for a in p["alternatives"]:
                    steps[a["decided_by"]] = steps.get(a["decided_by"], 0) + 1
    print(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                f"torch {torch.__version__}",
                "threads": torch.get_num_threads(),
                "images": args.images,
                "rules": args.rules,
                "batch": args.batch,
                "chunk": args.chunk,
                "batched_path": hasattr(Judge, "judge_batch"),
                "repeat": args.repeat,
                "cascade": not args.no_cascade,
                "checks_decided_by": steps,
                "one_at_a_time": {
                    "s": round(one_s, 2),
                    "runs_s": times["one"],
                    "items_per_s": round(args.images / one_s, 3),
                    "vlm_calls": one.calls,
                    "queries": one.queries,
                },
                "batched": {
                    "s": round(many_s, 2),
                    "runs_s": times["many"],
                    "items_per_s": round(args.images / many_s, 3),
                    "vlm_calls": many.calls,
                    "queries": many.queries,
                },
                "speedup": round(one_s / many_s, 2),
                "equal": _close(got, expected),
                "load_before": [round(x, 1) for x in load_before],
                "load_after": [round(x, 1) for x in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()

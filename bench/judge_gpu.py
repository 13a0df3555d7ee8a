"""Benchmark (GPU): seconds per image of the full zero-shot cascade at the paper's model sizes.

Random-initialised models built in memory on the GPU (nothing to download): a LLaVA-
architecture VLM with Qwen2-VL-7B's language model (hidden 3584, 28 layers, vocab 152k) behind a
ViT-L/14-336 tower (about 8 B parameters, bf16), a CLIP ViT-B/16-sized relevance model and an
OWLv2-base-sized detector (960 px). A 14-rule constitution (each rule 1-3 preconditions of 1-2
alternatives, central objects), synthetic 336-px images, every step on, the reasoning step
forced on ``--cot-share`` of the checks (``--cot-tokens`` + 48 verdict tokens each). Random
weights answer near 50/50, so the thresholds are set (relevance off, debiasing bounds at 0)
that every check asks the no-image and object-removal questions as well: the cost measured
is an upper bound of the paper's path. Timed one (image, rule) at a time (``judge_all``) and
batched (``judge_batch`` over all the images: each round's yes/no queries in one VLM call,
run ``--batch`` at a time); also the batched yes/no step alone (images x preconditions).

Prints one JSON line. Usage (one call on the GPU box):
  python bench/judge_gpu.py --images 16 --cot-share 0.25
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from judge.cascade import Judge  # noqa: E402
from judge.checkpoints import SEVEN_B, clip_objects, owlv2_objects, vlm_objects  # noqa: E402
from judge.config import JudgeConfig  # noqa: E402
from judge.hf import (  # noqa: E402
    ClipRelevanceSource,
    OwlDetectorSource,
    PilEditor,
    VisionLanguageSource,
)
from judge.rules import JudgeRule  # noqa: E402
from judge.sources import VISIBLE_PROMPT  # noqa: E402

OBJECTS = ["gun", "knife", "blood", "person", "red shape", "triangle", "circle"]


def constitution(n: int = 14, seed: int = 0) -> list[JudgeRule]:
    rng = random.Random(seed)
    rules = []
    for k in range(n):
        chain = tuple(
            tuple(
                f"a {rng.choice(OBJECTS)} {w}"
                for w in rng.sample(["visible", "held"], rng.randint(1, 2))
            )
            for _ in range(rng.randint(1, 3))
        )
        rules.append(
            JudgeRule(
                key=f"rule-{k}",
                text=f"No {rng.choice(OBJECTS)} may be visible.",
                preconditions=chain,
                central_objects=(rng.choice(OBJECTS),),
            )
        )
    return rules


def image(seed: int) -> Image.Image:
    rng = random.Random(seed)
    picture = Image.new("RGB", (336, 336), tuple(rng.randrange(200, 256) for _ in range(3)))
    draw = ImageDraw.Draw(picture)
    for _ in range(3):
        x, y = rng.randrange(0, 280), rng.randrange(0, 280)
        draw.ellipse(
            [x, y, x + rng.randrange(8, 56), y + rng.randrange(8, 56)],
            fill=tuple(rng.randrange(0, 256) for _ in range(3)),
        )
    return picture


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--rules", type=int, default=14)
    parser.add_argument("--cot-share", type=float, default=0.25)
    parser.add_argument("--cot-tokens", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    device = "cuda"
    started = time.perf_counter()
    vlm = VisionLanguageSource(
        "random-qwen2vl-7b-sized",
        device=device,
        batch_size=args.batch,
        loaded=vlm_objects(SEVEN_B, device=device, dtype="bfloat16"),
    )
    clip = ClipRelevanceSource(
        "random-clip-b16-sized",
        device=device,
        loaded=clip_objects(hidden=768, layers=12, heads=12, image_size=224, patch=16),
    )
    owl = OwlDetectorSource(
        "random-owlv2-base-sized",
        device=device,
        loaded=owlv2_objects(
            hidden=768, text_hidden=512, layers=12, heads=12, image_size=960, patch=16
        ),
    )
    build_s = time.perf_counter() - started
    params = sum(p.numel() for p in vlm.model.parameters())
    config = JudgeConfig(
        relevance=False,
        debias_low=0.0,
        debias_high=1.0,
        removal_margin=1.0,
        detection_confidence=0.0,
        cascade=False,
        force_cascade_share=args.cot_share,
        reasoning_tokens=args.cot_tokens,
    )
    judge = Judge(vlm, relevance=clip, detector=owl, editor=PilEditor(), config=config)
    rules = constitution(args.rules)
    pictures = [image(i) for i in range(args.images + 1)]
    judge.judge_all(pictures[-1], rules[:2])  # warm-up (kernels, allocator)
    torch.cuda.synchronize()
    steps: dict[str, int] = {}
    started = time.perf_counter()
    for picture in pictures[:-1]:
        clip.similarity(picture, [r.scan_text for r in rules])  # the scan, timed though off
        for decision in judge.judge_all(picture, rules):
            for entry in decision.trace["preconditions"]:
                for alt in entry["alternatives"]:
                    for step in alt["steps"]:
                        steps[step["step"]] = steps.get(step["step"], 0) + 1
    torch.cuda.synchronize()
    cascade_s = (time.perf_counter() - started) / args.images
    # the batched cascade: every image's (image, rule) checks in lockstep, one VLM call a round
    batch_judge = Judge(vlm, relevance=clip, detector=owl, editor=PilEditor(), config=config)
    started = time.perf_counter()
    batch_judge.judge_batch(pictures[:-1], rules)
    torch.cuda.synchronize()
    cascade_batched_s = (time.perf_counter() - started) / args.images
    contents = [a for r in rules for p in r.chain for a in p]
    started = time.perf_counter()
    pairs = [(p, c) for p in pictures[:-1] for c in contents]
    vlm.yes_no([p for p, _ in pairs], [VISIBLE_PROMPT.format(content=c) for _, c in pairs])
    torch.cuda.synchronize()
    batched_s = (time.perf_counter() - started) / args.images
    print(
        json.dumps(
            {
                "bench": "judge_gpu",
                "device": torch.cuda.get_device_name(0),
                "vlm_parameters_b": round(params / 1e9, 2),
                "images": args.images,
                "rules": args.rules,
                "contents_per_image": len(contents),
                "cot_share": args.cot_share,
                "cot_tokens": args.cot_tokens,
                "build_s": round(build_s, 1),
                "seconds_per_image_cascade": round(cascade_s, 2),
                "seconds_per_image_cascade_batched": round(cascade_batched_s, 2),
                "seconds_per_image_yes_no_batched": round(batched_s, 3),
                "steps": steps,
                "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1),
            }
        )
    )


if __name__ == "__main__":
    main()

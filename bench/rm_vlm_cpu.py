"""VLM reward model on this machine's CPU: training steps/s and scoring items/s of a tiny
random LLaVA (the tests' checkpoint: CLIP 32 px / 16 image tokens, 2-layer 32-wide Llama) and
a small one (CLIP 224 px / 49 image tokens, 4-layer 256-wide Llama), so regressions show.

One thread, meant to run niced: `OMP_NUM_THREADS=1 nice -n 10 python bench/rm_vlm_cpu.py`.
Prints one JSON line per size.
Usage: PYTHONPATH=. python bench/rm_vlm_cpu.py [--steps 10] [--items 64] [--sizes tiny,small]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from rewardmodel.configs import VLMTrainConfig
from rewardmodel.vlm import Pair, Sample, score_samples, vlm_reward_model_load, vlm_train
from tests.tiny_vlms import COLOURS, colour_image, tiny_llava


def small_llava(path: Path) -> Path:
    """tiny_llava's processor, wider and deeper weights (224 px images, patch 32: 49 tokens)."""
    from transformers import (
        CLIPImageProcessor,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,  # fmt: skip
    )

    tiny_llava(path)
    processor = LlavaProcessor.from_pretrained(path)
    processor.image_processor = CLIPImageProcessor(
        size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
    )
    processor.patch_size = 32
    tokenizer = processor.tokenizer
    config = LlavaConfig(
        vision_config={"model_type": "clip_vision_model", "hidden_size": 256,
                       "intermediate_size": 1024, "num_hidden_layers": 4,
                       "num_attention_heads": 4, "image_size": 224, "patch_size": 32},
        text_config={"model_type": "llama", "vocab_size": len(tokenizer), "hidden_size": 256,
                     "intermediate_size": 1024, "num_hidden_layers": 4,
                     "num_attention_heads": 4, "num_key_value_heads": 4,
                     "max_position_embeddings": 512, "pad_token_id": 0},
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default", vision_feature_layer=-1,
    )  # fmt: skip
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(path)
    processor.save_pretrained(path)
    return path


def task(n: int, size: int) -> tuple[list[Sample], list[Pair]]:
    samples, pairs = [], []
    for k in range(n):
        colour, wrong = COLOURS[k % 4], COLOURS[(k + 1) % 4]
        image = colour_image(colour, size=size, seed=k)
        question = ("user", "what colour is the image ?")
        samples.append(Sample((question, ("assistant", f"it is {colour}")), image))
        samples.append(Sample((question, ("assistant", f"it is {wrong}")), image))
        pairs.append(Pair(2 * k, 2 * k + 1))
    return samples, pairs


def measure(name: str, path: Path, image_size: int, steps: int, items: int) -> dict:
    samples, pairs = task(max(items // 2, 8), image_size)
    config = VLMTrainConfig(lr=1e-3, steps=steps, batch_size=8, micro_batch_size=8, lora_r=8,
                            max_length=256, eval_every=10**6, checkpoint_every=10**6,
                            gradient_checkpointing=True)  # fmt: skip
    model = vlm_reward_model_load(path, config=config)
    vlm_train(model, samples, pairs, config=config.__class__(**{**config.__dict__, "steps": 1}))
    start = time.perf_counter()
    vlm_train(model, samples, pairs, config=config)
    train_s = time.perf_counter() - start
    score_samples(model, samples[:8], batch_size=8)  # warm
    start = time.perf_counter()
    score_samples(model, samples[:items], batch_size=16, max_length=256)
    score_s = time.perf_counter() - start
    return {
        "bench": "rm_vlm_cpu",
        "size": name,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "params": sum(p.numel() for p in model.parameters()),
        "train_steps_per_s": round(steps / train_s, 3),
        "train_pairs_per_s": round(steps * 8 / train_s, 2),
        "score_items_per_s": round(items / score_s, 2),
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} {platform.python_version()} torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--sizes", default="tiny,small")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sizes.split(","):
            build, image_size = {"tiny": (tiny_llava, 32), "small": (small_llava, 224)}[name]
            path = build(Path(tmp) / name)
            print(json.dumps(measure(name, path, image_size, args.steps, args.items)), flush=True)


if __name__ == "__main__":
    main()

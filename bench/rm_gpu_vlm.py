"""VLM reward model on one GPU at LLaVA-1.5-7B size (random init: no download).

CLIP ViT-L/14 at 336 px (576 image tokens) + Llama-7B dimensions (4096 wide, 32 layers,
11008 MLP, 32k vocabulary), LoRA r=16 on the language model's attention and MLP projections,
frozen vision tower and projector, bf16 weights, fp32 adapters under bf16 autocast, gradient
checkpointing, SDPA (flash-attention 2 when installed); ~256 text tokens per sample. Prints one
JSON line: training pairs/s, scoring items/s, peak memory, model FLOPs utilisation against the
GPU's bf16 dense peak, and the time extrapolated to score 158k items and to train on 10k pairs
(one epoch). ``--tiny`` shrinks everything so the script can be checked on CPU.

Model FLOPs (MFU counts no recomputation): a token through the language model costs
2 x its parameters forward, and with frozen weights training costs forward + input-gradient
backward = 4 x parameters per token; attention adds 4 x layers x seq x width per token
forward (x2 in training); each image costs 2 x the vision tower's parameters x 577 tokens
forward only (frozen, nothing flows back into it).

Usage: PYTHONPATH=. python bench/rm_gpu_vlm.py [--steps 30] [--pairs 8] [--score 256]
       [--peak-tflops 989] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time

import torch

from rewardmodel.configs import VLMTrainConfig
from rewardmodel.vlm import Pair, Sample, score_samples, vlm_reward_model_wrap, vlm_train
from tests.tiny_vlms import COLOURS, WORDS, colour_image, word_tokenizer

# bf16 dense peak (no sparsity) by device name
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0}


def build(tiny: bool, device: torch.device):
    from transformers import (
        CLIPImageProcessor,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,  # fmt: skip
    )

    tokenizer = word_tokenizer("llava")
    size, patch = (56, 14) if tiny else (336, 14)
    image_processor = CLIPImageProcessor(size={"shortest_edge": size},
                                         crop_size={"height": size, "width": size})  # fmt: skip
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer,
                               patch_size=patch, vision_feature_select_strategy="default",
                               num_additional_image_tokens=1,
                               chat_template=tokenizer.chat_template)  # fmt: skip
    vision = (
        {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 4}
        if tiny
        else {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
              "num_attention_heads": 16}
    )  # fmt: skip
    text = (
        {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 4}
        if tiny
        else {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
              "num_attention_heads": 32, "num_key_value_heads": 32}
    )  # fmt: skip
    config = LlavaConfig(
        vision_config={"model_type": "clip_vision_model", "image_size": size,
                       "patch_size": patch, "projection_dim": 768, **vision},
        text_config={"model_type": "llama", "vocab_size": 32064,
                     "max_position_embeddings": 4096, "pad_token_id": 0, **text},
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default", vision_feature_layer=-2,
    )  # fmt: skip
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    config._attn_implementation = _attention()
    torch.manual_seed(0)
    with torch.device(device):
        model = LlavaForConditionalGeneration._from_config(config, dtype=dtype)
    return model, processor, config


def _attention() -> str:
    from rewardmodel.vlm import attention_implementation

    return attention_implementation()


def samples_of(n: int, words: int, size: int) -> tuple[list[Sample], list[Pair]]:
    rng = random.Random(0)
    samples, pairs = [], []
    for k in range(n):
        colour = COLOURS[k % len(COLOURS)]
        image = colour_image(colour, size=size, seed=k)
        question = ("user", " ".join(rng.choice(WORDS) for _ in range(words // 4)))
        answer = " ".join(rng.choice(WORDS) for _ in range(words - words // 4))
        samples.append(Sample((question, ("assistant", f"{answer} {colour}")), image))
        samples.append(Sample((question, ("assistant", f"{answer} red")), image))
        pairs.append(Pair(2 * k, 2 * k + 1))
    return samples, pairs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--pairs", type=int, default=8, help="pairs per step (global batch)")
    parser.add_argument("--micro", type=int, default=8, help="pairs per forward pass")
    parser.add_argument("--score", type=int, default=256, help="items to score")
    parser.add_argument("--score-batch", type=int, default=32)
    parser.add_argument("--text-words", type=int, default=240, help="~tokens of text")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    started = time.perf_counter()
    full, processor, hf = build(args.tiny, device)
    config = VLMTrainConfig(lr=1e-4, steps=args.steps, batch_size=args.pairs,
                            micro_batch_size=args.micro, lora_r=16, lora_alpha=32,
                            max_length=2048, eval_every=10**6, checkpoint_every=10**6,
                            gradient_checkpointing=True, bf16=True)  # fmt: skip
    model = vlm_reward_model_wrap(full, processor, config=config, device=device)
    del full
    build_s = time.perf_counter() - started
    size = hf.vision_config.image_size
    samples, pairs = samples_of(max(args.score // 2, args.pairs * 2), args.text_words, size)
    from rewardmodel.vlm import collate

    seq = int(collate(model, samples[:1], max_length=4096)["input_ids"].shape[1])

    warm = VLMTrainConfig(**{**config.__dict__, "steps": 2})
    vlm_train(model, samples, pairs, config=warm)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    vlm_train(model, samples, pairs, config=config)
    if device.type == "cuda":
        torch.cuda.synchronize()
    train_s = time.perf_counter() - start
    train_peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None

    score_samples(model, samples[: args.score_batch], batch_size=args.score_batch,
                  max_length=4096)  # fmt: skip
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    score_samples(model, samples[: args.score], batch_size=args.score_batch, max_length=4096)
    if device.type == "cuda":
        torch.cuda.synchronize()
    score_s = time.perf_counter() - start
    score_peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None

    lm = model.backbone.language_model
    n_lm = sum(p.numel() for n, p in lm.named_parameters() if "lora_" not in n)
    n_lm -= lm.embed_tokens.weight.numel()  # a lookup, not a matmul
    n_vis = sum(p.numel() for p in model.backbone.vision_tower.parameters())
    text_cfg = hf.text_config
    attention = 4 * text_cfg.num_hidden_layers * seq * text_cfg.hidden_size  # per token, fwd
    image_tokens = (size // hf.vision_config.patch_size) ** 2 + 1
    forward_item = 2 * n_lm * seq + attention * seq + 2 * n_vis * image_tokens
    train_item = 2 * (2 * n_lm * seq + attention * seq) + 2 * n_vis * image_tokens
    pairs_per_s = args.steps * args.pairs / train_s
    items_per_s = args.score / score_s
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor()
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    result = {
        "bench": "rm_gpu_vlm",
        "device": name,
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "attention": _attention(),
        "tiny": args.tiny,
        "language_params": n_lm,
        "vision_params": n_vis,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "sequence_tokens": seq,
        "image_tokens": image_tokens - 1,
        "build_s": round(build_s, 1),
        "train_pairs_per_s": round(pairs_per_s, 2),
        "train_peak_gib": None if train_peak is None else round(train_peak, 1),
        "score_items_per_s": round(items_per_s, 2),
        "score_peak_gib": None if score_peak is None else round(score_peak, 1),
        "train_tflops": round(pairs_per_s * 2 * train_item / 1e12, 1),
        "score_tflops": round(items_per_s * forward_item / 1e12, 1),
        "hours_to_score_158k": round(158_000 / items_per_s / 3600, 2),
        "hours_to_train_10k_pairs": round(10_000 / pairs_per_s / 3600, 2),
    }
    if peak:
        result["mfu_train"] = round(result["train_tflops"] / peak, 3)
        result["mfu_score"] = round(result["score_tflops"] / peak, 3)
        result["peak_tflops"] = peak
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

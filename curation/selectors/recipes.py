"""What each training recipe is for, the hardware it needs and how long it takes (figures
from `bench/` scripts, recorded in docs/benchmarks.md), for the runs page."""

from __future__ import annotations

from typing import Any

from django.conf import settings

RECIPES: tuple[dict[str, str], ...] = (
    {
        "trainer": "item",
        "name": "Item (default)",
        "purpose": "One score per (question, answer) turn from frozen text and image features "
        "(MiniLM, EfficientNet + colour); an item scores by its worst turn. Strong on text "
        "defects; it checks the colours an answer names against the image's, but no other "
        "content of a photo (objects, counts, positions).",
        "hardware": "CPU (2 cores are enough).",
        "time": "Measured: 6,000 demo items imported, trained and scored in 35 s on 2 CPU "
        "cores with their features cached (bench/rm_quality_e2e.py).",
    },
    {
        "trainer": "vlm",
        "name": "VLM",
        "purpose": "A vision-language checkpoint you name (LLaVA, Qwen2-VL, Idefics3/SmolVLM, "
        "...) reads image and conversation together; LoRA and a value head learn the "
        "annotators' item preferences. For answers that must be checked against the image.",
        "hardware": "A GPU worker (a 7B LLaVA needs one 80 GB-class GPU, or several for data "
        "parallel); the checkpoint must be on the workers (a path or the hub cache).",
        "time": "Measured on one CPU thread (8 pairs per step, bench/rm_vlm_cpu.py): a 54k-"
        "parameter test LLaVA trains at {tiny_steps} steps/s and scores {tiny_score} items/s; "
        "an 8.5M-parameter one at {small_steps} steps/s and {small_score} items/s. CPU is for "
        "trying the recipe, not for real checkpoints. GPU figures for a 7B LLaVA are not "
        "measured yet (bench/rm_gpu_vlm.py is ready).",
    },
)
# Measured by bench/rm_vlm_cpu.py (docs/benchmarks.md).
CPU_FIGURES = {"tiny_steps": "0.70", "tiny_score": "55", "small_steps": "0.062",
               "small_score": "3.1"}  # fmt: skip


def recipe_guide() -> list[dict[str, Any]]:
    """The recipes, and where their work runs in this deployment."""
    gpu = bool(settings.ARBITER_GPU_QUEUE)
    where = (
        "Runs on the GPU workers (the 'gpu' queue)."
        if gpu
        else "This deployment has no GPU queue (ARBITER_GPU_QUEUE is off): runs go to the CPU "
        "workers."
    )
    return [
        {**recipe, "time": recipe["time"].format(**CPU_FIGURES), "where": where}
        for recipe in RECIPES
    ]

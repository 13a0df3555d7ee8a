"""The item recipe's configuration: training (`ItemTrainConfig`) and item-pair construction
(`ItemPairsConfig`). Every tunable field is a `param` with its bounds and help, the one source
of defaults and bounds for the library, the API and the runs page (see `rewardmodel.params`).
No torch import, so the web process can validate and document these.
"""

from __future__ import annotations

from dataclasses import dataclass

from rewardmodel.params import check_params, param, params_schema


@dataclass(frozen=True)
class ItemTrainConfig:
    lr: float = param(3e-4, low=1e-6, high=1.0, help="AdamW learning rate.")
    epochs: int = param(60, low=1, high=1000, help="Passes over the training item pairs.")
    batch_size: int = param(256, low=1, high=65536, help="Pairs per step (of each kind).")
    weight_decay: float = param(0.05, low=0.0, high=1.0, help="AdamW weight decay.")
    seed: int = param(0, low=0, high=2**31 - 1, help="Fixes split, init and batches.")
    center_coef: float = param(1e-2, low=0.0, high=10.0, help="Keeps rewards centred on 0.")
    eval_fraction: float = param(
        0.15, low=0.0, high=0.9, help="Share of items held out for validation (split by item)."
    )
    hidden: int = param(32, low=4, high=8192, help="Width of the head's hidden layer.")
    dropout: float = param(0.5, low=0.0, high=0.9, help="Dropout in the head.")
    temperature: float = param(
        0.3,
        low=1e-3,
        high=10.0,
        help="Soft-minimum temperature over an item's turns in training (small = hard min: "
        "all gradient to the worst turn).",
    )
    candidate_weight: float = param(
        1.0, low=0.0, high=100.0, help="Weight of the in-item candidate pairs."
    )
    patience: int | None = param(
        15,
        low=0,
        high=1_000_000,
        help="Stop after this many validations without improvement (0 or null: never); the "
        "best weights are kept either way.",
    )
    eval_every: int = param(10, low=1, high=1_000_000, help="Steps between validations.")
    checkpoint_every: int = param(
        100, low=1, high=1_000_000, help="Steps between checkpoints (a run resumes from one)."
    )
    standardise: bool = param(True, exposed=False)
    # colour-term grounding (``rewardmodel.colour_terms``): the text and image rows end with the
    # colour-term columns, which the head compares; set by the caller from its encoders
    colour_grounding: bool = param(False, exposed=False)
    # image-text alignment learned from every side's (image, turn) features before the head
    # trains (see ``rewardmodel.alignment``); 0 = off. The column ranges pick what it reads.
    align_dim: int = param(0, low=0, high=4096, exposed=False)
    align_image_cols: tuple[int, int] | None = None
    align_text_cols: tuple[int, int] | None = None
    align_steps: int = param(800, low=1, high=1_000_000, exposed=False)

    def __post_init__(self) -> None:
        check_params(self)
        if self.patience == 0:
            object.__setattr__(self, "patience", None)  # 0 turns early stopping off


@dataclass(frozen=True)
class ItemPairsConfig:
    """Which items form training pairs (``item_training.item_pairs_from_scores``)."""

    item_min_gap: float = param(
        0.3,
        low=0.0,
        high=1.0,
        help="Two items form a pair when their scores (mean of their rescaled ratings, yes/no "
        "answers and rule compliance, in [0, 1]) differ by at least this.",
    )
    item_pairs_per_item: int = param(12, low=1, high=1000, help="Others drawn per item.")

    def __post_init__(self) -> None:
        check_params(self)


def item_recipe_schema() -> dict:
    """The parameters a caller may set for the item recipe, with types, defaults and bounds."""
    return params_schema(ItemTrainConfig, ItemPairsConfig)


@dataclass(frozen=True)
class VLMTrainConfig:
    """The VLM recipe: a vision-language (or text-only) checkpoint with LoRA on its language
    model and a scalar value head, trained on item pairs (``rewardmodel.vlm``). The backbone
    itself (hub name or local path) is named beside these, like the head recipe's encoders."""

    lr: float = param(1e-4, low=1e-7, high=1.0, help="AdamW learning rate (adapter and head).")
    steps: int = param(300, low=1, high=1_000_000, help="Optimiser steps.")
    batch_size: int = param(8, low=1, high=4096, help="Pairs per optimiser step (global).")
    micro_batch_size: int = param(
        4, low=1, high=4096, help="Pairs per forward pass; steps accumulate gradients over them."
    )
    max_length: int = param(
        1024, low=16, high=32768, help="Tokens per sequence (image tokens included)."
    )
    lora_r: int = param(16, low=1, high=1024, help="LoRA rank on the language model.")
    lora_alpha: int = param(32, low=1, high=4096, help="LoRA scaling (alpha / r).")
    lora_dropout: float = param(0.0, low=0.0, high=0.9, help="Dropout on the LoRA input.")
    train_projector: bool = param(
        False, help="Also train the vision-to-language projector (fully)."
    )
    margin_scale: float = param(
        1.0, low=0.0, high=100.0, help="Weight of a pair's score gap as its Bradley-Terry margin."
    )
    center_coef: float = param(1e-2, low=0.0, high=10.0, help="Keeps rewards centred on 0.")
    weight_decay: float = param(0.0, low=0.0, high=1.0, help="AdamW weight decay.")
    seed: int = param(0, low=0, high=2**31 - 1, help="Fixes split, init and batches.")
    eval_fraction: float = param(
        0.15, low=0.0, high=0.9, help="Share of items held out for validation (split by item)."
    )
    eval_every: int = param(25, low=1, high=1_000_000, help="Steps between validations.")
    checkpoint_every: int = param(
        25, low=1, high=1_000_000, help="Steps between checkpoints (a run resumes from one)."
    )
    patience: int | None = param(
        None, low=0, high=1_000_000, help="Stop after this many validations without "
        "improvement (0 or null: never); the best weights are kept either way.",
    )  # fmt: skip
    gradient_checkpointing: bool = param(
        True, help="Recompute activations in the backward pass (less memory, ~30% slower)."
    )
    bf16: bool = param(True, help="bf16 weights and autocast on CUDA (ignored on CPU).")

    def __post_init__(self) -> None:
        check_params(self)
        if self.patience == 0:
            object.__setattr__(self, "patience", None)
        if self.batch_size % self.micro_batch_size:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of micro_batch_size "
                f"({self.micro_batch_size})"
            )


def vlm_recipe_schema() -> dict:
    """The parameters a caller may set for the VLM recipe (besides ``backbone``)."""
    return params_schema(VLMTrainConfig, ItemPairsConfig)

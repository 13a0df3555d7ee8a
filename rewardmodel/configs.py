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

"""Item-level (multiple-instance) training of the reward head through the min over turns.

Annotators judge whole items, but a defect sits in one turn. Spreading an item's label onto
every turn pushes its clean turns down too, which is label
noise on top of the annotators' own. Here an item's reward is a soft minimum over its turns,
the same aggregate ``conversation.aggregate_item_scores`` uses at scoring time, and the
Bradley-Terry loss is taken on item rewards: the gradient flows mostly into the worst turn,
the one the model blames for the verdict. Within-item candidate pairs (turn level) are trained
alongside. The result is a plain ``RewardHead`` (with input standardisation folded into its
first layers), so ``score_features``/``reward_model_save`` work on it unchanged.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from rewardmodel.alignment import AlignConfig, train_alignment
from rewardmodel.colour_terms import N_TERMS, N_TEXT_COLUMNS
from rewardmodel.configs import ItemTrainConfig
from rewardmodel.evaluation import pairwise_accuracy, split_by_item
from rewardmodel.features import FeatureLoader, FeatureRef
from rewardmodel.heads import HeadConfig, RewardHead
from rewardmodel.losses import bradley_terry_loss
from rewardmodel.pairs import PreferencePair, training_fingerprint
from rewardmodel.training import LoopSettings, ProgressCallback, TrainResult, training_loop


@dataclass(frozen=True)
class ItemPair:
    """``chosen`` item judged better than ``rejected`` (both keys of ``item_sides``)."""

    chosen: str
    rejected: str
    margin: float = 0.0
    source: str = "rating-difference"


def item_pairs_from_scores(
    item_scores: Mapping[str, float],
    *,
    min_gap: float,
    others_per_item: int = 12,
    seed: int = 0,
) -> list[ItemPair]:
    """Pairs of items whose (e.g. mean annotator) scores differ by at least ``min_gap``."""
    rng = np.random.default_rng(seed)
    ids = list(item_scores)
    out: list[ItemPair] = []
    if len(ids) < 2:
        return out
    for item in ids:
        for j in rng.choice(len(ids), size=min(others_per_item, len(ids)), replace=False):
            other = ids[int(j)]
            if other != item and item_scores[item] - item_scores[other] >= min_gap:
                out.append(ItemPair(item, other))
    return out


@dataclass(frozen=True)
class _ItemTensors:
    """Items as rows of side indices (``members``, valid where ``mask``); item pairs (``ic``,
    ``ir``, margins ``im``) and turn pairs (``tc``, ``tr``, ``tm``) as indices; standardised
    features of every side."""

    members: torch.Tensor
    mask: torch.Tensor
    ic: torch.Tensor
    ir: torch.Tensor
    im: torch.Tensor
    tc: torch.Tensor
    tr: torch.Tensor
    tm: torch.Tensor
    z_img: torch.Tensor
    z_txt: torch.Tensor


class _ItemProblem:
    """Bradley-Terry on item rewards (soft minimum over turns) plus turn pairs, for the loop.

    Batches are drawn with replacement from one generator seeded by ``config.seed``; its state
    goes into checkpoints (with torch's RNG for dropout, which the loop saves).
    """

    def __init__(
        self,
        head: RewardHead,
        data: _ItemTensors,
        config: ItemTrainConfig,
        item_train: np.ndarray,
        turn_train: np.ndarray,
        item_eval: np.ndarray,
        turn_eval: np.ndarray,
    ) -> None:
        self.head, self.data, self.config = head, data, config
        self.item_train, self.turn_train = (
            torch.from_numpy(item_train),
            torch.from_numpy(turn_train),
        )
        self.item_eval, self.turn_eval = item_eval, turn_eval
        self.generator = torch.Generator().manual_seed(config.seed)

    def item_rewards(self, rows: torch.Tensor) -> torch.Tensor:
        d = self.data
        unique, inverse = torch.unique(d.members[rows][d.mask[rows]], return_inverse=True)
        per_side = self.head(d.z_img[unique], d.z_txt[unique]).overall
        table = torch.zeros(d.mask[rows].shape)
        table[d.mask[rows]] = per_side[inverse]
        return _soft_min(table, d.mask[rows], self.config.temperature)

    def turn_rewards(self, sides: torch.Tensor) -> torch.Tensor:
        return self.head(self.data.z_img[sides], self.data.z_txt[sides]).overall

    def step_loss(self, step: int) -> torch.Tensor:
        d, config = self.data, self.config
        loss = torch.zeros(())
        if len(self.item_train):
            pick = self.item_train[self._draw(len(self.item_train))]
            loss = loss + bradley_terry_loss(
                self.item_rewards(d.ic[pick]), self.item_rewards(d.ir[pick]), d.im[pick],
                config.center_coef,
            )  # fmt: skip
        if len(self.turn_train):
            pick = self.turn_train[self._draw(len(self.turn_train))]
            loss = loss + config.candidate_weight * bradley_terry_loss(
                self.turn_rewards(d.tc[pick]), self.turn_rewards(d.tr[pick]), d.tm[pick],
                config.center_coef,
            )  # fmt: skip
        return loss

    def _draw(self, n: int) -> torch.Tensor:
        return torch.randint(n, (self.config.batch_size,), generator=self.generator)

    def validate(self) -> float | None:
        return self.accuracy(self.item_eval, self.turn_eval)

    def accuracy(self, item_idx: np.ndarray, turn_idx: np.ndarray) -> float | None:
        """Pairwise accuracy over item pairs and turn pairs ``item_idx``/``turn_idx``."""
        d = self.data
        chosen, rejected = [], []
        if len(item_idx):
            idx = torch.from_numpy(item_idx)
            chosen.append(self.item_rewards(d.ic[idx]))
            rejected.append(self.item_rewards(d.ir[idx]))
        if len(turn_idx):
            idx = torch.from_numpy(turn_idx)
            chosen.append(self.turn_rewards(d.tc[idx]))
            rejected.append(self.turn_rewards(d.tr[idx]))
        if not chosen:
            return None
        return pairwise_accuracy(torch.cat(chosen).numpy(), torch.cat(rejected).numpy())

    def sampler_state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_sampler_state(self, checkpoint: dict[str, Any]) -> None:
        self.generator.set_state(checkpoint["generator"])


def _soft_min(rewards: torch.Tensor, mask: torch.Tensor, temperature: float) -> torch.Tensor:
    # -T * logsumexp(-r / T) over the valid turns of each row
    scaled = (-rewards / temperature).masked_fill(~mask, float("-inf"))
    return -temperature * torch.logsumexp(scaled, dim=1)


def _grounding_columns(
    config: ItemTrainConfig, image_dim: int, text_dim: int
) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """The colour-term columns closing the text and image rows, when grounding is on."""
    if not config.colour_grounding:
        return None, None
    if image_dim < N_TERMS or text_dim < N_TEXT_COLUMNS:
        raise ValueError("colour grounding needs features with colour-term columns")
    return (text_dim - N_TEXT_COLUMNS, text_dim), (image_dim - N_TERMS, image_dim)


def _fold_standardisation(head: RewardHead, mean: torch.Tensor, std: torch.Tensor) -> None:
    """Make ``head`` accept raw features: Linear(W, b) on (x - m) / s == Linear(W / s, b')."""
    split = head.config.image_dim
    layers = [(head.text_proj[0], slice(split, None))]
    if split > 0:  # an image-less head feeds a constant zero column, nothing to fold
        layers.append((head.image_proj[0], slice(0, split)))
    if head.alignment is not None:
        (i0, i1), (t0, t1) = head.alignment.image_cols, head.alignment.text_cols
        layers.append((head.alignment.image_map, slice(i0, i1)))
        layers.append((head.alignment.text_map, slice(split + t0, split + t1)))
    with torch.no_grad():
        for layer, cols in layers:
            m, s = mean[cols], std[cols]
            # a grounded head's text layer also reads the grounding after the features
            weight = layer.weight[:, : len(m)]
            weight.div_(s)
            layer.bias.sub_(weight @ m)


def train_item_reward_head(
    item_sides: Mapping[str, Sequence[FeatureRef]],
    item_pairs: Sequence[ItemPair],
    load_features: FeatureLoader,
    *,
    turn_pairs: Sequence[PreferencePair] = (),
    config: ItemTrainConfig | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = True,
    progress: ProgressCallback | None = None,
    log_every: int = 10,
    keep_checkpoints: int = 2,
) -> TrainResult:
    """Train a ``RewardHead`` whose item reward (soft-min over ``item_sides``) fits the pairs.

    ``item_sides[i]``: the refs standing for item ``i`` (its turns; a candidate turn by its
    best-ranked candidate). ``turn_pairs``: turn-level pairs (e.g. ``candidate_pairs``).
    A fraction of items (``config.eval_fraction``, by item hash) is held out for validation;
    the weights with the best validation accuracy are returned.

    Through ``training.training_loop``: with ``checkpoint_dir``, a checkpoint is written every
    ``config.checkpoint_every`` steps and (``resume=True``) training continues from the last
    one, bit-identical to an uninterrupted run; ``progress(step, total, loss, val_acc)`` is
    called every ``log_every`` steps, and returning False stops after a checkpoint.
    """
    config = config or ItemTrainConfig()
    if not item_pairs and not turn_pairs:
        raise ValueError("nothing to train on: no item or turn pairs")
    for p in item_pairs:
        if p.chosen not in item_sides or p.rejected not in item_sides:
            raise ValueError(f"item pair {p} names an item without sides")
    torch.manual_seed(config.seed)
    side_index: dict[FeatureRef, int] = {}
    for refs in item_sides.values():
        for ref in refs:
            side_index.setdefault(ref, len(side_index))
    for p in turn_pairs:
        side_index.setdefault(p.chosen, len(side_index))
        side_index.setdefault(p.rejected, len(side_index))
    refs_all = list(side_index)
    images_np, texts_np = load_features(refs_all)
    images = torch.from_numpy(np.ascontiguousarray(images_np, dtype=np.float32))
    texts = torch.from_numpy(np.ascontiguousarray(texts_np, dtype=np.float32))
    image_dim = int(images.shape[1])

    item_ids = sorted({p.chosen for p in item_pairs} | {p.rejected for p in item_pairs})
    item_row = {item: n for n, item in enumerate(item_ids)}
    width = max((len(item_sides[i]) for i in item_ids), default=1)
    members = torch.zeros((len(item_ids), width), dtype=torch.long)
    mask = torch.zeros((len(item_ids), width), dtype=torch.bool)
    for item, n in item_row.items():
        rows = [side_index[r] for r in item_sides[item]]
        members[n, : len(rows)] = torch.tensor(rows)
        mask[n, : len(rows)] = True
    ic = torch.tensor([item_row[p.chosen] for p in item_pairs], dtype=torch.long)
    ir = torch.tensor([item_row[p.rejected] for p in item_pairs], dtype=torch.long)
    im = torch.tensor([p.margin for p in item_pairs], dtype=torch.float32)
    tc = torch.tensor([side_index[p.chosen] for p in turn_pairs], dtype=torch.long)
    tr = torch.tensor([side_index[p.rejected] for p in turn_pairs], dtype=torch.long)
    tm = torch.tensor([p.margin for p in turn_pairs], dtype=torch.float32)

    item_train, item_eval = split_by_item(
        [(p.chosen, p.rejected) for p in item_pairs], config.eval_fraction, config.seed
    )
    turn_train, turn_eval = split_by_item(
        [p.items for p in turn_pairs], config.eval_fraction, config.seed
    )
    item_train_t, turn_train_t = torch.from_numpy(item_train), torch.from_numpy(turn_train)

    features = torch.cat([images, texts], dim=1)
    if config.standardise:
        # statistics over the sides the training pairs touch only (no validation leakage
        # matters little here, but it keeps the split clean)
        used = torch.unique(
            torch.cat(
                [
                    members[ic[item_train_t]][mask[ic[item_train_t]]],
                    members[ir[item_train_t]][mask[ir[item_train_t]]],
                    tc[turn_train_t],
                    tr[turn_train_t],
                ]
            )  # fmt: skip
        )
        mean = features[used].mean(0) if len(used) else features.mean(0)
        std = (features[used].std(0) if len(used) > 1 else features.std(0)).clamp_min(1e-4)
    else:
        mean = torch.zeros(features.shape[1])
        std = torch.ones(features.shape[1])
    ground_text, ground_image = _grounding_columns(config, image_dim, int(texts.shape[1]))
    if ground_text is not None and ground_image is not None:
        # the head compares these columns as they are (flags and shares): never standardised
        for start, end in (ground_image, (image_dim + ground_text[0], image_dim + ground_text[1])):
            mean[start:end], std[start:end] = 0.0, 1.0
    z = (features - mean) / std
    z_img, z_txt = z[:, :image_dim], z[:, image_dim:]

    head = RewardHead(
        HeadConfig(
            image_dim=image_dim,
            text_dim=int(texts.shape[1]),
            hidden=config.hidden,
            dropout=config.dropout,
            align_dim=config.align_dim,
            align_image_cols=config.align_image_cols,
            align_text_cols=config.align_text_cols,
            ground_text_cols=ground_text,
            ground_image_cols=ground_image,
        )  # fmt: skip
    )
    if head.config.grounded and len(features):
        with torch.no_grad():
            grounding = head.grounding(z_img, z_txt)
            head.ground_mean.copy_(grounding.mean(0))
            # a column that never varies (no answer negates) keeps a unit scale
            head.ground_std.copy_(grounding.std(0).nan_to_num(1.0).clamp_min(0.05))
    if head.alignment is not None:
        with_image = [n for n, ref in enumerate(refs_all) if ref.image_key is not None]
        rows = torch.tensor(with_image, dtype=torch.long)
        alignment = train_alignment(
            z_img[rows],
            z_txt[rows],
            [refs_all[n].image_key for n in with_image],
            image_cols=head.alignment.image_cols,
            text_cols=head.alignment.text_cols,
            config=AlignConfig(dim=config.align_dim, steps=config.align_steps, seed=config.seed),
        )
        head.alignment.load_state_dict(alignment.state_dict())
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n_main = max(len(item_train), 1)
    steps_per_epoch = max(1, math.ceil(n_main / config.batch_size))
    settings = LoopSettings(
        total_steps=config.epochs * steps_per_epoch,
        eval_every=config.eval_every,
        log_every=log_every,
        checkpoint_every=config.checkpoint_every,
        keep_checkpoints=keep_checkpoints,
        patience=config.patience,
    )
    tensors = _ItemTensors(members, mask, ic, ir, im, tc, tr, tm, z_img, z_txt)
    problem = _ItemProblem(head, tensors, config, item_train, turn_train, item_eval, turn_eval)
    outcome = training_loop(
        head,
        optimizer,
        problem,
        settings,
        run_key=_run_key(item_sides, item_pairs, turn_pairs, config),
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
    )
    with torch.no_grad():
        train_accuracy = problem.accuracy(item_train, turn_train)
        eval_accuracy = problem.accuracy(item_eval, turn_eval)
    metrics: dict[str, float | int | None] = {
        "train_accuracy": train_accuracy,
        "eval_accuracy": eval_accuracy,
        "best_step": outcome.best_step,
        "train_pairs": len(item_train) + len(turn_train),
        "eval_pairs": len(item_eval) + len(turn_eval),
    }
    _fold_standardisation(head, mean, std)
    return TrainResult(
        head=head,
        metrics=metrics,
        steps=outcome.steps,
        total_steps=settings.total_steps,
        cancelled=outcome.cancelled,
        # identifies the turn-level data only; item pairs have no feature refs of their own
        fingerprint=training_fingerprint(turn_pairs, (), ()),
        train_pairs=len(item_train) + len(turn_train),
        eval_pairs=len(item_eval) + len(turn_eval),
        history=outcome.history,
    )


def _run_key(
    item_sides: Mapping[str, Sequence[FeatureRef]],
    item_pairs: Sequence[ItemPair],
    turn_pairs: Sequence[PreferencePair],
    config: ItemTrainConfig,
) -> dict[str, Any]:
    """What identifies a run in its checkpoints: the data (items, pairs) and the config."""
    digest = hashlib.sha256()
    for item in sorted(item_sides):
        refs = [[r.image_key, r.text_key] for r in item_sides[item]]
        digest.update(json.dumps([item, refs], separators=(",", ":")).encode())
    for p in item_pairs:
        digest.update(json.dumps([p.chosen, p.rejected, p.margin], separators=(",", ":")).encode())
    return {
        "items": digest.hexdigest(),
        "turns": training_fingerprint(turn_pairs, (), ()),
        # how often checkpoints are written doesn't change the weights
        "config": {k: v for k, v in asdict(config).items() if k != "checkpoint_every"},
    }

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

import copy
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewardmodel.alignment import AlignConfig, train_alignment
from rewardmodel.evaluation import pairwise_accuracy, split_by_item
from rewardmodel.features import FeatureLoader, FeatureRef
from rewardmodel.heads import HeadConfig, RewardHead
from rewardmodel.losses import bradley_terry_loss
from rewardmodel.pairs import PreferencePair, training_fingerprint
from rewardmodel.training import (
    ProgressCallback,
    TrainResult,
    _checkpoints,
    _save_checkpoint,
)


@dataclass(frozen=True)
class ItemPair:
    """``chosen`` item judged better than ``rejected`` (both keys of ``item_sides``)."""

    chosen: str
    rejected: str
    margin: float = 0.0
    source: str = "rating-difference"


@dataclass(frozen=True)
class ItemTrainConfig:
    lr: float = 3e-4
    epochs: int = 60
    batch_size: int = 256
    weight_decay: float = 0.05
    seed: int = 0
    center_coef: float = 1e-2
    eval_fraction: float = 0.15
    hidden: int = 32
    dropout: float = 0.5
    # soft-min temperature over turns; small = hard min (all gradient to the worst turn)
    temperature: float = 0.3
    candidate_weight: float = 1.0
    # early stopping on the validation pairs: keep the best weights, stop after this many
    # evaluations without improvement (None = train all epochs, still keep the best)
    patience: int | None = 15
    eval_every: int = 10
    standardise: bool = True
    # image-text alignment learned from every side's (image, turn) features before the head
    # trains (see ``rewardmodel.alignment``); 0 = off. The column ranges pick what it reads.
    align_dim: int = 0
    align_image_cols: tuple[int, int] | None = None
    align_text_cols: tuple[int, int] | None = None
    align_steps: int = 800

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.epochs < 1 or self.batch_size < 1 or self.temperature <= 0:
            raise ValueError(f"invalid item training config: {self}")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")


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


def _soft_min(rewards: torch.Tensor, mask: torch.Tensor, temperature: float) -> torch.Tensor:
    # -T * logsumexp(-r / T) over the valid turns of each row
    scaled = (-rewards / temperature).masked_fill(~mask, float("-inf"))
    return -temperature * torch.logsumexp(scaled, dim=1)


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
            layer.weight.div_(s)
            layer.bias.sub_(layer.weight @ m)


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
    checkpoint_every: int = 100,
    keep_checkpoints: int = 2,
) -> TrainResult:
    """Train a ``RewardHead`` whose item reward (soft-min over ``item_sides``) fits the pairs.

    ``item_sides[i]``: the refs standing for item ``i`` (its turns; a candidate turn by its
    best-ranked candidate). ``turn_pairs``: turn-level pairs (e.g. ``candidate_pairs``).
    A fraction of items (``config.eval_fraction``, by item hash) is held out for validation;
    the weights with the best validation accuracy are returned.

    As ``training.train_reward_head``: with ``checkpoint_dir``, a checkpoint is written every
    ``checkpoint_every`` steps and (``resume=True``) training continues from the last one,
    bit-identical to an uninterrupted run; ``progress(step, total, loss, val_acc)`` is called
    every ``log_every`` steps, and returning False stops after a checkpoint (``cancelled``).
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
        )  # fmt: skip
    )
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
    total = config.epochs * steps_per_epoch
    generator = torch.Generator().manual_seed(config.seed)

    def item_rewards(rows: torch.Tensor) -> torch.Tensor:
        unique, inverse = torch.unique(members[rows][mask[rows]], return_inverse=True)
        per_side = head(z_img[unique], z_txt[unique]).overall
        table = torch.zeros(mask[rows].shape)
        table[mask[rows]] = per_side[inverse]
        return _soft_min(table, mask[rows], config.temperature)

    @torch.no_grad()
    def accuracy(item_idx: np.ndarray, turn_idx: np.ndarray) -> float | None:
        head.eval()
        chosen, rejected = [], []
        if len(item_idx):
            idx = torch.from_numpy(item_idx)
            chosen.append(item_rewards(ic[idx]))
            rejected.append(item_rewards(ir[idx]))
        if len(turn_idx):
            idx = torch.from_numpy(turn_idx)
            chosen.append(head(z_img[tc[idx]], z_txt[tc[idx]]).overall)
            rejected.append(head(z_img[tr[idx]], z_txt[tr[idx]]).overall)
        head.train()
        if not chosen:
            return None
        return pairwise_accuracy(torch.cat(chosen).numpy(), torch.cat(rejected).numpy())

    best_acc, best_state, best_step, stale = -1.0, copy.deepcopy(head.state_dict()), 0, 0
    history: list[dict[str, float]] = []
    step = 0
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    run_key = _run_key(item_sides, item_pairs, turn_pairs, config)
    if ckpt_dir is not None and resume and (found := _checkpoints(ckpt_dir)):
        state = torch.load(found[-1][1], map_location="cpu", weights_only=False)
        if state["run_key"] != run_key:
            raise ValueError(
                f"checkpoint {found[-1][1]} belongs to a different run (other data or config); "
                "use a fresh checkpoint directory or resume=False"
            )
        head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        generator.set_state(state["generator"])
        step, history = int(state["step"]), list(state["history"])
        best_acc, best_state = state["best_acc"], state["best_state"]
        best_step, stale = state["best_step"], state["stale"]

    def checkpoint() -> None:
        if ckpt_dir is None:
            return
        state = {
            "run_key": run_key,
            "head": head.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            "generator": generator.get_state(),
            "step": step,
            "history": history,
            "best_acc": best_acc,
            "best_state": best_state,
            "best_step": best_step,
            "stale": stale,
        }
        _save_checkpoint(ckpt_dir, step, state, keep_checkpoints)

    val_acc: float | None = history[-1].get("val_acc") if history else None
    cancelled = stopped = False
    head.train()
    while step < total:
        if config.patience is not None and stale >= config.patience:
            break  # resumed from the checkpoint written when the run stopped early
        loss = torch.zeros(())
        if len(item_train):
            pick = item_train_t[torch.randint(len(item_train), (config.batch_size,),
                                              generator=generator)]  # fmt: skip
            loss = loss + bradley_terry_loss(
                item_rewards(ic[pick]), item_rewards(ir[pick]), im[pick], config.center_coef
            )
        if len(turn_train):
            pick = turn_train_t[torch.randint(len(turn_train), (config.batch_size,),
                                              generator=generator)]  # fmt: skip
            r_c = head(z_img[tc[pick]], z_txt[tc[pick]]).overall
            r_r = head(z_img[tr[pick]], z_txt[tr[pick]]).overall
            loss = loss + config.candidate_weight * bradley_terry_loss(
                r_c, r_r, tm[pick], config.center_coef
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        if step % config.eval_every == 0 or step == total:
            val = val_acc = accuracy(item_eval, turn_eval)
            history.append({"step": step, "loss": float(loss.detach()),
                            **({"val_acc": val} if val is not None else {})})  # fmt: skip
            if val is None:
                best_state, best_step = copy.deepcopy(head.state_dict()), step
            elif val > best_acc:
                best_acc, best_state, best_step, stale = (
                    val,
                    copy.deepcopy(head.state_dict()),
                    step,
                    0,
                )
            else:
                stale += 1
                stopped = config.patience is not None and stale >= config.patience
        report = progress is not None and (step % log_every == 0 or step == total or stopped)
        if report and progress(step, total, float(loss.detach()), val_acc) is False:
            cancelled = step < total and not stopped
        if step % checkpoint_every == 0 or step == total or stopped or cancelled:
            checkpoint()
        if stopped or cancelled:
            break
    head.load_state_dict(best_state)
    head.eval()
    metrics: dict[str, float | int | None] = {
        "train_accuracy": accuracy(item_train, turn_train),
        "eval_accuracy": accuracy(item_eval, turn_eval),
        "best_step": best_step,
        "train_pairs": len(item_train) + len(turn_train),
        "eval_pairs": len(item_eval) + len(turn_eval),
    }
    _fold_standardisation(head, mean, std)
    return TrainResult(
        head=head,
        metrics=metrics,
        steps=step,
        total_steps=total,
        cancelled=cancelled,
        # identifies the turn-level data only; item pairs have no feature refs of their own
        fingerprint=training_fingerprint(turn_pairs, (), ()),
        train_pairs=len(item_train) + len(turn_train),
        eval_pairs=len(item_eval) + len(turn_eval),
        history=history,
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
        "config": asdict(config),
    }

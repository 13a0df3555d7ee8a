"""Training the reward head on cached features, with checkpoints, resume and cancellation."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewardmodel.evaluation import expected_calibration_error, pairwise_accuracy, split_by_item
from rewardmodel.features import FeatureLoader, FeatureRef
from rewardmodel.heads import HeadConfig, RewardHead
from rewardmodel.losses import bradley_terry_loss, rating_regression_loss, rule_bce_loss
from rewardmodel.pairs import OVERALL, PreferencePair, Rating, RuleVerdict, training_fingerprint

ProgressCallback = Callable[[int, int, float, float | None], bool | None]
CHECKPOINT_RE = re.compile(r"^step-(\d{8})\.pt$")


@dataclass(frozen=True)
class TrainConfig:
    lr: float = 2e-3
    epochs: int = 8
    max_steps: int | None = None  # overrides epochs when set
    batch_size: int = 256
    weight_decay: float = 1e-2
    seed: int = 0
    center_coef: float = 1e-2
    eval_fraction: float = 0.1
    hidden: int = 256
    dropout: float = 0.1
    rating_weight: float = 1.0
    rule_weight: float = 1.0
    eval_every: int = 50  # steps between validation accuracies reported to the callback
    checkpoint_every: int = 100  # steps between checkpoints (when a directory is given)
    keep_checkpoints: int = 2
    # Opt-in early stopping on the validation pairs (evaluated every ``eval_every`` steps):
    # ``keep_best`` returns the weights with the best validation accuracy instead of the last
    # ones; ``patience`` also stops after that many evaluations without improvement. On
    # noisy labels the head overfits long before the schedule ends.
    keep_best: bool = False
    patience: int | None = None

    def __post_init__(self) -> None:
        checks = {
            "lr": self.lr > 0,
            "epochs": self.epochs >= 1,
            "max_steps": self.max_steps is None or self.max_steps >= 1,
            "batch_size": self.batch_size >= 1,
            "weight_decay": self.weight_decay >= 0,
            "center_coef": self.center_coef >= 0,
            "eval_fraction": 0 <= self.eval_fraction < 1,
            "eval_every": self.eval_every >= 1,
            "checkpoint_every": self.checkpoint_every >= 1,
            "keep_checkpoints": self.keep_checkpoints >= 1,
            "patience": self.patience is None or self.patience >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training config values: {', '.join(bad)} ({self})")


@dataclass
class TrainResult:
    head: RewardHead
    metrics: dict[str, Any]
    steps: int
    total_steps: int
    cancelled: bool
    fingerprint: str
    train_pairs: int
    eval_pairs: int
    history: list[dict[str, float]] = field(default_factory=list)


class _Tensors:
    """All training data as index tensors into one table of unique sides."""

    def __init__(
        self,
        pairs: Sequence[PreferencePair],
        ratings: Sequence[Rating],
        verdicts: Sequence[RuleVerdict],
        load: FeatureLoader,
        criteria: tuple[str, ...],
        rules: tuple[str, ...],
    ) -> None:
        side_index: dict[FeatureRef, int] = {}

        def side(ref: FeatureRef) -> int:
            return side_index.setdefault(ref, len(side_index))

        criterion_index = {name: i for i, name in enumerate(criteria)}
        rule_index = {name: i for i, name in enumerate(rules)}

        def criterion_of(name: str) -> int:
            if name == OVERALL:
                return -1
            if name not in criterion_index:
                raise ValueError(f"unknown criterion {name!r}; the head has {list(criteria)}")
            return criterion_index[name]

        self.chosen = torch.tensor([side(p.chosen) for p in pairs], dtype=torch.long)
        self.rejected = torch.tensor([side(p.rejected) for p in pairs], dtype=torch.long)
        self.pair_criterion = torch.tensor([criterion_of(p.criterion) for p in pairs])
        self.margin = torch.tensor([float(p.margin) for p in pairs], dtype=torch.float32)
        self.rating_side = torch.tensor([side(r.ref) for r in ratings], dtype=torch.long)
        self.rating_criterion = torch.tensor([criterion_of(r.criterion) for r in ratings])
        self.rating_value = torch.tensor([float(r.value) for r in ratings], dtype=torch.float32)
        for verdict in verdicts:
            if verdict.rule not in rule_index:
                raise ValueError(f"unknown rule {verdict.rule!r}; the head has {list(rules)}")
        self.verdict_side = torch.tensor([side(v.ref) for v in verdicts], dtype=torch.long)
        self.verdict_rule = torch.tensor([rule_index[v.rule] for v in verdicts], dtype=torch.long)
        self.verdict_value = torch.tensor([float(v.violated) for v in verdicts])
        refs = list(side_index)
        images, texts = load(refs)
        if len(texts) != len(refs) or len(images) != len(refs):
            raise ValueError("the feature loader returned the wrong number of rows")
        self.images = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        self.texts = torch.from_numpy(np.ascontiguousarray(texts, dtype=np.float32))


def _pair_rewards(
    head: RewardHead, data: _Tensors, index: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rewards of the chosen and rejected sides of pairs ``index``, each side scored once."""
    sides = torch.cat([data.chosen[index], data.rejected[index]])
    unique, inverse = torch.unique(sides, return_inverse=True)
    output = head(data.images[unique], data.texts[unique])
    criterion = data.pair_criterion[index].repeat(2)
    rewards = head.reward_for(
        output._replace(overall=output.overall[inverse], criteria=output.criteria[inverse]),
        criterion,
    )
    n = len(index)
    return rewards[:n], rewards[n:]


@torch.no_grad()
def _pair_scores(head: RewardHead, data: _Tensors, index: torch.Tensor) -> tuple[np.ndarray, ...]:
    was_training = head.training
    head.eval()
    chosen, rejected = [], []
    for start in range(0, len(index), 4096):
        c, r = _pair_rewards(head, data, index[start : start + 4096])
        chosen.append(c)
        rejected.append(r)
    head.train(was_training)
    if not chosen:
        return np.zeros(0), np.zeros(0)
    return torch.cat(chosen).numpy(), torch.cat(rejected).numpy()


def _step_batch(n: int, batch_size: int, seed: int, step: int) -> torch.Tensor:
    """Indices of step ``step``'s batch: a fresh permutation per epoch, derived from the seed
    alone, so that a resumed run sees exactly the batches an uninterrupted one would."""
    steps_per_epoch = max(1, math.ceil(n / batch_size))
    epoch, offset = divmod(step, steps_per_epoch)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    permutation = torch.randperm(n, generator=generator)
    return permutation[offset * batch_size : (offset + 1) * batch_size]


def _aux_batch(n: int, batch_size: int, seed: int, step: int, salt: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed * 7_919 + step * 31 + salt)
    return torch.randint(0, n, (min(n, batch_size),), generator=generator)


def _checkpoints(directory: Path) -> list[tuple[int, Path]]:
    if not directory.is_dir():
        return []
    found = [
        (int(m.group(1)), directory / m.group(0))
        for p in directory.iterdir()
        if (m := CHECKPOINT_RE.match(p.name))
    ]
    return sorted(found)


def _save_checkpoint(directory: Path, step: int, state: dict[str, Any], keep: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{step:08d}.pt"
    tmp = directory / f".{final.name}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, final)  # atomic: a crash never leaves a half-written checkpoint
    for _, old in _checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)


def train_reward_head(
    pairs: Sequence[PreferencePair],
    load_features: FeatureLoader,
    *,
    config: TrainConfig | None = None,
    criteria: Sequence[str] = (),
    rules: Sequence[str] = (),
    ratings: Sequence[Rating] = (),
    verdicts: Sequence[RuleVerdict] = (),
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = True,
    progress: ProgressCallback | None = None,
    log_every: int = 10,
) -> TrainResult:
    """Train a ``RewardHead`` with Bradley-Terry (+ centering) on pairs, MSE on ratings and
    BCE on rule verdicts, evaluating on a held-out split *by item*.

    ``load_features(refs) -> (image matrix, text matrix)`` supplies cached features (see
    ``features.cache_feature_loader``). With ``checkpoint_dir``, a checkpoint is written every
    ``config.checkpoint_every`` steps, and (``resume=True``) training continues from the last
    one; the result is bit-identical to an uninterrupted run. ``progress(step, total, loss,
    val_acc)`` is called every ``log_every`` steps; returning False stops training after a
    checkpoint, with ``cancelled=True`` in the result.
    """
    config = config or TrainConfig()
    criteria, rules = tuple(criteria), tuple(rules)
    if not pairs and not ratings and not verdicts:
        raise ValueError("nothing to train on: no pairs, ratings or verdicts")
    fingerprint = training_fingerprint(pairs, ratings, verdicts)
    data = _Tensors(pairs, ratings, verdicts, load_features, criteria, rules)
    train_idx_np, eval_idx_np = split_by_item(
        [p.items for p in pairs], config.eval_fraction, config.seed
    )
    train_idx, eval_idx = torch.from_numpy(train_idx_np), torch.from_numpy(eval_idx_np)
    if len(pairs) and len(train_idx) == 0:
        raise ValueError("the item split left no training pairs; lower eval_fraction")
    rating_idx = torch.tensor(
        [i for i, r in enumerate(ratings) if not _in_eval(r.item_id, config)], dtype=torch.long
    )
    verdict_idx = torch.tensor(
        [i for i, v in enumerate(verdicts) if not _in_eval(v.item_id, config)], dtype=torch.long
    )

    head_config = HeadConfig(
        image_dim=int(data.images.shape[1]),
        text_dim=int(data.texts.shape[1]),
        hidden=config.hidden,
        criteria=criteria,
        rules=rules,
        dropout=config.dropout,
    )
    torch.manual_seed(config.seed)
    head = RewardHead(head_config)
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n_main = max(len(train_idx), len(rating_idx), len(verdict_idx), 1)
    steps_per_epoch = max(1, math.ceil(n_main / config.batch_size))
    total = config.max_steps or config.epochs * steps_per_epoch
    warmup = max(1, total // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
        ),
    )

    step = 0
    history: list[dict[str, float]] = []
    early = (config.keep_best or config.patience is not None) and len(eval_idx) > 0
    # best validation accuracy so far, its weights and the evaluations since it improved
    best: dict[str, Any] = {"acc": -1.0, "state": None, "step": 0, "stale": 0}
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    run_key = {
        "fingerprint": fingerprint,
        "config": _config_key(config),
        "criteria": criteria,
        "rules": rules,
    }
    if ckpt_dir is not None and resume and (found := _checkpoints(ckpt_dir)):
        state = torch.load(found[-1][1], map_location="cpu", weights_only=False)
        if state["run_key"] != run_key:
            raise ValueError(
                f"checkpoint {found[-1][1]} belongs to a different run (other data or config); "
                "use a fresh checkpoint directory or resume=False"
            )
        head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, history = int(state["step"]), list(state["history"])
        if "best" in state:
            best = state["best"]

    def checkpoint() -> None:
        extra = {"best": best} if early else {}
        if ckpt_dir is not None:
            _save_checkpoint(
                ckpt_dir,
                step,
                {
                    "run_key": run_key,
                    "head": head.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "step": step,
                    "history": history,
                    **extra,
                },
                config.keep_checkpoints,
            )

    val_acc: float | None = history[-1].get("val_acc") if history else None
    cancelled = False
    head.train()
    while step < total:
        if early and config.patience is not None and best["stale"] >= config.patience:
            break  # a run resumed from the checkpoint written when it stopped early
        # A per-step seed for dropout makes every step independent of what ran before it,
        # which is what makes resume-from-checkpoint bit-identical.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed * 1_000_003 + step)
            loss = head.overall.weight.new_zeros(())
            if len(train_idx):
                batch = train_idx[_step_batch(len(train_idx), config.batch_size, config.seed, step)]
                r_c, r_r = _pair_rewards(head, data, batch)
                loss = loss + bradley_terry_loss(r_c, r_r, data.margin[batch], config.center_coef)
            if len(rating_idx):
                pick = rating_idx[
                    _aux_batch(len(rating_idx), config.batch_size, config.seed, step, 1)
                ]
                out = head(data.images[data.rating_side[pick]], data.texts[data.rating_side[pick]])
                predicted = head.reward_for(out, data.rating_criterion[pick])
                loss = loss + config.rating_weight * rating_regression_loss(
                    torch.sigmoid(predicted), data.rating_value[pick]
                )
            if len(verdict_idx):
                pick = verdict_idx[
                    _aux_batch(len(verdict_idx), config.batch_size, config.seed, step, 2)
                ]
                out = head(
                    data.images[data.verdict_side[pick]], data.texts[data.verdict_side[pick]]
                )
                logits = out.rules.gather(1, data.verdict_rule[pick].unsqueeze(1)).squeeze(1)
                loss = loss + config.rule_weight * rule_bce_loss(logits, data.verdict_value[pick])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        step += 1
        if len(eval_idx) and (step % config.eval_every == 0 or step == total):
            val_acc = pairwise_accuracy(*_pair_scores(head, data, eval_idx))
            if early:
                if val_acc > best["acc"]:
                    state_copy = {k: v.detach().clone() for k, v in head.state_dict().items()}
                    best.update(acc=val_acc, state=state_copy, step=step, stale=0)
                else:
                    best["stale"] += 1
        if step % log_every == 0 or step == total:
            history.append(
                {
                    "step": step,
                    "loss": float(loss.detach()),
                    **({"val_acc": val_acc} if val_acc is not None else {}),
                }
            )
            if (
                progress is not None
                and progress(step, total, float(loss.detach()), val_acc) is False
            ):
                cancelled = step < total
        if step % config.checkpoint_every == 0 or step == total or cancelled:
            checkpoint()
        if cancelled:
            break
        if early and config.patience is not None and best["stale"] >= config.patience:
            if ckpt_dir is not None:
                checkpoint()
            break

    if early and best["state"] is not None:
        head.load_state_dict(best["state"])
    head.eval()
    metrics = _final_metrics(head, data, train_idx, eval_idx, pairs, criteria)
    if early:
        metrics["best_step"] = best["step"]
    return TrainResult(
        head=head,
        metrics=metrics,
        steps=step,
        total_steps=total,
        cancelled=cancelled,
        fingerprint=fingerprint,
        train_pairs=len(train_idx),
        eval_pairs=len(eval_idx),
        history=history,
    )


def _config_key(config: TrainConfig) -> dict[str, Any]:
    """The config as it identifies a run in checkpoints.

    Fields added later are left out while at their defaults, so a checkpoint written before
    they existed still resumes.
    """
    key = asdict(config)
    for name, default in (("keep_best", False), ("patience", None)):
        if key[name] == default:
            del key[name]
    return key


def _in_eval(item_id: str, config: TrainConfig) -> bool:
    from rewardmodel.evaluation import item_in_eval

    return item_in_eval(str(item_id), config.eval_fraction, config.seed)


def _final_metrics(
    head: RewardHead,
    data: _Tensors,
    train_idx: torch.Tensor,
    eval_idx: torch.Tensor,
    pairs: Sequence[PreferencePair],
    criteria: tuple[str, ...],
) -> dict[str, Any]:
    metrics: dict[str, Any] = {"train_pairs": len(train_idx), "eval_pairs": len(eval_idx)}
    if len(train_idx):
        metrics["train_accuracy"] = pairwise_accuracy(*_pair_scores(head, data, train_idx))
    if len(eval_idx):
        chosen, rejected = _pair_scores(head, data, eval_idx)
        metrics["eval_accuracy"] = pairwise_accuracy(chosen, rejected)
        metrics["eval_ece"] = expected_calibration_error(chosen, rejected)
        per_criterion = {}
        eval_criteria = data.pair_criterion[eval_idx].numpy()
        for k, name in [(-1, OVERALL), *enumerate(criteria)]:
            mask = eval_criteria == k
            if mask.any():
                per_criterion[name] = pairwise_accuracy(chosen[mask], rejected[mask])
        metrics["eval_accuracy_by_criterion"] = per_criterion
    return metrics

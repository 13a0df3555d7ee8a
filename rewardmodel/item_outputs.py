"""Item scores from per-turn scores, and rubric/rule read-outs for a head trained on items.

A turn-level head scores each (question, answer) turn, and a candidate-rich turn once per
candidate. ``aggregate_turn_scores`` makes the item's scores from them the way the item
trainer and ``conversation.aggregate_item_scores`` do: a candidate turn counts with its best
candidate (by overall reward), the item's reward and criterion scores are the minimum over its
turns (one bad turn spoils the item) and its rule probabilities the maximum (one violating turn
violates the item).

The item trainer fits the overall reward only. ``fit_item_outputs`` adds one read-out per
rubric criterion and per safety rule on top of the trained head, kept frozen so the overall
reward does not move, from item-level targets aggregated the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rewardmodel.conversation import TurnSpec
from rewardmodel.features import FeatureLoader, FeatureRef
from rewardmodel.heads import HeadConfig, RewardHead
from rewardmodel.losses import rating_regression_loss, rule_bce_loss
from rewardmodel.scoring import Scores


@dataclass(frozen=True)
class ItemScores:
    overall: float
    criteria: dict[str, float]
    rules: dict[str, float]  # probability that the item violates the rule
    best_candidates: dict[Any, int]  # candidate turn -> index of its best candidate


def aggregate_turn_scores(specs: Sequence[TurnSpec], scores: Scores) -> dict[str, ItemScores]:
    """Per-item scores from per-row ``scores`` (row ``n`` scores ``specs[n]``)."""
    if len(specs) != len(scores):
        raise ValueError(f"{len(specs)} specs but {len(scores)} scored rows")
    rows: dict[str, dict[Any, list[int]]] = {}
    for n, spec in enumerate(specs):
        rows.setdefault(spec.item_id, {}).setdefault(spec.turn, []).append(n)
    out: dict[str, ItemScores] = {}
    for item, turns in rows.items():
        chosen: list[int] = []
        best: dict[Any, int] = {}
        for turn, members in turns.items():
            # the best candidate by overall reward; ties go to the first candidate
            row = max(members, key=lambda n: (scores.overall[n], -(specs[n].candidate or 0)))
            chosen.append(row)
            if specs[row].candidate is not None:
                best[turn] = int(specs[row].candidate)
        out[item] = ItemScores(
            overall=float(min(scores.overall[n] for n in chosen)),
            criteria={k: float(min(v[n] for n in chosen)) for k, v in scores.criteria.items()},
            rules={k: float(max(v[n] for n in chosen)) for k, v in scores.rules.items()},
            best_candidates=best,
        )
    return out


@dataclass(frozen=True)
class ItemTarget:
    """An item-level label: a criterion value in [0, 1], or a rule verdict (1.0 = violated)."""

    item_id: str
    name: str
    value: float


@dataclass(frozen=True)
class OutputFitConfig:
    steps: int = 400
    batch_items: int = 256
    lr: float = 1e-2
    weight_decay: float = 1e-4
    seed: int = 0


def fit_item_outputs(
    head: RewardHead,
    item_sides: Mapping[str, Sequence[FeatureRef]],
    load_features: FeatureLoader,
    *,
    criteria: Sequence[str] = (),
    rules: Sequence[str] = (),
    ratings: Sequence[ItemTarget] = (),
    verdicts: Sequence[ItemTarget] = (),
    config: OutputFitConfig | None = None,
) -> RewardHead:
    """A copy of ``head`` with read-outs for ``criteria`` and ``rules`` fitted to the targets.

    ``item_sides[i]`` are the refs standing for item ``i`` (as for the item trainer). A
    criterion's item score is the minimum of its read-out over the sides, trained so that its
    sigmoid matches the rating; a rule's item logit is the
    maximum over the sides, trained with binary cross-entropy. Everything else is frozen.
    """
    config = config or OutputFitConfig()
    criteria, rules = tuple(criteria), tuple(rules)
    shape = {**head.config.to_json(), "criteria": list(criteria), "rules": list(rules)}
    torch.manual_seed(config.seed)
    out = RewardHead(HeadConfig.from_json(shape))
    missing, unexpected = out.load_state_dict(head.state_dict(), strict=False)
    if unexpected or any(not k.startswith(("criteria.", "rules.")) for k in missing):
        raise ValueError("the head to extend must have no criteria or rules of its own")
    out.eval()  # no dropout: the read-outs learn on the hidden layer scoring will see
    readouts = [m for m in (out.criteria, out.rules) if m is not None]
    for parameter in out.parameters():
        parameter.requires_grad_(False)
    trainable = [p for m in readouts for p in m.parameters()]
    for parameter in trainable:
        parameter.requires_grad_(True)
    c_index = {name: k for k, name in enumerate(criteria)}
    r_index = {name: k for k, name in enumerate(rules)}
    labelled = [t for t in ratings if t.name in c_index] + [
        t for t in verdicts if t.name in r_index
    ]
    items = sorted({t.item_id for t in labelled if item_sides.get(t.item_id)})
    if not trainable or not items:
        return out
    row = {item: n for n, item in enumerate(items)}
    c_target = torch.full((len(items), len(criteria)), float("nan"))
    r_target = torch.full((len(items), len(rules)), float("nan"))
    for t in ratings:
        if t.name in c_index and t.item_id in row:
            c_target[row[t.item_id], c_index[t.name]] = float(t.value)
    for t in verdicts:
        if t.name in r_index and t.item_id in row:
            r_target[row[t.item_id], r_index[t.name]] = float(t.value)

    side_index: dict[FeatureRef, int] = {}
    for item in items:
        for ref in item_sides[item]:
            side_index.setdefault(ref, len(side_index))
    images_np, texts_np = load_features(list(side_index))
    images = torch.from_numpy(np.ascontiguousarray(images_np, dtype=np.float32))
    texts = torch.from_numpy(np.ascontiguousarray(texts_np, dtype=np.float32))
    width = max(len(item_sides[item]) for item in items)
    members = torch.zeros((len(items), width), dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.bool)
    for item, n in row.items():
        sides = [side_index[r] for r in item_sides[item]]
        members[n, : len(sides)] = torch.tensor(sides)
        mask[n, : len(sides)] = True

    optimizer = torch.optim.Adam(trainable, lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    for _ in range(config.steps):
        pick = torch.randperm(len(items), generator=generator)[: config.batch_items]
        unique, inverse = torch.unique(members[pick][mask[pick]], return_inverse=True)
        output = out(images[unique], texts[unique])
        loss = torch.zeros(())
        if criteria:
            table = torch.full((*mask[pick].shape, len(criteria)), float("inf"))
            table[mask[pick]] = output.criteria[inverse]
            item_scores = table.amin(dim=1)
            loss = loss + rating_regression_loss(torch.sigmoid(item_scores), c_target[pick])
        if rules:
            table = torch.full((*mask[pick].shape, len(rules)), float("-inf"))
            table[mask[pick]] = output.rules[inverse]
            loss = loss + rule_bce_loss(table.amax(dim=1), r_target[pick])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    for parameter in out.parameters():
        parameter.requires_grad_(False)
    return out

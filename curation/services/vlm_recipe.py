"""The VLM recipe: a vision-language checkpoint (``backbone``) with LoRA and a value head,
trained on item pairs and scoring whole items with their image (``rewardmodel.vlm``).

Where the item recipe sees the text and the image through separate frozen encoders, this one
reads the image and the conversation together, so it can check an answer against the image.
Item pairs are those of the item recipe (items whose scores differ by ``item_min_gap``), split
by item (a pair with one item on each side is left out). It needs a GPU to be practical; the
artifact records the backbone's name and revision and refuses to score on another.
"""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from core.errors import DomainError
from corpora.models import Item
from curation.services.recipes import TrainedModel, config_from_hyper, in_eval
from curation.services.texts import IMAGE_TOKEN, default_candidate
from rewardmodel.configs import ItemPairsConfig, VLMTrainConfig
from rewardmodel.data import TrainingData

VLM_TRAINER = "vlm"


def _clean(value: Any) -> str:
    return str(value or "").replace(IMAGE_TOKEN, "").strip()


def item_sample(item: Item, *, picks: dict[int, int] | None = None, upto: int | None = None):
    """The item as the VLM reads it: its image and its turns (a candidate turn answered by
    ``picks[turn]``, else its default candidate), up to message ``upto``."""
    from rewardmodel.vlm import Sample

    picks = picks or {}
    turns: list[tuple[str, str]] = []
    for index, message in enumerate(item.conversations or []):
        if upto is not None and index > upto:
            break
        value = message.get("value")
        if isinstance(value, list):
            k = picks.get(index, default_candidate(message))
            value = value[k] if 0 <= k < len(value) else ""
        role = "user" if message.get("from") == "human" else "assistant"
        turns.append((role, _clean(value)))
    if not turns:
        questions = item.questions if isinstance(item.questions, list) else []
        first = questions[0] if questions else ""
        text = " ".join(map(_clean, first)) if isinstance(first, list) else _clean(first)
        turns = [("user", text)]
    image = Path(settings.MEDIA_ROOT) / item.image.file if item.image_id else None
    return Sample(tuple(turns), image)


def vlm_train_config(hyper: dict[str, Any]) -> VLMTrainConfig:
    return config_from_hyper(VLMTrainConfig, hyper)


def _item_scores(data: TrainingData) -> dict[str, float]:
    values: dict[str, list[float]] = defaultdict(list)
    for target in data.targets:
        values[str(target.item_id)].append(target.value)
    for verdict in data.verdicts:
        values[str(verdict.item_id)].append(0.0 if verdict.violates else 1.0)
    return {i: float(np.mean(v)) for i, v in values.items()}


def vlm_recipe_train(
    *,
    data: TrainingData,
    criteria: list[str],
    hyper: dict[str, Any],
    checkpoint_dir: Path,
    progress: Callable[[int, int, float, float | None], bool],
) -> TrainedModel:
    from rewardmodel.item_training import item_pairs_from_scores
    from rewardmodel.vlm import (
        Pair,
        backbone_revision,
        vlm_reward_model_load,
        vlm_state_save,
        vlm_train,
    )

    config = vlm_train_config(hyper)
    pairs_config = config_from_hyper(ItemPairsConfig, hyper)
    backbone = hyper["backbone"]
    scores = _item_scores(data)
    items = {
        str(item.pk): item
        for item in Item.objects.filter(pk__in=[int(i) for i in scores])
        .select_related("image")
        .only("pk", "conversations", "questions", "image__file")
        .order_by("pk")
    }
    scores = {i: s for i, s in scores.items() if i in items}
    item_pairs = item_pairs_from_scores(
        scores,
        min_gap=pairs_config.item_min_gap,
        others_per_item=pairs_config.item_pairs_per_item,
        seed=config.seed,
    )
    index = {item_id: k for k, item_id in enumerate(items)}

    def held(item_id: str) -> bool:
        return in_eval(item_id, config.eval_fraction, config.seed)

    train = [Pair(index[p.chosen], index[p.rejected], p.margin)
             for p in item_pairs if not held(p.chosen) and not held(p.rejected)]  # fmt: skip
    held_out = [Pair(index[p.chosen], index[p.rejected], p.margin)
                for p in item_pairs if held(p.chosen) and held(p.rejected)]  # fmt: skip
    if not train:
        raise DomainError(
            "no_training_data",
            "The project has no training items with different ratings to train on yet.",
        )
    try:
        revision = backbone_revision(backbone)
        model = vlm_reward_model_load(backbone, config=config)
    except ValueError as exc:
        raise DomainError("backbone_unavailable", str(exc)[:500]) from exc
    samples = [item_sample(item) for item in items.values()]
    result = vlm_train(
        model,
        samples,
        train,
        held_out,
        config=config,
        checkpoint_dir=checkpoint_dir,
        resume=True,
        progress=progress,
        log_every=max(1, min(10, config.checkpoint_every, config.eval_every)),
        run_key={"backbone": backbone, "revision": revision},
    )
    digest = hashlib.sha256(f"{backbone}@{revision}".encode())
    for pair in item_pairs:
        digest.update(f"{pair.chosen}>{pair.rejected}:{pair.margin}\n".encode())
    metrics: dict[str, Any] = {"backbone": backbone, "backbone_revision": revision}
    if result.eval_accuracy is not None:
        metrics.update(
            eval_accuracy=result.eval_accuracy,
            eval_item_pair_accuracy=result.eval_accuracy,
            eval_item_pairs=len(held_out),
        )
    return TrainedModel(
        head=None,
        metrics=metrics,
        fingerprint=digest.hexdigest(),
        steps=result.steps,
        train_pairs=len(train),
        eval_pairs=len(held_out),
        criteria=[],
        rules=[],
        text_encoder_id=backbone,
        image_encoder_id=None,
        recipe={
            "trainer": VLM_TRAINER,
            "unit": "item",
            "backbone": backbone,
            "backbone_revision": revision,
        },  # fmt: skip
        cancelled=result.cancelled,
        data_info={"pairs_by_source": {"rating-difference (items)": len(item_pairs)}},
        write_model=lambda directory: vlm_state_save(
            directory, model, backbone=backbone, revision=revision, config=config
        ),
    )


@functools.lru_cache(maxsize=1)
def _scorer(path: str):  # (VLMRewardModel, VLMTrainConfig)
    from rewardmodel.vlm import vlm_state_load

    try:
        return vlm_state_load(path)
    except ValueError as exc:  # another backbone revision, or it cannot be loaded here
        raise DomainError("backbone_mismatch", str(exc)[:500], status=409) from exc


def vlm_items_score(artifact_path: Path, items: Sequence[Item]) -> list[dict[str, Any]]:
    """Per item: its reward (the whole conversation with its image) and, for candidate turns,
    the candidate the model prefers (each candidate read in its dialogue so far)."""
    from rewardmodel.records import candidate_turns
    from rewardmodel.vlm import score_samples

    model, config = _scorer(str(artifact_path))
    samples = [item_sample(item) for item in items]
    alternatives: list[tuple[int, int, int]] = []
    for i, item in enumerate(items):
        conversations = item.conversations or []
        for turn in candidate_turns(conversations) if conversations else []:
            for k in range(len(conversations[turn]["value"])):
                alternatives.append((i, turn, k))
                samples.append(item_sample(item, picks={turn: k}, upto=turn))
    scores = score_samples(model, samples, batch_size=config.micro_batch_size * 2,
                           max_length=config.max_length, bf16=config.bf16)  # fmt: skip
    best: dict[int, dict[str, tuple[float, int]]] = defaultdict(dict)
    for offset, (i, turn, k) in enumerate(alternatives):
        value = scores[len(items) + offset]
        current = best[i].get(str(turn))
        if current is None or value > current[0]:
            best[i][str(turn)] = (value, k)
    return [
        {"overall": scores[i], "best_candidates": {t: k for t, (_, k) in best[i].items()}}
        for i in range(len(items))
    ]

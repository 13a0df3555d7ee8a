"""The pair recipe: whole-item texts trained on the selector's pairs, ratings and verdicts.

Each side of a pair is read as one text (`texts`: the whole conversation, or the dialogue up to
a candidate answer) with the item's image; `rewardmodel.training.train_reward_head` trains the
overall reward and one output per rubric criterion and safety rule. Runs made before the item
recipe existed used this one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import DomainError
from curation.selectors.training_data import TrainingData
from curation.services.features import encoder_id_of, feature_loader
from curation.services.recipes import TrainedModel, config_from_hyper, in_eval


def pair_train_config(hyper: dict[str, Any]):  # noqa: ANN201 - TrainConfig
    from rewardmodel.training import TrainConfig

    return config_from_hyper(TrainConfig, hyper)


def pair_recipe_train(
    *,
    data: TrainingData,
    criteria: list[str],
    hyper: dict[str, Any],
    checkpoint_dir: Path,
    progress: Callable[[int, int, float, float | None], bool],
) -> TrainedModel:
    """The pair recipe: whole-item texts, the selector's pairs, ratings and verdicts."""
    from curation.services.training_inputs import library_inputs
    from rewardmodel.artifacts import WHOLE_ITEM_RECIPE
    from rewardmodel.training import train_reward_head

    config = pair_train_config(hyper)
    image_encoder = hyper["image_encoder"] or None
    inputs = library_inputs(
        data, criteria=criteria, text_encoder=hyper["text_encoder"], image_encoder=image_encoder
    )
    if not inputs.pairs and not inputs.ratings and not inputs.verdicts:
        raise DomainError(
            "no_training_data",
            "The project has no preference pairs, ratings or verdicts to train on yet.",
        )
    text_id = encoder_id_of(hyper["text_encoder"])
    image_id = encoder_id_of(image_encoder) if image_encoder else None
    load = feature_loader(text_encoder_id=text_id, image_encoder_id=image_id)
    result = train_reward_head(
        inputs.pairs,
        load,
        config=config,
        criteria=inputs.criteria,
        rules=inputs.rules,
        ratings=inputs.ratings,
        verdicts=inputs.verdicts,
        checkpoint_dir=checkpoint_dir,
        resume=True,
        progress=progress,
        log_every=max(1, min(50, config.checkpoint_every, config.eval_every)),
    )
    metrics = dict(result.metrics)
    if not result.cancelled:
        metrics.update(_spearman_on_eval(result.head, inputs, load, config))
    return TrainedModel(
        head=result.head,
        metrics=metrics,
        fingerprint=result.fingerprint,
        steps=result.steps,
        train_pairs=result.train_pairs,
        eval_pairs=result.eval_pairs,
        criteria=list(inputs.criteria),
        rules=list(inputs.rules),
        text_encoder_id=text_id,
        image_encoder_id=image_id,
        recipe=dict(WHOLE_ITEM_RECIPE),
        cancelled=result.cancelled,
    )


def _spearman_on_eval(head, inputs, load, config) -> dict[str, Any]:  # noqa: ANN001
    """Per-criterion Spearman between predicted criterion scores and held-out ratings."""
    from rewardmodel.evaluation import spearman
    from rewardmodel.scoring import score_features

    held = [r for r in inputs.ratings if in_eval(r.item_id, config.eval_fraction, config.seed)]
    if not held:
        return {}
    image, text = load([r.ref for r in held])
    scores = score_features(head, image, text)
    out: dict[str, float | None] = {}
    for name in inputs.criteria:
        rows = [i for i, r in enumerate(held) if r.criterion == name]
        if len(rows) >= 2:
            value = spearman(scores.criteria[name][rows], np.asarray([held[i].value for i in rows]))
            out[name] = None if math.isnan(value) else round(value, 4)
    return {"eval_spearman_by_criterion": out}

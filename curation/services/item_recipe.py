"""The default training recipe: per-turn features, trained on item-level judgments.

Annotators judge whole items while a defect sits in one turn, so the head scores (question,
answer) turns (`turns`) and an item's reward is the minimum over its turns, a candidate turn
counting with its best candidate. Training (`rewardmodel.item_training`) takes

- item pairs: items whose scores differ by at least `item_min_gap`, each item against
  `item_pairs_per_item` random others; an item's score is the mean of its consensus targets
  from the engine's training-data selector (ratings and yes/no answers rescaled to [0, 1],
  higher = better, as the rubric phrases them) and of its rule verdicts (1 = complies);
- turn pairs: the selector's within-item pairs between candidates (pairwise and ranking
  answers, imported candidate scores) on the overall criterion, and pairs between the answer
  turns of one item that a per-turn question rated at least `TURN_MIN_GAP` apart (the head
  scores turns, so a per-turn answer supervises it directly). For item scores and criterion
  read-outs a per-turn question counts with its worst turn.

Rubric criteria and safety rules get read-outs fitted on the trained head afterwards
(`rewardmodel.item_outputs`), so scores carry overall, criterion and rule fields.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import DomainError
from corpora.models import Item
from curation.services.features import encoder_id_of, feature_loader, featurize_many
from curation.services.recipes import TrainedModel, config_from_hyper, in_eval
from curation.services.texts import default_candidate
from curation.services.turns import items_turn_specs
from rewardmodel.configs import ItemPairsConfig, ItemTrainConfig
from rewardmodel.data import SideRef, TrainingData
from rewardmodel.encoder_specs import colour_grounded

ITEM_PAIR_SOURCE = "rating-difference (items)"
TURN_PAIR_SOURCE = "per-turn rating"
OVERALL = "overall"
# One step on a 5-point scale, rescaled to [0, 1].
TURN_MIN_GAP = 0.25


@dataclass
class ItemRecipeInputs:
    item_sides: dict[str, list[Any]]  # item id -> FeatureRefs (a candidate turn: its best)
    item_scores: dict[str, float]
    turn_pairs: list[Any]  # rewardmodel.pairs.PreferencePair
    ratings: list[Any]  # rewardmodel.item_outputs.ItemTarget
    verdicts: list[Any]
    criteria: list[str]
    rules: list[str]


def _side_key(ref: SideRef) -> tuple[str, Any, Any]:
    return (str(ref.item_id), ref.turn, ref.candidate)


def item_recipe_inputs(
    data: TrainingData,
    *,
    criteria: list[str],
    text_encoder: str,
    image_encoder: str | None,
    featurize_progress: Callable[[int, int], None] | None = None,
) -> ItemRecipeInputs:
    """Featurise the turns of every item the training data names and shape the inputs."""
    from rewardmodel.item_outputs import ItemTarget
    from rewardmodel.pairs import PreferencePair

    verdicts = data.verdicts
    ids: set[int] = {int(r.item_id) for r in (*data.targets, *verdicts)}
    for pair in data.pairs:
        ids.update((int(pair.chosen.item_id), int(pair.rejected.item_id)))
    items = list(
        Item.objects.filter(pk__in=ids)
        .select_related("image")
        .only("pk", "conversations", "questions", "image__sha256", "image__file")
        .order_by("pk")
    )
    specs, things = items_turn_specs(items)
    refs = featurize_many(
        things, text_encoder=text_encoder, image_encoder=image_encoder, progress=featurize_progress
    )
    ref_of = {(s.item_id, s.turn, s.candidate): r for s, r in zip(specs, refs, strict=True)}

    turn_pairs = []
    wins: dict[tuple[str, Any], dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for pair in data.pairs:
        chosen, rejected = pair.chosen, pair.rejected
        if chosen.is_whole_item or (pair.criterion or OVERALL) != OVERALL:
            continue  # whole-item pairs: the item pairs below stand for them
        c, r = ref_of.get(_side_key(chosen)), ref_of.get(_side_key(rejected))
        if c is None or r is None or c == r:
            continue  # an item left the project, or two candidates with the same text
        item = str(chosen.item_id)
        turn_pairs.append(PreferencePair(item, c, r, margin=pair.margin, source=pair.source))
        wins[(item, chosen.turn)][int(chosen.candidate or 0)] += 1.0
        wins[(item, rejected.turn)][int(rejected.candidate or 0)] -= 1.0

    conversations = {str(item.pk): item.conversations or [] for item in items}
    by_item: dict[str, list[Any]] = defaultdict(list)
    for spec, ref in zip(specs, refs, strict=True):
        by_item[spec.item_id].append((spec, ref))
    item_sides: dict[str, list[Any]] = {}
    for item, members in by_item.items():
        sides = [ref for spec, ref in members if spec.candidate is None]
        candidate_turns = {spec.turn for spec, _ in members if spec.candidate is not None}
        for turn in sorted(candidate_turns, key=str):
            options = {spec.candidate: ref for spec, ref in members if spec.turn == turn}
            sides.append(options[_best_candidate(conversations[item], turn, wins[(item, turn)])])
        item_sides[item] = sides

    item_targets = _item_level(data.targets)
    turn_pairs += _per_turn_pairs(data.targets, ref_of)
    values: dict[str, list[float]] = defaultdict(list)
    for target in item_targets:
        values[str(target.item_id)].append(target.value)
    for verdict in verdicts:
        values[str(verdict.item_id)].append(0.0 if verdict.violates else 1.0)
    item_scores = {i: float(np.mean(v)) for i, v in values.items() if i in item_sides}
    criteria_set = set(criteria)
    ratings = [
        ItemTarget(str(t.item_id), t.criterion, t.value)
        for t in item_targets
        if t.criterion in criteria_set
    ]
    rule_targets = [
        ItemTarget(str(v.item_id), v.rule, 1.0 if v.violates else 0.0) for v in verdicts
    ]
    rules = sorted({v.rule for v in verdicts})
    return ItemRecipeInputs(
        item_sides, item_scores, turn_pairs, ratings, rule_targets, criteria, rules
    )


def _item_level(targets: list[Any]) -> list[Any]:
    """Per-turn targets folded into one per item and question: the worst turn's value."""
    out = [t for t in targets if t.turn is None]
    worst: dict[tuple[Any, str, str], Any] = {}
    for target in targets:
        if target.turn is None:
            continue
        key = (target.item_id, target.criterion, target.question)
        if key not in worst or target.value < worst[key].value:
            worst[key] = target
    out += [replace(t, turn=None) for t in worst.values()]
    return out


def _per_turn_pairs(targets: list[Any], ref_of: dict) -> list[Any]:
    """Within one item, the better-rated answer turn over the worse, per per-turn question."""
    from rewardmodel.pairs import PreferencePair

    by_question: dict[tuple[Any, str], list[Any]] = defaultdict(list)
    for target in targets:
        if target.turn is not None:
            by_question[(target.item_id, target.question)].append(target)
    pairs = []
    for (item_id, _), members in sorted(by_question.items(), key=lambda kv: str(kv[0])):
        item = str(item_id)
        for better, worse in combinations(sorted(members, key=lambda t: -t.value), 2):
            gap = better.value - worse.value
            chosen = ref_of.get((item, better.turn, None))
            rejected = ref_of.get((item, worse.turn, None))
            if gap < TURN_MIN_GAP or chosen is None or rejected is None or chosen == rejected:
                continue
            pairs.append(
                PreferencePair(item, chosen, rejected, margin=gap, source=TURN_PAIR_SOURCE)
            )
    return pairs


def _best_candidate(conversations: list[dict], turn: Any, wins: dict[int, float]) -> int:
    """The candidate annotators preferred most (net wins), else the best imported score."""
    fallback = default_candidate(conversations[turn]) if isinstance(turn, int) else 0
    if not wins:
        return fallback
    top = max(wins.values())
    leaders = sorted(k for k, v in wins.items() if v == top)
    return fallback if fallback in leaders else leaders[0]


def item_train_config(hyper: dict[str, Any]) -> ItemTrainConfig:
    config = config_from_hyper(ItemTrainConfig, hyper)
    grounded = colour_grounded(hyper.get("text_encoder"), hyper.get("image_encoder") or None)
    return replace(config, colour_grounding=grounded)


def item_recipe_train(
    *,
    data: TrainingData,
    criteria: list[str],
    hyper: dict[str, Any],
    checkpoint_dir: Path,
    progress: Callable[[int, int, float, float | None], bool],
    featurize_progress: Callable[[int, int], None] | None = None,
) -> TrainedModel:
    from rewardmodel.artifacts import TURN_RECIPE
    from rewardmodel.item_outputs import fit_item_outputs
    from rewardmodel.item_training import item_pairs_from_scores, train_item_reward_head

    config = item_train_config(hyper)
    pairs_config = config_from_hyper(ItemPairsConfig, hyper)
    image_encoder = hyper["image_encoder"] or None
    inputs = item_recipe_inputs(
        data,
        criteria=criteria,
        text_encoder=hyper["text_encoder"],
        image_encoder=image_encoder,
        featurize_progress=featurize_progress,
    )
    item_pairs = item_pairs_from_scores(
        inputs.item_scores,
        min_gap=pairs_config.item_min_gap,
        others_per_item=pairs_config.item_pairs_per_item,
        seed=config.seed,
    )
    if not item_pairs and not inputs.turn_pairs:
        raise DomainError(
            "no_training_data",
            "The project has no items with different ratings and no candidate preferences "
            "to train on yet.",
        )
    text_id = encoder_id_of(hyper["text_encoder"])
    image_id = encoder_id_of(image_encoder) if image_encoder else None
    load = feature_loader(text_encoder_id=text_id, image_encoder_id=image_id)
    result = train_item_reward_head(
        inputs.item_sides,
        item_pairs,
        load,
        turn_pairs=inputs.turn_pairs,
        config=config,
        checkpoint_dir=checkpoint_dir,
        resume=True,
        progress=progress,
        log_every=max(1, min(50, config.checkpoint_every, config.eval_every)),
    )
    sources: dict[str, int] = defaultdict(int)
    for pair in inputs.turn_pairs:
        sources[pair.source] += 1
    if item_pairs:
        sources[ITEM_PAIR_SOURCE] = len(item_pairs)
    trained = TrainedModel(
        head=result.head,
        metrics=dict(result.metrics),
        fingerprint=_fingerprint(item_pairs, result.fingerprint),
        steps=result.steps,
        train_pairs=result.train_pairs,
        eval_pairs=result.eval_pairs,
        criteria=list(inputs.criteria),
        rules=list(inputs.rules),
        text_encoder_id=text_id,
        image_encoder_id=image_id,
        recipe={**TURN_RECIPE, "temperature": config.temperature},
        cancelled=result.cancelled,
        data_info={"pairs_by_source": dict(sorted(sources.items()))},
    )
    if result.cancelled:
        return trained

    def held_out(item_id: str) -> bool:
        return in_eval(item_id, config.eval_fraction, config.seed)

    trained.head = fit_item_outputs(
        result.head,
        inputs.item_sides,
        load,
        criteria=inputs.criteria,
        rules=inputs.rules,
        ratings=[t for t in inputs.ratings if not held_out(t.item_id)],
        verdicts=[t for t in inputs.verdicts if not held_out(t.item_id)],
    )
    metrics, trained.held_out_rewards = _held_out_metrics(
        trained.head, inputs, item_pairs, load, held_out
    )
    trained.metrics.update(metrics)
    trained.metrics["train_pairs_by_source"] = trained.data_info["pairs_by_source"]
    return trained


def _fingerprint(item_pairs: list[Any], turn_fingerprint: str) -> str:
    """The data a run trained on: its item pairs and its turn-level pairs."""
    digest = hashlib.sha256(turn_fingerprint.encode())
    for pair in item_pairs:
        digest.update(f"{pair.chosen}>{pair.rejected}:{pair.margin}\n".encode())
    return digest.hexdigest()


def _held_out_metrics(
    head, inputs, item_pairs, load, held_out
) -> tuple[dict[str, Any], dict[str, float]]:
    """On held-out items, with items scored as scoring will (hard minimum over turns):
    accuracy on item pairs and on candidate pairs, and Spearman per criterion; and the
    held-out items' rewards."""
    from rewardmodel.evaluation import pairwise_accuracy, spearman
    from rewardmodel.scoring import score_refs

    held = sorted(i for i in inputs.item_sides if held_out(i))
    refs = [ref for i in held for ref in inputs.item_sides[i]]
    scores = score_refs(head, refs, load)
    spans, start = {}, 0
    for i in held:
        spans[i] = slice(start, start + len(inputs.item_sides[i]))
        start += len(inputs.item_sides[i])
    overall = {i: float(scores.overall[s].min()) for i, s in spans.items()}
    out: dict[str, Any] = {}
    pairs = [p for p in item_pairs if p.chosen in overall and p.rejected in overall]
    if pairs:
        out["eval_item_pair_accuracy"] = pairwise_accuracy(
            np.asarray([overall[p.chosen] for p in pairs]),
            np.asarray([overall[p.rejected] for p in pairs]),
        )
        out["eval_item_pairs"] = len(pairs)
    turns = [p for p in inputs.turn_pairs if held_out(p.item_id)]
    if turns:
        sides = [p.chosen for p in turns] + [p.rejected for p in turns]
        turn_scores = score_refs(head, sides, load)
        out["eval_candidate_pair_accuracy"] = pairwise_accuracy(
            turn_scores.overall[: len(turns)], turn_scores.overall[len(turns) :]
        )
        out["eval_candidate_pairs"] = len(turns)
    by_criterion: dict[str, float | None] = {}
    for name in inputs.criteria:
        rated = [t for t in inputs.ratings if t.name == name and t.item_id in spans]
        if len(rated) >= 2 and name in scores.criteria:
            predicted = [float(scores.criteria[name][spans[t.item_id]].min()) for t in rated]
            value = spearman(np.asarray(predicted), np.asarray([t.value for t in rated]))
            by_criterion[name] = None if np.isnan(value) else round(value, 4)
    if by_criterion:
        out["eval_spearman_by_criterion"] = by_criterion
    out.update(_readouts(overall, inputs))
    return out, overall


def _readouts(overall: dict[str, float], inputs: ItemRecipeInputs) -> dict[str, Any]:
    """The recipe-independent read-outs (``readouts``) of the item reward, which VLM runs
    report too: per criterion and per rule, held-out pairs ordered as annotators did."""
    from curation.services.readouts import held_out_readouts

    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for target in inputs.ratings:
        if target.item_id in overall:
            sums[target.name][target.item_id].append(target.value)
    rules: dict[str, dict[str, float]] = defaultdict(dict)
    for verdict in inputs.verdicts:  # value 1.0: violated
        if verdict.item_id in overall:
            rules[verdict.name][verdict.item_id] = 1.0 - verdict.value
    criteria = {c: {i: float(np.mean(v)) for i, v in by.items()} for c, by in sums.items()}
    return held_out_readouts(overall, criteria=criteria, rules=rules)

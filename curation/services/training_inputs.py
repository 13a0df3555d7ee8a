"""Turn engine-format training records into the library's pairs, ratings and verdicts.

Every side (`{"item_id"}` or `{"item_id", "turn", "candidate"}`) becomes the text the model
reads (see `texts`) plus the item's image, and is featurised through the cache once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from corpora.models import Item
from curation.selectors.training_data import TrainingData
from curation.services.features import Featurizable, featurize_many
from curation.services.texts import QUESTIONS_TURN, candidate_text, item_text, question_set_text
from rewardmodel.features import FeatureRef
from rewardmodel.pairs import PreferencePair, Rating, RuleVerdict


@dataclass
class LibraryInputs:
    pairs: list[PreferencePair]
    ratings: list[Rating]
    verdicts: list[RuleVerdict]
    criteria: list[str]
    rules: list[str]


def _side_key(ref: dict[str, Any]) -> tuple:
    return (int(ref["item_id"]), ref.get("turn"), ref.get("candidate"))


def side_featurizable(item: Item, turn: Any, candidate: Any) -> Featurizable:
    image_key = item.image.sha256 if item.image_id else None
    image_file = item.image.file if item.image_id else None
    if turn is None:
        text = item_text(item.conversations or [], item.questions)
    elif turn == QUESTIONS_TURN:
        text = question_set_text((item.questions or [])[int(candidate)])
    else:
        text = candidate_text(item.conversations or [], int(turn), int(candidate))
    return Featurizable(text=text, image_key=image_key, image_file=image_file)


def library_inputs(
    data: TrainingData, *, criteria: list[str], text_encoder: str, image_encoder: str | None
) -> LibraryInputs:
    sides: dict[tuple, None] = {}
    for pair in data.pairs:
        sides.setdefault(_side_key(pair["chosen"]))
        sides.setdefault(_side_key(pair["rejected"]))
    for record in (*data.ratings, *data.verdicts):
        sides.setdefault(_side_key(record["ref"]))
    item_ids = sorted({key[0] for key in sides})
    items = Item.objects.select_related("image").in_bulk(item_ids)
    keys = [key for key in sides if key[0] in items]
    things = [side_featurizable(items[k[0]], k[1], k[2]) for k in keys]
    refs = featurize_many(things, text_encoder=text_encoder, image_encoder=image_encoder)
    ref_of: dict[tuple, FeatureRef] = dict(zip(keys, refs, strict=True))

    criteria_set = set(criteria)
    pairs = []
    for pair in data.pairs:
        chosen, rejected = (
            ref_of.get(_side_key(pair["chosen"])),
            ref_of.get(_side_key(pair["rejected"])),
        )
        criterion = pair.get("criterion") or "overall"
        if chosen is None or rejected is None or chosen == rejected:
            continue  # an item left the project, or two candidates with the same text
        if criterion != "overall" and criterion not in criteria_set:
            criterion = "overall"
        rejected_item = int(pair["rejected"]["item_id"])
        pairs.append(
            PreferencePair(
                item_id=str(pair["chosen"]["item_id"]),
                chosen=chosen,
                rejected=rejected,
                criterion=criterion,
                margin=float(pair.get("margin") or 0.0),
                source=str(pair.get("source", "")),
                rejected_item_id=None
                if rejected_item == int(pair["chosen"]["item_id"])
                else str(rejected_item),
            )
        )
    ratings = [
        Rating(str(r["item_id"]), ref_of[_side_key(r["ref"])], r["criterion"], float(r["value"]))
        for r in data.ratings
        if r["criterion"] in criteria_set and _side_key(r["ref"]) in ref_of
    ]
    rules = sorted({v["rule"] for v in data.verdicts})
    verdicts = [
        RuleVerdict(str(v["item_id"]), ref_of[_side_key(v["ref"])], v["rule"], bool(v["violated"]))
        for v in data.verdicts
        if _side_key(v["ref"]) in ref_of
    ]
    return LibraryInputs(pairs, ratings, verdicts, list(criteria), rules)

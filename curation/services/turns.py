"""The turns of a database item, as a turn-level reward model reads and scores them.

One unit per (question, answer) turn, and per candidate of a candidate-rich turn, exactly as
`rewardmodel.conversation.record_turns` cuts a LLaVA record, except that `turn` is the answer's
index in `Item.conversations` (the index training refs and `ItemScore.best_candidates` use).
Question-only records give one unit per question set (turn "questions").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from corpora.models import Item
from curation.services.features import Featurizable
from curation.services.texts import item_text
from rewardmodel.records import QUESTIONS_TURN

# Stands for the whole item when it has no answered turn (e.g. a lone question): never a
# message index, so it never names a candidate turn.
WHOLE_ITEM_TURN = -1


def item_turn_specs(item: Item) -> list[Any]:  # list[rewardmodel.conversation.TurnSpec]
    from rewardmodel.conversation import TurnSpec, record_turns

    conversations = item.conversations or []
    item_id = str(item.pk)
    specs = record_turns({"id": item_id, "conversations": conversations})
    # record_turns numbers answers 0, 1, ...: map them back to their message index
    answers = [i for i, message in enumerate(conversations) if message.get("from") != "human"]
    specs = [replace(spec, turn=answers[spec.turn]) for spec in specs]
    if specs:
        return specs
    question_sets = item.questions if isinstance(item.questions, list) else []
    if len(question_sets) > 1:
        return [
            TurnSpec(item_id, QUESTIONS_TURN, k, _question_set(q), "")  # type: ignore[arg-type]
            for k, q in enumerate(question_sets)
        ]
    return [TurnSpec(item_id, WHOLE_ITEM_TURN, None, item_text(conversations, item.questions), "")]


def _question_set(question_set: Any) -> str:
    if isinstance(question_set, list):
        return " ".join(str(q).replace("<image>", "").strip() for q in question_set)
    return str(question_set).replace("<image>", "").strip()


def items_turn_specs(items: Sequence[Item]) -> tuple[list[Any], list[Featurizable]]:
    """Every turn unit of `items`, in order, and what to featurise for each."""
    specs: list[Any] = []
    things: list[Featurizable] = []
    for item in items:
        image_key = item.image.sha256 if item.image_id else None
        image_file = item.image.file if item.image_id else None
        for spec in item_turn_specs(item):
            specs.append(spec)
            things.append(Featurizable(spec.text, image_key, image_file))
    return specs, things

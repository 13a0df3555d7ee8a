"""Preference pairs, ratings and rule verdicts of a project, shaped for the training job.

Pairs are dicts `{item_id, criterion, chosen, rejected, margin, source}` whose sides are refs
`{"item_id": X, "turn": t, "candidate": k}` (a candidate answer) or `{"item_id": X}` (a whole
item), exactly as the annotation engine's selector makes them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from annotation.models import Annotation, Project
from annotation.selectors.training_data import training_data


@dataclass
class TrainingData:
    pairs: list[dict[str, Any]] = field(default_factory=list)
    # {"item_id", "ref", "criterion", "value" in [0, 1]}
    ratings: list[dict[str, Any]] = field(default_factory=list)
    # {"item_id", "ref", "rule", "violated"}
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    # item id -> list of per-annotator answer dicts (for agreement on held-out items)
    answers_by_item: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        by_source: dict[str, int] = defaultdict(int)
        for pair in self.pairs:
            by_source[pair["source"]] += 1
        return {
            "pairs": len(self.pairs),
            "pairs_by_source": dict(sorted(by_source.items())),
            "ratings": len(self.ratings),
            "verdicts": len(self.verdicts),
        }


def project_training_data(*, project: Project) -> TrainingData:
    """The engine's training data for `project`, in the shape the training job consumes.

    The annotation engine's selector (`annotation.selectors.training_data`) is the one place
    that turns answers into pairs, targets and safety labels; this adapter only reshapes its
    records.
    """
    engine = training_data(project=project)
    ratings = [
        {
            "item_id": target["item_id"],
            "ref": {"item_id": target["item_id"]},
            "criterion": target["criterion"],
            "value": target["value"],
        }
        for target in engine.targets
    ]
    verdicts = [
        {
            "item_id": label["item_id"],
            "ref": {"item_id": label["item_id"]},
            "rule": label["rule"],
            "violated": label["violates"],
        }
        for label in engine.safety
        if label["violates"] is not None  # "unsure" teaches nothing
    ]
    return TrainingData(
        pairs=list(engine.pairs),
        ratings=ratings,
        verdicts=verdicts,
        answers_by_item=_answers_by_item(project),
    )


def _answers_by_item(project: Project) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = (
        Annotation.objects.filter(project=project, source=Annotation.Source.HUMAN, is_gold=False)
        .order_by("item_id", "user_id")
        .values_list("item_id", "answers")
        .iterator(chunk_size=2000)
    )
    for item_id, answers in rows:
        out[item_id].append(answers or {})
    return dict(out)


def _questions(project: Project) -> list[dict[str, Any]]:
    rubric = getattr(project, "rubric", None)
    return list(rubric.questions) if rubric is not None else []


def rubric_criteria(project: Project) -> list[str]:
    """Criteria the head gets one output for (rating/binary questions with a criterion)."""
    names = []
    for question in _questions(project):
        name = question.get("criterion")
        is_criterion = question["type"] in ("binary", "rating") and name and name != "overall"
        if is_criterion and name not in names:
            names.append(name)
    return names

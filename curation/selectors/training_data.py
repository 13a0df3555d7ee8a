"""What a training run reads besides the engine's training data: the annotators' answers
(agreement on held-out items) and the rubric's criteria.

The training data itself is the annotation engine's (`annotation.selectors.training_data`),
a `rewardmodel.data.TrainingData`, used as it is.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from annotation.models import Annotation, Project


def answers_by_item(*, project: Project) -> dict[int, list[dict[str, Any]]]:
    """Item id -> the per-annotator answer dicts of its human, non-gold annotations."""
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

"""Reads of item scores (a project's items, or a scoring's corpus) and human safety verdicts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import QuerySet

from annotation.models import Annotation, ProjectItem
from corpora.models import Item
from curation.models import ItemScore, RewardModelRun, ScoringRun

# A rule counts as violated (by the model) above this probability.
MODEL_VIOLATION_THRESHOLD = 0.5


@dataclass
class ScoreTable:
    """Aligned arrays over the scored items of a project or a scoring, ordered by item id;
    `n_project_items` counts the items there are to score (the project's, or the corpus's)."""

    item_ids: np.ndarray
    categories: np.ndarray
    overall: np.ndarray
    criteria: dict[str, np.ndarray]
    rules: dict[str, np.ndarray]
    n_project_items: int

    def __len__(self) -> int:
        return len(self.item_ids)


def project_score_table(*, project_id: int, run: RewardModelRun) -> ScoreTable:
    project_items = ProjectItem.objects.filter(project_id=project_id).values("item_id")
    scores = ItemScore.objects.filter(run=run, item_id__in=project_items)
    n_items = ProjectItem.objects.filter(project_id=project_id).count()
    return _score_table(scores, run=run, n_items=n_items)


def scoring_score_table(*, scoring: ScoringRun) -> ScoreTable:
    """The scored items of a scoring's corpus (corpus x model), whatever project holds them."""
    scores = ItemScore.objects.filter(run_id=scoring.run_id, item__corpus_id=scoring.corpus_id)
    n_items = Item.objects.filter(corpus_id=scoring.corpus_id).count()
    return _score_table(scores, run=scoring.run, n_items=n_items)


def _score_table(scores: QuerySet[ItemScore], *, run: RewardModelRun, n_items: int) -> ScoreTable:
    rows = (
        scores.order_by("item_id")
        .values_list("item_id", "item__category", "overall", "criteria", "rules")
        .iterator(chunk_size=5000)
    )
    ids, cats, overall = [], [], []
    criteria: dict[str, list[float]] = defaultdict(list)
    rules: dict[str, list[float]] = defaultdict(list)
    for item_id, category, value, crit, rule in rows:
        ids.append(item_id)
        cats.append(category or "")
        overall.append(value)
        for name in run.criteria:
            criteria[name].append(float((crit or {}).get(name, np.nan)))
        for name in run.rules:
            rules[name].append(float((rule or {}).get(name, 0.0)))
    return ScoreTable(
        item_ids=np.asarray(ids, dtype=np.int64),
        categories=np.asarray(cats, dtype=object),
        overall=np.asarray(overall, dtype=np.float64),
        criteria={k: np.asarray(v) for k, v in criteria.items()},
        rules={k: np.asarray(v) for k, v in rules.items()},
        n_project_items=n_items,
    )


def human_unsafe_items(*, project_id: int, item_ids: list[int] | None = None) -> set[int]:
    """Items (of `item_ids`, or all the project's) where, for some rule, more annotators said
    "violates" than "does not violate"."""
    votes: dict[tuple[int, str], int] = defaultdict(int)
    annotations = Annotation.objects.filter(project_id=project_id)
    if item_ids is not None:
        annotations = annotations.filter(item_id__in=item_ids)
    rows = annotations.values_list("item_id", "answers").iterator(chunk_size=2000)
    for item_id, answers in rows:
        for value in (answers or {}).values():
            if not isinstance(value, dict):
                continue
            for rule, verdict in value.items():
                label = verdict.get("verdict") if isinstance(verdict, dict) else None
                if label == "violates":
                    votes[(item_id, rule)] += 1
                elif label == "does_not_violate":
                    votes[(item_id, rule)] -= 1
    return {item_id for (item_id, _), balance in votes.items() if balance > 0}


def item_summaries(item_ids: list[int]) -> dict[int, dict]:
    """Small display records for sample items (first question, answer start, image URL)."""
    out = {}
    for item in (
        Item.objects.filter(pk__in=item_ids)
        .select_related("image")
        .only("pk", "external_id", "category", "conversations", "image_path", "image__file")
    ):
        turns = item.conversations or []
        question = next((str(t.get("value")) for t in turns if t.get("from") == "human"), "")
        answer = next((t.get("value") for t in turns if t.get("from") == "gpt"), "")
        if isinstance(answer, list):
            answer = answer[0] if answer else ""
        out[item.pk] = {
            "item_id": item.pk,
            "external_id": item.external_id,
            "category": item.category,
            "image_path": item.image_path,
            "image_url": f"{settings.MEDIA_URL}{item.image.file}" if item.image_id else None,
            "question": question.replace("<image>", "").strip()[:300],
            "answer": str(answer)[:300],
        }
    return out

"""Reads of scorings (corpus x model version) and their per-item scores."""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet

from core.access import access_policy
from core.errors import DomainError
from curation.models import ItemScore, RewardModelRun, ScoringRun


def scoring_get(*, scoring_id: int) -> ScoringRun:
    """The scoring with its run, corpus and job, or a 404 domain error."""
    scoring = (
        ScoringRun.objects.select_related("run", "corpus", "job").filter(pk=scoring_id).first()
    )
    if scoring is None:
        raise DomainError("not_found", "Not found.", status=404)
    return scoring


def scorings_of_run(*, run: RewardModelRun, user: Any | None = None) -> QuerySet[ScoringRun]:
    """The model's scorings, newest first; with `user`, only of the corpora that user may read."""
    scorings = ScoringRun.objects.filter(run=run).select_related("job")
    visible = None if user is None else access_policy().visible_corpus_ids(user=user)
    return scorings if visible is None else scorings.filter(corpus_id__in=visible)


def scoring_item_scores(
    *,
    scoring: ScoringRun,
    category: str | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
) -> QuerySet[ItemScore]:
    """The scoring's per-item scores (overall, per criterion, per rule), filterable; rows carry
    the item's external id and category. Ordering is the caller's (a cursor paginator)."""
    scores = ItemScore.objects.filter(run_id=scoring.run_id, item__corpus_id=scoring.corpus_id)
    if category is not None:
        scores = scores.filter(item__category=category)
    if min_score is not None:
        scores = scores.filter(overall__gte=min_score)
    if max_score is not None:
        scores = scores.filter(overall__lte=max_score)
    return scores.annotate(external_id=F("item__external_id"), category=F("item__category")).only(
        "id", "item_id", "overall", "criteria", "rules"
    )

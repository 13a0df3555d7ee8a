"""Reads of scorings (corpus x model version) and their per-item scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import F, QuerySet

from core.access import access_policy
from core.errors import DomainError
from core.models import Job
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


@dataclass(frozen=True)
class CorpusScoringState:
    """One corpus as the guided path shows it: whether the model scored it, is scoring it, or
    scored an older version of it (an import changed it since)."""

    corpus_id: int
    name: str
    item_count: int
    in_project: bool
    corpus_version: int
    scoring: ScoringRun | None

    @property
    def state(self) -> str:
        if self.scoring is None:
            return "unscored"
        status = self.scoring.job.status
        if status in (Job.Status.QUEUED, Job.Status.RUNNING):
            return "scoring"
        if status != Job.Status.SUCCEEDED:
            return "failed" if status == Job.Status.FAILED else "cancelled"
        return "stale" if self.scoring.corpus_version != self.corpus_version else "scored"


def corpora_scoring_state(
    *, run: RewardModelRun, user: Any, project_corpus_ids: list[int], limit: int = 200
) -> list[CorpusScoringState]:
    """The corpora `user` may read (the project's first, then by name; at most `limit`) with
    the newest scoring of each by `run`. Three queries whatever the number of corpora."""
    from corpora.selectors import corpus_list

    in_project = set(project_corpus_ids)
    visible = corpus_list(user=user)
    corpora = list(visible.filter(pk__in=in_project)[:limit])
    corpora += list(visible.exclude(pk__in=in_project)[: limit - len(corpora)])
    newest: dict[int, ScoringRun] = {}
    for scoring in (
        ScoringRun.objects.filter(run=run, corpus_id__in=[c.pk for c in corpora])
        .select_related("job")
        .order_by("-created_at", "-id")
    ):
        newest.setdefault(scoring.corpus_id, scoring)
    return [
        CorpusScoringState(
            corpus_id=c.pk,
            name=c.name,
            item_count=c.item_count,
            in_project=c.pk in in_project,
            corpus_version=c.version,
            scoring=newest.get(c.pk),
        )
        for c in corpora
    ]

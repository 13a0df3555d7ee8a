"""The data browser: items of a corpus, a project or a dataset version, and a page per item.

Filters come from the query string, are bounded and validated here (a bad value is ignored
with a note on the page, never a 500); the selector does the reading (`curation.selectors.
browse`). Pages go forward by a keyset cursor (`after`, an item id)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from annotation.selectors.projects import project_corpus_ids
from core.access import REVIEWER
from core.errors import DomainError
from corpora.selectors import corpus_get, items_readable
from curation.selectors.browse import (
    MAX_QUERY,
    STATES,
    BrowseFilters,
    browse_categories,
    browse_score_runs,
    item_detail,
    items_browse,
    reviewed_project_ids,
)
from curation.selectors.judge import judge_run_latest, judge_run_rule_keys
from curation.selectors.runs import dataset_get
from frontend.access import project_for_page

FILTER_KEYS = (
    "q",
    "category",
    "scoring",
    "min_score",
    "max_score",
    "state",
    "disputed",
    "judge",
    "human",
)
ANY_RULE = "any"  # the judge filter's value for "violates some rule"


def _number(raw: str | None, kind: type, problems: list[str], name: str) -> Any:
    if raw is None or raw.strip() == "":
        return None
    try:
        value = kind(raw)
    except ValueError:
        problems.append(f"{name} must be a number; ignored.")
        return None
    if kind is float and value != value:  # NaN
        problems.append(f"{name} must be a number; ignored.")
        return None
    return value


def _judge_rule(raw: str | None, rules: list[str], problems: list[str]) -> str | None:
    """The judge filter: None (off), "" (any rule) or one of the run's rule keys."""
    if not raw:
        return None
    if raw == ANY_RULE:
        return ""
    if raw in rules:
        return raw
    problems.append(
        "Unknown judge rule; ignored." if rules else "No finished judge run here; ignored."
    )
    return None


def _filters(
    request: HttpRequest, scorings: list, *, with_state: bool, judge_run: Any, judge_rules: list
) -> tuple[BrowseFilters, list[str], Any]:
    get = request.GET
    problems: list[str] = []
    scoring = None
    scoring_id = _number(get.get("scoring"), int, problems, "scoring")
    if scoring_id is not None:
        scoring = next((s for s in scorings if s.pk == scoring_id), None)
        if scoring is None:
            problems.append("That scoring is not one of this page's; ignored.")
    state = get.get("state") or None
    if state is not None and (not with_state or state not in STATES):
        problems.append("Unknown annotation state; ignored.")
        state = None
    filters = BrowseFilters(
        q=(get.get("q") or "").strip()[:MAX_QUERY],
        category=get.get("category") or None,
        score_run_id=scoring.run_id if scoring is not None else None,
        min_score=_number(get.get("min_score"), float, problems, "min score") if scoring else None,
        max_score=_number(get.get("max_score"), float, problems, "max score") if scoring else None,
        state=state,
        disputed=with_state and get.get("disputed") == "1",
        judge_run_id=judge_run.pk if judge_run is not None else None,
        judge_rule=_judge_rule(get.get("judge"), judge_rules, problems),
        human_flagged=with_state and get.get("human") == "1",
    )
    return filters, problems, scoring


def _browse(
    request: HttpRequest,
    *,
    title: str,
    scope: dict[str, Any],
    corpus_ids: list[int],
    scorings: list,
    with_state: bool,
    judge_run: Any,
    context: dict[str, Any],
) -> HttpResponse:
    judge_rules = judge_run_rule_keys(judge_run)
    filters, problems, scoring = _filters(
        request, scorings, with_state=with_state, judge_run=judge_run, judge_rules=judge_rules
    )
    after = _number(request.GET.get("after"), int, problems, "after")
    page = items_browse(**scope, filters=filters, after=after)
    kept = {k: request.GET[k] for k in FILTER_KEYS if request.GET.get(k)}
    next_url = (
        f"?{urlencode({**kept, 'after': page.next_after})}" if page.next_after is not None else None
    )
    return render(
        request,
        "frontend/browse.html",
        {
            "title": title,
            "page": page,
            "filters": filters,
            "raw": request.GET,
            "problems": problems,
            "scoring": scoring,
            "scorings": scorings,
            "categories": browse_categories(corpus_ids=corpus_ids),
            "states": STATES if with_state else (),
            "judge_run": judge_run,
            "judge_rules": judge_rules,
            "next_url": next_url,
            "first_url": f"?{urlencode(kept)}" if after is not None else None,
            "nav": "projects",
            **context,
        },
    )


@login_required
def browse_corpus(request: HttpRequest, corpus_id: int) -> HttpResponse:
    try:
        corpus = corpus_get(corpus_id=corpus_id, user=request.user)
    except DomainError as exc:
        raise Http404("No such corpus.") from exc
    return _browse(
        request,
        title=f"Items of corpus {corpus.name}",
        scope={"corpus_id": corpus.pk},
        corpus_ids=[corpus.pk],
        scorings=browse_score_runs(project_ids=[], corpus_id=corpus.pk),
        with_state=False,
        # the verdicts of a project the user reviews (staff: any) that judged this corpus
        judge_run=judge_run_latest(
            project_ids=reviewed_project_ids(user=request.user), corpus_id=corpus.pk
        ),
        context={"corpus": corpus},
    )


@login_required
def browse_project(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for_page(request, project_id, min_role=REVIEWER).project
    return _browse(
        request,
        title=f"Items of project {project.name}",
        scope={"project": project},
        corpus_ids=project_corpus_ids(project=project),
        scorings=browse_score_runs(project_ids=[project.pk]),
        with_state=True,
        judge_run=judge_run_latest(project_ids=[project.pk]),
        context={"project": project},
    )


@login_required
def browse_dataset(request: HttpRequest, dataset_id: int) -> HttpResponse:
    try:
        dataset = dataset_get(dataset_id=dataset_id)
    except DomainError as exc:
        raise Http404("No such dataset version.") from exc
    project = project_for_page(request, dataset.project_id, min_role=REVIEWER).project
    return _browse(
        request,
        title=f"Items of dataset v{dataset.number} {dataset.name} ({project.name})",
        scope={"dataset": dataset},
        corpus_ids=project_corpus_ids(project=project),
        scorings=browse_score_runs(project_ids=[project.pk]),
        with_state=True,
        judge_run=judge_run_latest(project_ids=[project.pk]),
        context={"project": project, "dataset": dataset},
    )


@login_required
def item_page(request: HttpRequest, item_id: int) -> HttpResponse:
    item = items_readable(ids=[item_id], user=request.user).get(item_id)
    if item is None:
        raise Http404("No such item.")
    detail = item_detail(item=item, project_ids=reviewed_project_ids(user=request.user))
    return render(
        request,
        "frontend/item.html",
        {
            "detail": detail,
            "item": item,
            "back_url": reverse("data-browser-corpus", args=[item.corpus_id]),
            "nav": "projects",
        },
    )

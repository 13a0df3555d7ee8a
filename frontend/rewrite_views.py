"""The review page of a rewriting: original against rewrite, people decide (data from the API)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from core.access import REVIEWER
from core.errors import DomainError
from frontend.access import project_for_page
from rewrites.selectors import rewrite_figures, rewrite_get


@login_required
def rewrite_review(request: HttpRequest, dataset_id: int, rewrite_id: int) -> HttpResponse:
    try:
        run = rewrite_get(rewrite_id=rewrite_id, dataset_id=dataset_id)
    except DomainError as exc:
        raise Http404("No such rewriting.") from exc
    project = project_for_page(request, run.source.project_id, min_role=REVIEWER).project
    return render(
        request,
        "frontend/curation/rewrite_review.html",
        {"project": project, "run": run, "figures": rewrite_figures(run=run), "nav": "projects"},
    )

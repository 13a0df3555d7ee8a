"""Pages for reward-model runs, curations and dataset versions (data comes from the API)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from annotation.models import Project
from core.access import REVIEWER
from core.errors import DomainError
from curation.selectors.recipes import recipe_guide
from curation.selectors.runs import (
    active_run_id,
    dataset_versions,
    reward_model_curve,
    reward_model_run_get,
    reward_model_runs,
)
from curation.services.curation import curation_policy_schema
from frontend.access import project_for_page


def _project(request: HttpRequest, project_id: int) -> Project:
    """Curation pages are for reviewers and owners (and staff); anyone else gets 404."""
    return project_for_page(request, project_id, min_role=REVIEWER).project


@login_required
def reward_model_runs_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    runs = reward_model_runs(project_id=project.pk)
    active = active_run_id(project_id=project.pk)
    return render(
        request,
        "frontend/curation/runs.html",
        {
            "project": project,
            "runs": runs,
            "active_run_id": active,
            "recipes": recipe_guide(),
            "nav": "projects",
        },
    )


@login_required
def reward_model_run(request: HttpRequest, run_id: int) -> HttpResponse:
    try:
        run = reward_model_run_get(run_id=run_id)
    except DomainError as exc:
        raise Http404("No such run.") from exc
    _project(request, run.project_id)
    return render(
        request,
        "frontend/curation/run.html",
        {
            "project": run.project,
            "run": run,
            "curve": reward_model_curve(run=run),
            "nav": "projects",
        },
    )


@login_required
def curations(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    datasets = dataset_versions(project_id=project.pk, with_exports=True)
    runs = reward_model_runs(project_id=project.pk, with_artifact=True)
    return render(
        request,
        "frontend/curation/curations.html",
        {
            "project": project,
            "datasets": datasets,
            "runs": runs,
            "policy_schema": curation_policy_schema(),
            "nav": "projects",
        },
    )

"""Pages for reward-model runs, curations and dataset versions (data comes from the API)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from annotation.models import Project, ProjectMembership
from curation.models import ActiveRewardModel, DatasetVersion, RewardModelRun
from curation.services.curation import curation_policy_schema

MANAGE = {ProjectMembership.Role.OWNER, ProjectMembership.Role.REVIEWER}


def _project(request: HttpRequest, project_id: int) -> Project:
    project = get_object_or_404(Project, pk=project_id)
    if request.user.is_staff:
        return project
    role = (
        ProjectMembership.objects.filter(project=project, user=request.user)
        .values_list("role", flat=True)
        .first()
    )
    if role not in MANAGE:
        raise PermissionDenied
    return project


@login_required
def reward_model_runs(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    runs = RewardModelRun.objects.filter(project=project).select_related("job")
    active = (
        ActiveRewardModel.objects.filter(project=project).values_list("run_id", flat=True).first()
    )
    return render(
        request,
        "frontend/curation/runs.html",
        {"project": project, "runs": runs, "active_run_id": active, "nav": "projects"},
    )


@login_required
def reward_model_run(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(RewardModelRun.objects.select_related("job", "project"), pk=run_id)
    _project(request, run.project_id)
    curve = list(run.steps.values("step", "loss", "val_accuracy"))
    return render(
        request,
        "frontend/curation/run.html",
        {"project": run.project, "run": run, "curve": curve, "nav": "projects"},
    )


@login_required
def curations(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    datasets = DatasetVersion.objects.filter(project=project).prefetch_related("exports__job")
    runs = RewardModelRun.objects.filter(project=project, artifact_path__gt="")
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

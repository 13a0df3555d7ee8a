"""Pages for reward-model runs, curations and dataset versions (data comes from the API)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from annotation.models import Project
from annotation.selectors.projects import project_corpus_ids, project_members
from core.access import OWNER, REVIEWER
from core.errors import DomainError
from core.models import Job
from curation.selectors.recipes import recipe_guide
from curation.selectors.runs import (
    active_run_id,
    dataset_versions,
    reward_model_curve,
    reward_model_run_get,
    reward_model_runs,
    run_readouts,
)
from curation.selectors.scorings import corpora_scoring_state
from curation.services.curation import curation_policy_schema
from curation.services.export_sink import s3_configured
from frontend.access import project_for_page
from rewrites.selectors import rewrite_prompt_versions


def _project(request: HttpRequest, project_id: int) -> Project:
    """Curation pages are for reviewers and owners (and staff); anyone else gets 404."""
    return project_for_page(request, project_id, min_role=REVIEWER).project


def _scoring_context(request: HttpRequest, project: Project, run) -> dict:
    """What the scoring step of the path shows for `run`: every corpus the user may read (the
    project's first) with the newest scoring of it by that run."""
    if run is None:
        return {"corpora": []}
    return {
        "corpora": corpora_scoring_state(
            run=run, user=request.user, project_corpus_ids=project_corpus_ids(project=project)
        )
    }


@login_required
def reward_model_runs_page(request: HttpRequest, project_id: int) -> HttpResponse:
    access = project_for_page(request, project_id, min_role=REVIEWER)
    project = access.project
    runs = list(reward_model_runs(project_id=project.pk))
    active = active_run_id(project_id=project.pk)
    # The path goes on from the newest finished run: promote it, score corpora with it.
    path_run = next(
        (r for r in runs if r.job.status == Job.Status.SUCCEEDED and r.artifact_path), None
    )
    return render(
        request,
        "frontend/curation/runs.html",
        {
            "project": project,
            "runs": runs,
            "active_run_id": active,
            "path_run": path_run,
            "can_manage": access.allows(OWNER),
            **_scoring_context(request, project, path_run),
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
            "readouts": run_readouts(run=run),
            "nav": "projects",
        },
    )


@login_required
def curations(request: HttpRequest, project_id: int) -> HttpResponse:
    access = project_for_page(request, project_id, min_role=REVIEWER)
    project = access.project
    datasets = dataset_versions(project_id=project.pk, with_exports=True)
    runs = list(reward_model_runs(project_id=project.pk, with_artifact=True))
    active = active_run_id(project_id=project.pk)
    promoted = next((r for r in runs if r.pk == active), None)
    return render(
        request,
        "frontend/curation/curations.html",
        {
            "project": project,
            "datasets": datasets,
            "runs": runs,
            "active_run_id": active,
            "path_run": promoted,
            "can_manage": access.allows(OWNER),
            **_scoring_context(request, project, promoted),
            "policy_schema": curation_policy_schema(),
            "s3_configured": s3_configured(),
            "members": project_members(project=project),
            "rewrite_prompts": rewrite_prompt_versions(),
            "nav": "projects",
        },
    )


@login_required
def judge_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """The safety judge against the humans, per rule, for the latest run (or ``?run=``)."""
    from curation.selectors.judge import judge_run_list, judge_vs_human

    project = _project(request, project_id)
    runs = list(judge_run_list(project=project)[:50])
    wanted = request.GET.get("run", "")
    run = next((r for r in runs if str(r.pk) == wanted), None) if wanted else None
    if wanted and run is None:
        raise Http404("No such judge run.")
    run = run or (runs[0] if runs else None)
    return render(
        request,
        "frontend/curation/judge.html",
        {
            "project": project,
            "runs": runs,
            "report": judge_vs_human(run=run) if run is not None else None,
            "nav": "projects",
        },
    )

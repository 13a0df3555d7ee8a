"""Server-rendered pages. They are shells: the browser talks to the REST API (session + CSRF)
for every read and write of annotation data, so the rules live once, in the engine."""

from __future__ import annotations

import html

import markdown
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.safestring import SafeString, mark_safe

from annotation.models import Corpus, Job, Project, ProjectMembership
from annotation.presets import PRESETS, default_constitution, rubric_preset

Role = ProjectMembership.Role


def render_markdown(source: str) -> SafeString:
    """Markdown for text that staff write (instructions). Raw HTML is escaped before conversion,
    so the output only holds tags that Markdown itself produced."""
    return mark_safe(markdown.markdown(html.escape(source or ""), extensions=["sane_lists"]))


def _role(request: HttpRequest, project: Project) -> str | None:
    membership = ProjectMembership.objects.filter(project=project, user=request.user).first()
    return membership.role if membership else None


def _project_access(request: HttpRequest, project_id: int, *, allowed: set[str]) -> tuple:
    """The project and the user's role; staff may open every page of every project."""
    project = get_object_or_404(Project, pk=project_id)
    role = _role(request, project)
    if not request.user.is_staff and role not in allowed:
        raise PermissionDenied
    return project, role


def _capabilities(request: HttpRequest, role: str | None) -> dict:
    staff = request.user.is_staff
    return {
        "can_review": staff or role in {Role.OWNER, Role.REVIEWER},
        "can_manage": staff or role == Role.OWNER,
    }


login = auth_views.LoginView.as_view(
    template_name="frontend/login.html", redirect_authenticated_user=True
)
logout = auth_views.LogoutView.as_view()


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = {
        m.project_id: m.role
        for m in ProjectMembership.objects.filter(user=request.user).only("project_id", "role")
    }
    projects = Project.objects.filter(pk__in=memberships).order_by("name")
    if request.user.is_staff:
        projects = Project.objects.order_by("name")
    rows = []
    for project in projects:
        role = memberships.get(project.pk)
        rows.append(
            {
                "project": project,
                "role": role or "staff",
                **_capabilities(request, role),
                "can_annotate": role is not None,
            }
        )
    return render(request, "frontend/home.html", {"rows": rows, "nav": "projects"})


@login_required
def project_annotate(request: HttpRequest, project_id: int) -> HttpResponse:
    project, role = _project_access(
        request, project_id, allowed={Role.OWNER, Role.REVIEWER, Role.ANNOTATOR}
    )
    config = {"project_id": project.pk, "show_gold_badge": False}
    return render(
        request,
        "frontend/workspace.html",
        {
            "project": project,
            "ws_config": config,
            **_capabilities(request, role),
            "instructions_html": render_markdown(project.instructions)
            if project.instructions
            else "",
        },
    )


@login_required
def project_review(request: HttpRequest, project_id: int) -> HttpResponse:
    project, role = _project_access(request, project_id, allowed={Role.OWNER, Role.REVIEWER})
    return render(
        request,
        "frontend/review.html",
        {
            "project": project,
            "config": {"project_id": project.pk},
            **_capabilities(request, role),
        },
    )


@login_required
def project_dashboard(request: HttpRequest, project_id: int) -> HttpResponse:
    project, role = _project_access(request, project_id, allowed={Role.OWNER})
    return render(
        request,
        "frontend/dashboard.html",
        {
            "project": project,
            "config": {"project_id": project.pk},
            **_capabilities(request, role),
        },
    )


def _editor_config(project_id: int | None) -> dict:
    # Presets are data files of the engine; the editor offers them without an extra request.
    return {
        "project_id": project_id,
        "presets": {name: rubric_preset(name) for name in PRESETS},
        "default_constitution": default_constitution(),
        "sampling": Project.Sampling.choices,
        "skip_policies": Project.SkipPolicy.choices,
        "roles": Role.choices,
    }


@login_required
def project_create(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied
    return render(
        request,
        "frontend/project_edit.html",
        {
            "project": None,
            "config": _editor_config(None),
            "nav": "new",
        },
    )


@login_required
def project_edit(request: HttpRequest, project_id: int) -> HttpResponse:
    project, role = _project_access(request, project_id, allowed={Role.OWNER})
    return render(
        request,
        "frontend/project_edit.html",
        {
            "project": project,
            "config": _editor_config(project.pk),
            **_capabilities(request, role),
        },
    )


@login_required
def corpora(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied
    jobs = Job.objects.filter(kind=Job.Kind.CORPUS_IMPORT).order_by("-created_at")[:10]
    return render(
        request,
        "frontend/corpora.html",
        {
            "corpora": Corpus.objects.order_by("name"),
            "jobs": jobs,
            "nav": "corpora",
        },
    )

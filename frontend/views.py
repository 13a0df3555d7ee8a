"""Server-rendered pages. They are shells: the browser talks to the REST API (session + CSRF)
for every read and write of annotation data, so the rules live once, in the engine."""

from __future__ import annotations

import html

import markdown
import nh3
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import SafeString, mark_safe
from rest_framework.throttling import BaseThrottle

from annotation.models import Project, ProjectMembership
from annotation.presets import PRESETS, default_constitution, rubric_preset
from annotation.selectors.projects import project_missing_items_count, projects_with_roles
from core.access import ANNOTATOR, OWNER, REVIEWER
from core.errors import DomainError
from core.models import Job
from core.selectors import jobs_recent
from core.services.signin import (
    signin_check,
    signin_failed,
    signin_rate_check,
    signin_succeeded,
)
from corpora.selectors import corpus_list
from curation.services.judge_proposals import judge_helper_llm_name
from frontend.access import project_for_page

Role = ProjectMembership.Role


# What instructions may contain once rendered: text formatting, lists, code, tables and links.
MARKDOWN_TAGS = {
    "a", "p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
MARKDOWN_ATTRIBUTES = {"a": {"href", "title"}}
MARKDOWN_URL_SCHEMES = {"http", "https", "mailto"}


def render_markdown(source: str) -> SafeString:
    """Markdown for text that staff write (instructions). Raw HTML is escaped before conversion,
    and the result goes through an HTML sanitizer: Markdown itself makes links from any URL
    (`[x](javascript:...)`), so only http(s)/mailto links survive, with rel=noopener."""
    rendered = markdown.markdown(html.escape(source or ""), extensions=["sane_lists"])
    clean = nh3.clean(
        rendered,
        tags=MARKDOWN_TAGS,
        attributes=MARKDOWN_ATTRIBUTES,
        url_schemes=MARKDOWN_URL_SCHEMES,
        url_relative="deny",
        link_rel="noopener noreferrer",
    )
    return mark_safe(clean)  # sanitized just above


def _project_access(request: HttpRequest, project_id: int, *, min_role: str) -> tuple:
    """The project and the user's role; staff may open every page of every project."""
    access = project_for_page(request, project_id, min_role=min_role)
    return access.project, access.role


def _capabilities(request: HttpRequest, role: str | None) -> dict:
    staff = request.user.is_staff
    return {
        "can_review": staff or role in {Role.OWNER, Role.REVIEWER},
        "can_manage": staff or role == Role.OWNER,
    }


class LoginView(auth_views.LoginView):
    """Django's login page with the API's guard against password guessing: a rate per client
    address and username, and the lock-out per username after repeated failures
    (core.services.signin). A refused attempt gets the form again, with the reason, as 429."""

    template_name = "frontend/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        username = request.POST.get("username", "")
        try:
            signin_rate_check(username=username, client=BaseThrottle().get_ident(request))
            signin_check(username=username)
        except DomainError as refused:
            context = self.get_context_data(form=self.get_form(), refused=refused.message)
            return self.render_to_response(context, status=refused.status)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form) -> HttpResponse:
        signin_succeeded(username=form.get_user().get_username())
        return super().form_valid(form)

    def form_invalid(self, form) -> HttpResponse:
        signin_failed(username=self.request.POST.get("username", ""))
        return super().form_invalid(form)


login = LoginView.as_view()
logout = auth_views.LogoutView.as_view()


@login_required
def home(request: HttpRequest) -> HttpResponse:
    rows = []
    for project, role in projects_with_roles(user=request.user):
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
    project, role = _project_access(request, project_id, min_role=ANNOTATOR)
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
    project, role = _project_access(request, project_id, min_role=REVIEWER)
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
    project, role = _project_access(request, project_id, min_role=OWNER)
    return render(
        request,
        "frontend/dashboard.html",
        {
            "project": project,
            "missing_items": project_missing_items_count(project=project),
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
        # the helper LLM that proposes preconditions (None: the Propose control is disabled)
        "judge_helper_llm": judge_helper_llm_name() or None,
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
    project, role = _project_access(request, project_id, min_role=OWNER)
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
    jobs = jobs_recent(kind=Job.Kind.CORPUS_IMPORT, limit=10)
    return render(
        request,
        "frontend/corpora.html",
        {
            "corpora": corpus_list(),
            "jobs": jobs,
            "nav": "corpora",
        },
    )

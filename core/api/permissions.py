"""The API's permission classes: every API view declares its `permission_classes` from here.

They compose with DRF's operators (`IsProjectMember & ReadOnly | IsProjectOwner`) and all read
one rule, `core.access.access_policy()` (roles from memberships, supplied by the app that owns
them). Project rules: owner > reviewer > annotator, staff pass every role check; a stranger (or a
missing project) gets 404, so a project's existence is not disclosed; a member below the role
gets 403.

Which project a request is about: the `project_id` URL argument, or, for endpoints addressed by
another object (a run, a dataset, an export), the view's `permission_project_ids()`, which loads
that object through a selector (404 when missing). A project-role class on a view with neither
fails closed (ImproperlyConfigured), so a route can't be left unchecked by mistake.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request

from core.access import ANNOTATOR, OWNER, REVIEWER, ProjectAccess, access_policy, role_at_least
from core.selectors import job_get

__all__ = [
    "IsAuthenticated",
    "IsStaff",
    "ReadOnly",
    "IsProjectMember",
    "IsProjectReviewer",
    "IsProjectOwner",
    "IsProjectMemberCheckedInService",
    "IsItemProjectOwner",
    "IsJobCreatorOrStaff",
    "CanReadCorpus",
    "project_access_of",
]


def _authenticated(request: Request) -> bool:
    return bool(request.user and request.user.is_authenticated)


class IsStaff(BasePermission):
    message = "Only staff can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return _authenticated(request) and request.user.is_staff


class ReadOnly(BasePermission):
    """Safe methods only; composed with a role: `IsProjectMember & ReadOnly | IsProjectOwner`."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS


def project_access_of(request: Request, project_id: int) -> ProjectAccess:
    """The caller's access to a project, looked up once per request (permissions and the view
    share it), or a 404 for strangers and missing projects."""
    cache: dict[int, ProjectAccess | None] = request.__dict__.setdefault("_project_access", {})
    if project_id not in cache:
        cache[project_id] = access_policy().project_access(user=request.user, project_id=project_id)
    access = cache[project_id]
    if access is None:
        raise exceptions.NotFound("No such project.")
    return access


def _project_ids(view: Any) -> tuple[int, ...]:
    hook = getattr(view, "permission_project_ids", None)
    if hook is not None:
        return tuple(hook())
    if "project_id" in view.kwargs:
        return (int(view.kwargs["project_id"]),)
    raise ImproperlyConfigured(
        f"{type(view).__name__} uses a project-role permission but has no project_id argument "
        "and no permission_project_ids()."
    )


class _HasProjectRole(BasePermission):
    min_role: ClassVar[str]

    def has_permission(self, request: Request, view: Any) -> bool:
        if not _authenticated(request):
            return False  # 401, before anything about the project is looked up
        for project_id in _project_ids(view):
            if not project_access_of(request, project_id).allows(self.min_role):
                self.message = f"This needs the {self.min_role} role in this project."
                return False
        return True


class IsProjectMember(_HasProjectRole):
    min_role = ANNOTATOR


class IsProjectReviewer(_HasProjectRole):
    min_role = REVIEWER


class IsProjectOwner(_HasProjectRole):
    min_role = OWNER


class IsProjectMemberCheckedInService(IsAuthenticated):
    """Queue work (next, skip, postpone, drafts, submit): members only, staff included only as
    members; strangers get 404.

    The check is the first statement of those services: they lock the caller's membership row
    anyway (annotation.services.queue.membership_for_work), so the hot path pays one lookup for
    both. This class declares that rule on the endpoint and adds no query of its own; the
    permission matrix (tests/engine/test_permissions.py) holds the services to it.
    """


class CanReadCorpus(BasePermission):
    """Reader of every corpus the view names through `permission_corpus_ids()` (a member of a
    project that uses it; staff read all). Anyone else gets the 404 of a missing corpus.
    Composed after a project role: `IsProjectReviewer & CanReadCorpus`."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not _authenticated(request):
            return False
        hook = getattr(view, "permission_corpus_ids", None)
        if hook is None:
            raise ImproperlyConfigured(
                f"{type(view).__name__} uses CanReadCorpus but has no permission_corpus_ids()."
            )
        policy = access_policy()
        for corpus_id in hook():
            if not policy.corpus_readable(user=request.user, corpus_id=corpus_id):
                raise exceptions.NotFound("Not found.")
        return True


class IsItemProjectOwner(BasePermission):
    """Owner of a project that holds the item in the `item_id` URL argument (staff pass);
    404 for a missing item, 403 otherwise."""

    message = "Only staff or project owners may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not _authenticated(request):
            return False
        role = access_policy().item_role(user=request.user, item_id=int(view.kwargs["item_id"]))
        if role is None:
            raise exceptions.NotFound("No such item.")
        return role_at_least(role or None, OWNER)


class IsJobCreatorOrStaff(BasePermission):
    """The job in the `job_id` URL argument, seen by its creator or staff; anyone else gets the
    same 404 as for a missing job."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not _authenticated(request):
            return False
        job = job_get(job_id=int(view.kwargs["job_id"]))
        if job is None or not (request.user.is_staff or job.created_by_id == request.user.pk):
            raise exceptions.NotFound("Not found.")
        view.job = job
        return True

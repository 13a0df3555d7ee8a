"""Shared API helpers of curation: project access by role."""

from __future__ import annotations

from collections.abc import Iterable

from django.shortcuts import get_object_or_404
from rest_framework.request import Request

from annotation.models import Project, ProjectMembership
from core.api.errors import ApiError

MANAGE_ROLES = (ProjectMembership.Role.OWNER, ProjectMembership.Role.REVIEWER)


def project_for(request: Request, project_id: int, roles: Iterable[str] = MANAGE_ROLES) -> Project:
    """The project, if the user is staff or holds one of `roles` in it (else 404 / 403)."""
    project = get_object_or_404(Project, pk=project_id)
    user = request.user
    if user.is_staff:
        return project
    role = (
        ProjectMembership.objects.filter(project=project, user=user)
        .values_list("role", flat=True)
        .first()
    )
    if role is None:
        raise ApiError("not_found", "Not found.", status_code=404)
    if role not in set(roles):
        raise ApiError(
            "permission_denied", "Your role in this project cannot do this.", status_code=403
        )
    return project

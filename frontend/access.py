"""The page views' one access check, on the API's rules (core.access): a page of a project the
user may not open answers 404, exactly as a missing project does, so pages disclose nothing."""

from __future__ import annotations

from django.http import Http404, HttpRequest

from core.access import ProjectAccess, access_policy


def project_for_page(request: HttpRequest, project_id: int, *, min_role: str) -> ProjectAccess:
    """The project and the user's role, if the user holds `min_role` (staff pass); else 404."""
    access = access_policy().project_access(user=request.user, project_id=project_id)
    if access is None or not access.allows(min_role):
        raise Http404("No such project.")
    return access

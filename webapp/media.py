"""/media/: stored images, only for those who may see them.

The web process decides (session or API token; staff, or a member of a project that uses a
corpus holding the image); the bytes leave through the front proxy in production
(`X-Accel-Redirect` for nginx, `X-Sendfile` for Apache/lighttpd) or, in the embedded mode,
through Django itself.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.settings import api_settings

from annotation.selectors.images import image_file_for_user

# Images are content-addressed (a file never changes), but access can be withdrawn: browsers
# may keep them a while, shared caches never.
CACHE_CONTROL = "private, max-age=3600"


@require_safe
def media_serve(request: HttpRequest, path: str) -> HttpResponse:
    user = _user(request)
    if not user.is_authenticated:
        if "text/html" in request.headers.get("Accept", ""):
            return redirect_to_login(request.get_full_path())
        return HttpResponse("Authentication required.", status=401, content_type="text/plain")
    file = image_file_for_user(file=path, user=user)
    if file is None:
        raise Http404  # missing and forbidden look the same
    response = _file_response(file)
    response["Cache-Control"] = CACHE_CONTROL
    return response


def _user(request: HttpRequest):  # a user or AnonymousUser
    """The session's user, else the API's authentication (token), as the API itself does."""
    if request.user.is_authenticated:
        return request.user
    authenticators = [auth() for auth in api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    try:
        return Request(request, authenticators=authenticators).user
    except AuthenticationFailed:
        return AnonymousUser()


def _file_response(file: str) -> HttpResponse:
    content_type = mimetypes.guess_type(file)[0] or "application/octet-stream"
    mode = settings.ARBITER_MEDIA_SERVE
    if mode == "nginx":
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = f"{settings.ARBITER_MEDIA_ACCEL_PREFIX.rstrip('/')}/{file}"
        return response
    media = Path(settings.MEDIA_ROOT).resolve()
    path = (media / file).resolve()
    if not path.is_relative_to(media) or not path.is_file():
        raise Http404
    if mode == "sendfile":
        response = HttpResponse(content_type=content_type)
        response["X-Sendfile"] = str(path)
        return response
    return FileResponse(path.open("rb"), content_type=content_type)

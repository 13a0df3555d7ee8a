"""People pages: staff manage accounts and invitation links; an invitee sets a password."""

from __future__ import annotations

from django.contrib.auth import login as auth_login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from core.errors import DomainError
from core.services.people import invitation_accept, invitation_get


@login_required
def people(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied
    return render(request, "frontend/people.html", {"nav": "people"})


@never_cache
@sensitive_post_parameters("password", "password_again")
def invite(request: HttpRequest, token: str) -> HttpResponse:
    """The invitation link: choose a password, then be signed in. A bad link says why."""
    error = None
    if request.method == "POST":
        try:
            user = invitation_accept(
                token=token,
                password=request.POST.get("password", ""),
                password_again=request.POST.get("password_again", ""),
            )
        except DomainError as exc:
            if exc.status == 404:
                return _invalid(request, exc)
            error = exc.message
        else:
            auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("home")
    try:
        invitation = invitation_get(token=token)
    except DomainError as exc:
        return _invalid(request, exc)
    return render(
        request,
        "frontend/invite.html",
        {
            "username": invitation.user.get_username(),
            "error": error,
            "expires": invitation.expires_at,
        },
        status=400 if error else 200,
    )


def _invalid(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return render(request, "frontend/invite_invalid.html", {"message": exc.message}, status=404)

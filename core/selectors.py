from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from core.errors import DomainError
from core.models import ApiToken, Invitation, Job, WebhookDelivery, WebhookEndpoint
from core.tokens import password_fingerprint


def job_get(*, job_id: int) -> Job | None:
    return Job.objects.filter(pk=job_id).first()


def jobs_recent(*, kind: str, limit: int) -> QuerySet[Job]:
    return Job.objects.filter(kind=kind).order_by("-created_at")[:limit]


def webhook_endpoints() -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.all()


def webhook_endpoint_get(*, endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise DomainError("not_found", "Not found.", status=404)
    return endpoint


def webhook_deliveries(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """The endpoint's deliveries with their event and attempt log (the caller orders them)."""
    return (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .prefetch_related("attempt_log")
    )


def tokens_of_user(*, user: Any) -> QuerySet[ApiToken]:
    """The user's tokens that still work: not expired, made since the last password change."""
    return ApiToken.objects.filter(
        user=user,
        expires_at__gt=timezone.now(),
        password_fingerprint=password_fingerprint(user.password),
    ).order_by("-created", "-id")


def users_list() -> list[dict[str, Any]]:
    """Every account with the state of its latest invitation (staff's people page and API)."""
    from django.contrib.auth import get_user_model

    users = list(get_user_model().objects.order_by("username"))
    latest: dict[int, Invitation] = {}
    for invitation in Invitation.objects.filter(user__in=users).order_by("created_at"):
        latest[invitation.user_id] = invitation
    now = timezone.now()
    rows = []
    for user in users:
        invitation = latest.get(user.pk)
        state = None
        if invitation is not None:
            state = (
                "used"
                if invitation.used_at
                else "revoked"
                if invitation.revoked_at
                else "expired"
                if invitation.expires_at <= now
                else "open"
            )
        rows.append(
            {
                "id": user.pk,
                "username": user.get_username(),
                "email": user.email,
                "is_staff": user.is_staff,
                "is_active": user.is_active,
                "has_password": user.has_usable_password(),
                "last_login": user.last_login,
                "date_joined": user.date_joined,
                "invitation": None
                if invitation is None
                else {"state": state, "expires_at": invitation.expires_at},
            }
        )
    return rows


def user_get(*, user_id: int) -> Any:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        raise DomainError("not_found", "No such user.", status=404)
    return user

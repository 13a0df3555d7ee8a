from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from core.errors import DomainError
from core.models import ApiToken, Job, WebhookDelivery, WebhookEndpoint
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

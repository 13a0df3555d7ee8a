from __future__ import annotations

from django.db.models import QuerySet

from core.errors import DomainError
from core.models import Job, WebhookDelivery, WebhookEndpoint


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

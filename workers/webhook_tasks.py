"""Celery task for webhook deliveries: one attempt per run, the next one queued with backoff."""

from __future__ import annotations

from celery import shared_task

from core.models import WebhookDelivery
from core.services.webhooks import webhook_delivery_attempt


def webhook_dispatch(delivery_id: int, *, countdown: float = 0) -> None:
    """Queue an attempt of a delivery (`settings.ARBITER_WEBHOOK_DISPATCH`)."""
    webhook_deliver_task.apply_async((delivery_id,), countdown=countdown)


@shared_task(name="arbiter.webhook_deliver", acks_late=True)
def webhook_deliver_task(delivery_id: int) -> str:
    delivery = (
        WebhookDelivery.objects.select_related("endpoint", "event").filter(pk=delivery_id).first()
    )
    if delivery is None:
        return "missing"
    delay = webhook_delivery_attempt(delivery=delivery)
    if delay is not None:
        webhook_dispatch(delivery_id, countdown=delay)
        return "retrying"
    delivery.refresh_from_db(fields=["status"])
    return delivery.status

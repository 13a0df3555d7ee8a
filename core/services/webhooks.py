"""Webhooks: events recorded with the transaction that caused them, delivered after it commits.

An event is a row written in the caller's transaction (an outbox), with one delivery row per
endpoint that wants it; the deliveries are dispatched on commit, so a rolled-back change sends
nothing and a committed one is never lost between the write and the send. A delivery is POSTed
by a Celery task, retried with exponential backoff up to `ARBITER_WEBHOOK_MAX_ATTEMPTS`, and
every attempt is logged (status, response code, duration, error).

Signing: `X-Arbiter-Signature: sha256=<hex HMAC-SHA256 of the raw body with the endpoint's
secret>`. The body carries the event id and the send time (`id`, `timestamp`), so both are
signed too; they are repeated in `X-Arbiter-Event-Id` and `X-Arbiter-Timestamp`. Receivers
reject stale timestamps and deduplicate on the event id (docs/handoff.md has the snippet).

Core knows no domain: the apps build each event's `data`. The task lives in `workers/`, which
core may not import; `settings.ARBITER_WEBHOOK_DISPATCH` names the function that queues it
(as `ACCESS_POLICY` names the access rule).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from core.errors import DomainError
from core.models import Job, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from core.outbound import OutboundTarget, outbound_url_check

logger = logging.getLogger(__name__)

EVENT_TYPES = (
    "export.ready",
    "reward_model.trained",
    "reward_model.promoted",
    "curation.committed",
    "job.failed",
)
SIGNATURE_HEADER = "X-Arbiter-Signature"
USER_AGENT = "Arbiter-Webhooks/1"


def webhook_signature(*, secret: str, body: bytes) -> str:
    """The signature header's value for `body`: `sha256=<hex>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_url_check(url: str) -> OutboundTarget:
    return outbound_url_check(url, allow=settings.ARBITER_WEBHOOK_URL_ALLOW)


def webhook_endpoint_create(
    *, url: str, events: list[str] | None = None, description: str = "", user: Any = None
) -> WebhookEndpoint:
    """A new endpoint with a fresh secret (returned once, by the API that creates it)."""
    webhook_url_check(url)
    events = list(events or [])
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise DomainError(
            "validation_error",
            f"Unknown event types: {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}.",
        )
    return WebhookEndpoint.objects.create(
        url=url,
        secret=secrets.token_hex(32),
        events=events,
        description=description,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Deletes the endpoint with its deliveries and their log."""
    endpoint.delete()


def event_emit(*, type: str, data: dict[str, Any], key: str | None = None) -> WebhookEvent | None:
    """Record an event and queue its deliveries once the current transaction commits.

    `key` names the happening (e.g. "export.ready:export:12"): emitting it again is a no-op and
    returns None, so a redelivered task does not notify twice. Never raises into the caller's
    work: a webhook problem must not fail an export or a training run."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    try:
        with transaction.atomic():
            event, created = WebhookEvent.objects.get_or_create(
                key=key or f"{type}:{secrets.token_hex(8)}", defaults={"type": type, "data": data}
            )
            if not created:
                return None
            endpoints = [
                endpoint
                for endpoint in WebhookEndpoint.objects.filter(is_active=True)
                if not endpoint.events or type in endpoint.events
            ]
            deliveries = WebhookDelivery.objects.bulk_create(
                WebhookDelivery(endpoint=endpoint, event=event) for endpoint in endpoints
            )
            ids = [delivery.pk for delivery in deliveries]
            if ids:
                transaction.on_commit(lambda: _dispatch_all(ids))
    except Exception:  # the caller's work went well; a webhook problem is logged, not raised
        logger.exception("could not record the %s event %s", type, key)
        return None
    return event


def _dispatch_all(delivery_ids: list[int]) -> None:
    dispatch = import_string(settings.ARBITER_WEBHOOK_DISPATCH)
    for delivery_id in delivery_ids:
        try:
            dispatch(delivery_id, countdown=0)
        except Exception:  # a broker hiccup: the delivery stays pending, visible in the log
            logger.exception("could not queue webhook delivery %s", delivery_id)


def job_failed_emit(*, job_id: int) -> None:
    """`job.failed` for a job that just failed (its error without the traceback)."""
    job = Job.objects.filter(pk=job_id, status=Job.Status.FAILED).first()
    if job is None:
        return
    error = dict(job.error or {})
    details = error.get("details")
    if isinstance(details, dict):
        error["details"] = {k: v for k, v in details.items() if k != "traceback"}
    event_emit(
        type="job.failed",
        key=f"job.failed:job:{job.pk}",
        data={
            "job": {
                "id": job.pk,
                "kind": job.kind,
                "status": job.status,
                "message": job.message,
                "error": error,
            }
        },
    )


def _body(event: WebhookEvent) -> bytes:
    return json.dumps(
        {
            "id": str(event.uuid),
            "type": event.type,
            "created_at": event.created_at.isoformat(),
            "timestamp": int(time.time()),
            "data": event.data,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def _post(target: OutboundTarget, body: bytes, headers: dict[str, str]) -> int:
    """The response status, 2xx or not (a redirect is not followed: it could lead anywhere);
    network errors raise. The connection goes to the addresses the check vetted."""
    connection = target.connection(timeout=settings.ARBITER_WEBHOOK_TIMEOUT)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)
        return response.status
    finally:
        connection.close()


def webhook_backoff(attempt: int) -> float:
    """Seconds before the attempt after `attempt` (1-based): base, 2 x base, 4 x base, ..."""
    return settings.ARBITER_WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt - 1)


def webhook_delivery_attempt(*, delivery: WebhookDelivery) -> float | None:
    """One attempt of a pending delivery, logged. Returns the seconds to wait before the next
    attempt, or None when there is none (delivered, out of attempts, or not pending)."""
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING
    ).first()
    if claimed is None:
        return None
    endpoint, event = delivery.endpoint, delivery.event
    number = claimed.attempts + 1
    started, clock = timezone.now(), time.monotonic()
    code, error = None, ""
    try:
        target = webhook_url_check(endpoint.url)
        body = _body(event)
        code = _post(
            target,
            body,
            {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Arbiter-Event": event.type,
                "X-Arbiter-Event-Id": str(event.uuid),
                "X-Arbiter-Timestamp": str(json.loads(body)["timestamp"]),
                SIGNATURE_HEADER: webhook_signature(secret=endpoint.secret, body=body),
            },
        )
        if not 200 <= code < 300:
            error = f"HTTP {code}"
    except DomainError as exc:
        error = exc.message
    except Exception as exc:  # network errors, timeouts: logged on the attempt, then retried
        error = f"{type(exc).__name__}: {exc}"
    ok = not error
    duration_ms = int((time.monotonic() - clock) * 1000)
    exhausted = number >= settings.ARBITER_WEBHOOK_MAX_ATTEMPTS
    delay = None if ok or exhausted else webhook_backoff(number)
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery_id=delivery.pk,
            number=number,
            started_at=started,
            duration_ms=duration_ms,
            response_code=code,
            ok=ok,
            error=error[:1000],
        )
        status = (
            WebhookDelivery.Status.DELIVERED
            if ok
            else WebhookDelivery.Status.FAILED
            if exhausted
            else WebhookDelivery.Status.PENDING
        )
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            attempts=number,
            status=status,
            delivered_at=timezone.now() if ok else None,
            next_attempt_at=None if delay is None else timezone.now() + _seconds(delay),
        )
    return delay


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)

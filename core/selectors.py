from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from core.models import ApiToken, Job
from core.tokens import password_fingerprint


def job_get(*, job_id: int) -> Job | None:
    return Job.objects.filter(pk=job_id).first()


def jobs_recent(*, kind: str, limit: int) -> QuerySet[Job]:
    return Job.objects.filter(kind=kind).order_by("-created_at")[:limit]


def tokens_of_user(*, user: Any) -> QuerySet[ApiToken]:
    """The user's tokens that still work: not expired, made since the last password change."""
    return ApiToken.objects.filter(
        user=user,
        expires_at__gt=timezone.now(),
        password_fingerprint=password_fingerprint(user.password),
    ).order_by("-created", "-id")

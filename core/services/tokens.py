"""Making and revoking API tokens. The secret is returned once, by `token_create`; only its
digest is stored (core.tokens)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.models import ApiToken
from core.tokens import (
    PREFIX_LENGTH,
    password_fingerprint,
    token_digest,
    token_secret_new,
)


@transaction.atomic
def token_create(*, user: Any, name: str = "") -> tuple[ApiToken, str]:
    """A new token for `user` and its secret. Expired and password-stale tokens of the user are
    deleted; if the user still holds `ARBITER_TOKEN_MAX_PER_USER` tokens, the oldest go, so a
    script that signs in on every run never locks its user out."""
    now = timezone.now()
    fingerprint = password_fingerprint(user.password)
    mine = ApiToken.objects.filter(user=user)
    mine.filter(expires_at__lte=now).delete()
    mine.exclude(password_fingerprint=fingerprint).delete()
    keep = max(settings.ARBITER_TOKEN_MAX_PER_USER - 1, 0)
    oldest = list(mine.order_by("-created", "-id").values_list("id", flat=True)[keep:])
    if oldest:
        ApiToken.objects.filter(id__in=oldest).delete()
    secret = token_secret_new()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret[:PREFIX_LENGTH],
        digest=token_digest(secret),
        password_fingerprint=fingerprint,
        expires_at=now + timedelta(days=settings.ARBITER_TOKEN_TTL_DAYS),
    )
    return token, secret


def token_revoke(*, user: Any, token_id: int) -> bool:
    """Delete one of `user`'s tokens; False when the user holds no token of that id."""
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    return deleted > 0

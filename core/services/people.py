"""People: staff create accounts and invite their owners with a signed, single-use link.

There may be no mail server: the link is returned to the staff member to copy and send, and
e-mailed through Django's email backend only when `ARBITER_INVITE_EMAIL` is on. The token in
the link is `signing.dumps({"i": invitation id, "n": nonce})`: the signature proves Arbiter made
it, `max_age` (and the row's `expires_at`) bound its life, and the stored SHA-256 of the nonce,
with `used_at`/`revoked_at`, makes it work once. Making a new invitation revokes the user's
earlier ones.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from core.errors import DomainError
from core.models import ApiToken, Invitation

SALT = "arbiter.invitation"
INVITE_PATH = "/invite/{token}/"


@dataclass(frozen=True)
class InvitationLink:
    invitation: Invitation
    token: str
    url: str  # absolute when a base URL was given, else the path
    emailed: bool


def _ttl() -> timedelta:
    return timedelta(hours=getattr(settings, "ARBITER_INVITE_TTL_HOURS", 168))


def _digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def username_check(username: Any) -> str:
    if not isinstance(username, str) or not username.strip():
        raise DomainError("invalid_username", "Give a username.")
    username = username.strip()
    if len(username) > 150:
        raise DomainError("invalid_username", "A username has at most 150 characters.")
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError as exc:
        raise DomainError(
            "invalid_username", "Use letters, digits and @ . + - _ only in a username."
        ) from exc
    return username


def email_check(email: Any) -> str:
    email = (email or "").strip() if isinstance(email, str) or email is None else None
    if email is None:
        raise DomainError("invalid_email", "Give the e-mail address as text.")
    if email:
        if len(email) > 254:
            raise DomainError("invalid_email", "An e-mail address has at most 254 characters.")
        try:
            validate_email(email)
        except ValidationError as exc:
            raise DomainError("invalid_email", f"{email!r} is not an e-mail address.") from exc
    return email


def user_create(*, username: str, email: str = "", is_staff: bool = False, created_by: Any):
    """An account without a password: its owner sets one through an invitation."""
    username, email = username_check(username), email_check(email)
    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise DomainError("user_exists", f"The username {username!r} is taken.", status=409)
    if email and User.objects.filter(email__iexact=email).exists():
        raise DomainError("user_exists", f"Someone already has the address {email}.", status=409)
    user = User(username=username, email=email, is_staff=bool(is_staff))
    user.set_unusable_password()
    user.save()
    return user


def invitation_create(
    *, user: Any, created_by: Any, base_url: str = "", send_email: bool | None = None
) -> InvitationLink:
    if not user.is_active:
        raise DomainError("user_inactive", "This account is deactivated: reactivate it first.")
    nonce = secrets.token_urlsafe(24)
    now = timezone.now()
    with transaction.atomic():
        Invitation.objects.filter(user=user, used_at=None, revoked_at=None).update(revoked_at=now)
        invitation = Invitation.objects.create(
            user=user,
            nonce_digest=_digest(nonce),
            created_by=created_by,
            expires_at=now + _ttl(),
        )
    token = signing.dumps({"i": invitation.pk, "n": nonce}, salt=SALT, compress=True)
    url = base_url.rstrip("/") + INVITE_PATH.format(token=token)
    if send_email is None:
        send_email = getattr(settings, "ARBITER_INVITE_EMAIL", False)
    emailed = False
    if send_email and user.email:
        # An unreachable mail server must not lose the link: it is shown to staff anyway.
        emailed = (
            send_mail(
                "Your Arbiter account",
                f"{created_by.get_username() if created_by else 'An administrator'} made an "
                f"Arbiter account for you ({user.get_username()}).\n\nSet your password here "
                f"(the link works once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC):"
                f"\n{url}\n",
                None,
                [user.email],
                fail_silently=True,
            )
            == 1
        )
    return InvitationLink(invitation, token, url, emailed)


def _invalid() -> DomainError:
    return DomainError(
        "invitation_invalid",
        "This invitation link is not valid. Ask the person who invited you for a new one.",
        status=404,
    )


def invitation_get(*, token: str, for_update: bool = False) -> Invitation:
    """The open invitation a token names; 404 (`invitation_invalid`, `invitation_expired`,
    `invitation_used`) otherwise."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=_ttl())
    except signing.SignatureExpired as exc:
        raise DomainError(
            "invitation_expired",
            "This invitation link has expired. Ask the person who invited you for a new one.",
            status=404,
        ) from exc
    except signing.BadSignature as exc:
        raise _invalid() from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("n"), str):
        raise _invalid()
    rows = Invitation.objects.select_related("user")
    if for_update:
        rows = rows.select_for_update()
    invitation = rows.filter(pk=payload.get("i")).first()
    if invitation is None or not secrets.compare_digest(
        invitation.nonce_digest, _digest(payload["n"])
    ):
        raise _invalid()
    if invitation.used_at is not None:
        raise DomainError(
            "invitation_used",
            "This invitation was already used. Sign in, or ask for a new link.",
            status=404,
        )
    if invitation.revoked_at is not None or not invitation.user.is_active:
        raise _invalid()
    if invitation.expires_at <= timezone.now():
        raise DomainError(
            "invitation_expired",
            "This invitation link has expired. Ask the person who invited you for a new one.",
            status=404,
        )
    return invitation


def invitation_accept(*, token: str, password: str, password_again: str | None = None):
    """Set the invited user's password; the invitation is used up. Returns the user."""
    with transaction.atomic():
        invitation = invitation_get(token=token, for_update=True)
        user = invitation.user
        if password_again is not None and password != password_again:
            raise DomainError("password_mismatch", "The two passwords differ.")
        try:
            password_validation.validate_password(password, user)
        except ValidationError as exc:
            raise DomainError(
                "invalid_password", " ".join(exc.messages), details={"password": exc.messages}
            ) from exc
        user.set_password(password)
        user.save(update_fields=["password"])
        invitation.used_at = timezone.now()
        invitation.save(update_fields=["used_at"])
    return user


def user_deactivate(*, user: Any, by: Any) -> Any:
    """The account can no longer sign in; its tokens and open invitations stop working.
    Its annotations stay (they are the project's data)."""
    if user.pk == by.pk:
        raise DomainError("cannot_deactivate_self", "You cannot deactivate your own account.")
    with transaction.atomic():
        type(user).objects.filter(pk=user.pk).update(is_active=False)
        ApiToken.objects.filter(user=user).delete()
        Invitation.objects.filter(user=user, used_at=None, revoked_at=None).update(
            revoked_at=timezone.now()
        )
    user.is_active = False
    return user


def user_reactivate(*, user: Any) -> Any:
    type(user).objects.filter(pk=user.pk).update(is_active=True)
    user.is_active = True
    return user

"""What a token is made of: a high-entropy secret, its digest at rest and the fingerprint of its
user's password hash. Plain functions, no queries (the authentication class and the services
both use them)."""

from __future__ import annotations

import hashlib
import secrets

from django.utils.crypto import salted_hmac

# 32 random bytes; URL-safe base64 without padding gives 43 characters.
SECRET_BYTES = 32
PREFIX_LENGTH = 8


def token_secret_new() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def token_digest(secret: str) -> str:
    """SHA-256 of the secret. A slow hash is not needed: the secret is random, not chosen by a
    person, so it cannot be guessed from its digest, and a fast one keeps the lookup cheap."""
    return hashlib.sha256(secret.encode()).hexdigest()


def password_fingerprint(password_hash: str) -> str:
    """A short keyed fingerprint of the user's password hash. Every way of changing a password
    (the admin, `manage.py changepassword`, `set_password()` and `save()`, a reset) writes a new
    hash with a new salt, so a token made before the change no longer matches."""
    return salted_hmac("arbiter.api-token.password", password_hash).hexdigest()[:32]

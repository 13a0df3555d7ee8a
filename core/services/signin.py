"""Refusing password guessing: a lock-out per username after repeated failures, and a rate per
client address and username for the login page. Both live in the cache (Redis in production),
are shared by the API's token endpoint and the login page, and never tell whether a username
exists: an unknown name is counted and locked exactly like a known one."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache

from core.errors import DomainError

LOCKED_MESSAGE = "Too many failed sign-in attempts. Try again in {minutes} minutes."
RATE_MESSAGE = "Too many sign-in attempts. Wait a minute and try again."


def _key(kind: str, *parts: str) -> str:
    # Hashed so that any username (long, odd characters) makes a valid cache key.
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    return f"arbiter:signin:{kind}:{digest}"


def _username(username: str) -> str:
    return username.strip().casefold()


def signin_check(*, username: str) -> None:
    """Raise `too_many_attempts` (429) while `username` is locked out."""
    if cache.get(_key("locked", _username(username))):
        minutes = settings.ARBITER_SIGNIN_LOCKOUT_MINUTES
        raise DomainError("too_many_attempts", LOCKED_MESSAGE.format(minutes=minutes), status=429)


def signin_rate_check(*, username: str, client: str) -> None:
    """Count one attempt of `client` (its address) for `username`; raise `too_many_attempts`
    (429) past `ARBITER_LOGIN_RATE_PER_MINUTE` attempts in a minute."""
    key = _key("rate", client, _username(username))
    cache.add(key, 0, timeout=60)
    try:
        attempts = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=60)
        attempts = 1
    if attempts > settings.ARBITER_LOGIN_RATE_PER_MINUTE:
        raise DomainError("too_many_attempts", RATE_MESSAGE, status=429)


def signin_failed(*, username: str) -> None:
    """Count a failure; the Nth consecutive one locks the username for M minutes."""
    name = _username(username)
    window = settings.ARBITER_SIGNIN_LOCKOUT_MINUTES * 60
    key = _key("failures", name)
    cache.add(key, 0, timeout=window)
    try:
        failures = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=window)
        failures = 1
    if failures >= settings.ARBITER_SIGNIN_LOCKOUT_FAILURES:
        cache.set(_key("locked", name), 1, timeout=window)
        cache.delete(key)


def signin_succeeded(*, username: str) -> None:
    """A success ends the run of consecutive failures."""
    cache.delete(_key("failures", _username(username)))

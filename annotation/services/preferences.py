"""Per-user UI preferences (remappable keyboard shortcuts and other settings)."""

from __future__ import annotations

from typing import Any

from annotation.models import UserPreferences
from core.errors import DomainError

MAX_KEYMAP = 200


def preferences_get(*, user) -> UserPreferences:
    prefs, _ = UserPreferences.objects.get_or_create(user=user)
    return prefs


def preferences_set(
    *,
    user,
    keymap: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> UserPreferences:
    prefs = preferences_get(user=user)
    if keymap is not None:
        if len(keymap) > MAX_KEYMAP or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in keymap.items()
        ):
            raise DomainError(
                "invalid_keymap", "keymap maps action names to non-empty key strings."
            )
        # Two actions on one key would make one of them unreachable.
        keys = [v.lower() for v in keymap.values()]
        clashes = sorted({k for k in keys if keys.count(k) > 1})
        if clashes:
            raise DomainError(
                "keymap_conflict",
                f"Keys bound twice: {', '.join(clashes)}.",
                details={"keys": clashes},
            )
        prefs.keymap = keymap
    if settings is not None:
        prefs.settings = settings
    prefs.save()
    return prefs

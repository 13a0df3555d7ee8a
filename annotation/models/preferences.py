"""Per-user settings of the annotation UI."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class UserPreferences(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="arbiter_preferences"
    )
    keymap = models.JSONField(default=dict, blank=True, help_text="{action: key} overrides.")
    settings = models.JSONField(default=dict, blank=True, help_text="Other UI settings.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Preferences of {self.user_id}"

"""Model pre-labels attached to items (used by an automated judge and shown as hints)."""

from __future__ import annotations

from django.db import models


class Suggestion(models.Model):
    item = models.ForeignKey("corpora.Item", on_delete=models.CASCADE, related_name="suggestions")
    question_key = models.CharField(max_length=64)
    value = models.JSONField()
    score = models.FloatField(null=True, blank=True, help_text="Model confidence or reward.")
    model_version = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["item", "question_key"], name="suggestion_item")]

    def __str__(self) -> str:
        return f"{self.question_key}={self.value!r} ({self.model_version})"

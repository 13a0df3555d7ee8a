"""Model pre-labels attached to items (used by an automated judge and shown as hints)."""

from __future__ import annotations

from django.db import models


class Suggestion(models.Model):
    item = models.ForeignKey("corpora.Item", on_delete=models.CASCADE, related_name="suggestions")
    question_key = models.CharField(max_length=64)
    value = models.JSONField()
    score = models.FloatField(null=True, blank=True, help_text="Model confidence or reward.")
    model_version = models.CharField(max_length=200)
    # Filled by the safety judge: which rule of which constitution version, which judge run
    # (an id in the curation app, which sits above this one), and the decision's trace.
    rule_key = models.CharField(max_length=64, blank=True, default="")
    constitution = models.ForeignKey(
        "annotation.Constitution",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    judge_run_id = models.PositiveIntegerField(null=True, blank=True)
    trace = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["item", "question_key"], name="suggestion_item"),
            models.Index(fields=["judge_run_id", "rule_key"], name="suggestion_judge_run"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["judge_run_id", "item", "rule_key"],
                condition=models.Q(judge_run_id__isnull=False),
                name="suggestion_judge_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.question_key}={self.value!r} ({self.model_version})"

"""A rewriting of a dataset version's turns by an LLM, and every turn's outcome."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models


class RewriteRun(models.Model):
    """One rewriting job over a dataset version; it makes a new version (``result``)."""

    source = models.ForeignKey(
        "curation.DatasetVersion", on_delete=models.CASCADE, related_name="rewrites"
    )
    result = models.OneToOneField(
        "curation.DatasetVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="rewrite_run",
        help_text="The rewritten version, once the job finished.",
    )
    job = models.OneToOneField("core.Job", on_delete=models.PROTECT, related_name="+")
    llm = models.CharField(max_length=500, help_text="The rewriting and reviewing LLM.")
    prompt_version = models.CharField(max_length=64)
    settings = models.JSONField(help_text="Validated rewriting settings.")
    guards = models.JSONField(help_text="Validated guard settings.")
    shard_size = models.PositiveIntegerField()
    n_shards = models.PositiveIntegerField(default=0)
    shards_done = models.PositiveIntegerField(default=0, help_text="Resume from here.")
    figures = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Rewrite {self.pk} of dataset {self.source_id}"


class RewriteTurn(models.Model):
    """One rewritten text (a question or an answer of one turn of one item)."""

    class Decision(models.TextChoices):
        NONE = "", "Not reviewed"
        ACCEPT = "accept", "Accept the rewrite"
        REJECT = "reject", "Keep the original"
        EDIT = "edit", "Use an edited text"

    run = models.ForeignKey(RewriteRun, on_delete=models.CASCADE, related_name="turns")
    item = models.ForeignKey("corpora.Item", on_delete=models.CASCADE, related_name="+")
    turn = models.PositiveIntegerField()
    field = models.CharField(max_length=8)
    original = models.TextField()
    rewrite = models.TextField(blank=True)
    kept = models.CharField(max_length=8, help_text="The LLM's outcome: rewrite or original.")
    reason = models.CharField(max_length=200)
    review = models.JSONField(default=dict, blank=True)
    nll_original = models.FloatField(null=True, blank=True)
    nll_rewrite = models.FloatField(null=True, blank=True)
    guards = models.JSONField(default=list, blank=True)
    flagged = models.BooleanField(default=False, help_text="A guard failed.")
    decision = models.CharField(max_length=8, choices=Decision.choices, default="", blank=True)
    edited_text = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "item", "turn", "field"], name="rewriteturn_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.item_id}:{self.turn}:{self.field}"

    @property
    def final_text(self) -> str:
        """Human decisions override the LLM's."""
        if self.decision == self.Decision.ACCEPT:
            return self.rewrite
        if self.decision == self.Decision.REJECT:
            return self.original
        if self.decision == self.Decision.EDIT:
            return self.edited_text
        return self.rewrite if self.kept == "rewrite" else self.original

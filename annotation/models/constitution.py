"""Safety constitutions: versioned rule sets that images are labelled against."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Constitution(models.Model):
    """One version of a project's constitution; a change creates a new version."""

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="constitutions"
    )
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="constitution_unique_ver")
        ]

    def __str__(self) -> str:
        return f"{self.name or 'Constitution'} v{self.version}"


class Rule(models.Model):
    class Severity(models.TextChoices):
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"
        CRITICAL = "critical"

    constitution = models.ForeignKey(Constitution, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField(default=0)
    key = models.SlugField(max_length=64)
    text = models.TextField(help_text="The rule as written.")
    objectified = models.TextField(
        blank=True, help_text="The rule rewritten as an observable check of the image."
    )
    # Ordered yes/no checks; the rule applies only when every one holds. A check may be a list
    # of alternatives, any one of which suffices (an AND of ORs).
    preconditions = models.JSONField(default=list, blank=True)
    # Words an open-vocabulary detector looks for (the judge removes them and asks again).
    central_objects = models.JSONField(default=list, blank=True)
    category = models.CharField(max_length=64)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.HIGH)

    class Meta:
        ordering = ["constitution", "position"]
        constraints = [
            models.UniqueConstraint(fields=["constitution", "key"], name="rule_unique_key")
        ]

    def __str__(self) -> str:
        return self.key

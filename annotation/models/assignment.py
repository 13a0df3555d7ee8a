"""Leases of project items to annotators: the queue's bookkeeping."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Assignment(models.Model):
    """One annotator's relation to one project item; at most one row per (item, annotator).

    The unique constraint is what guarantees that nobody is ever served the same item twice.
    """

    class Status(models.TextChoices):
        LEASED = "leased"
        SUBMITTED = "submitted"
        SKIPPED = "skipped"
        POSTPONED = "postponed"
        EXPIRED = "expired"

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="+")
    project_item = models.ForeignKey(
        "annotation.ProjectItem", on_delete=models.CASCADE, related_name="assignments"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LEASED)
    # True while this row holds one of the item's slots (a live lease or a counted response).
    holds_slot = models.BooleanField(default=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    draft = models.JSONField(null=True, blank=True, help_text="Autosaved unsubmitted answers.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project_item", "user"], name="assignment_unique_user")
        ]
        indexes = [
            models.Index(fields=["project", "user", "status"], name="assignment_user_status"),
            models.Index(
                fields=["project", "lease_expires_at"],
                name="assignment_lease_expiry",
                condition=models.Q(status="leased"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}->{self.project_item_id} {self.status}"

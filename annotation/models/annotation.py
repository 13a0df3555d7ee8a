"""Annotations (one current answer per item and annotator) with their full revision history."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Annotation(models.Model):
    class Source(models.TextChoices):
        HUMAN = "human"
        # Imported candidate scores, recorded under an "external" annotator user.
        EXTERNAL = "external"

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="annotations"
    )
    project_item = models.ForeignKey(
        "annotation.ProjectItem", on_delete=models.CASCADE, related_name="annotations"
    )
    item = models.ForeignKey("corpora.Item", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotations"
    )
    answers = models.JSONField(help_text="{question_key: value}, see the rubric service.")
    # {turn: canonical candidate indices in the order shown}: where each candidate was on the
    # annotator's screen (see annotation.services.candidate_order); {} when none were shown.
    display_order = models.JSONField(default=dict, blank=True)
    revision = models.PositiveIntegerField(default=1)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.HUMAN)
    is_gold = models.BooleanField(default=False)
    gold_correct = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project_item", "user"], name="annotation_unique_user")
        ]
        indexes = [
            models.Index(fields=["project", "user", "-updated_at"], name="annotation_mine"),
            models.Index(fields=["project", "id"], name="annot_by_project"),
        ]

    def __str__(self) -> str:
        return f"Annotation {self.pk} r{self.revision}"


class AnnotationRevision(models.Model):
    """Every submitted version of an annotation; the latest equals the annotation's answers."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    answers = models.JSONField()
    # Globally unique retry key of the submit that produced this revision.
    client_key = models.UUIDField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["annotation", "revision"]
        constraints = [
            models.UniqueConstraint(fields=["annotation", "revision"], name="revision_unique")
        ]

    def __str__(self) -> str:
        return f"Annotation {self.annotation_id} r{self.revision}"


class Adjudication(models.Model):
    """A reviewer's final answer for an item; training data prefers it over the majority."""

    project_item = models.OneToOneField(
        "annotation.ProjectItem", on_delete=models.CASCADE, related_name="adjudication"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    answers = models.JSONField()
    note = models.TextField(blank=True)
    history = models.JSONField(default=list, blank=True, help_text="Earlier adjudications.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Adjudication of {self.project_item_id}"

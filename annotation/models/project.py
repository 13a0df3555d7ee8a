"""Annotation projects: what is annotated (project items), by whom (memberships), and how."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Project(models.Model):
    """A set of items drawn from corpora, annotated against one rubric by a team."""

    class Sampling(models.TextChoices):
        SEQUENTIAL = "sequential", "Sequential"
        RANDOM = "random", "Random"
        UNCERTAINTY = "uncertainty", "Reward-model uncertainty"

    class SkipPolicy(models.TextChoices):
        # Label Studio's three skip queues, under the same meaning.
        REQUEUE_FOR_ME = "requeue_for_me", "Requeue for me (after everything else)"
        REQUEUE_FOR_OTHERS = "requeue_for_others", "Requeue for others"
        IGNORE = "ignore", "Ignore (a skip counts as this annotator's response)"

    name = models.CharField(max_length=200, unique=True)
    instructions = models.TextField(blank=True, help_text="Markdown shown to annotators.")
    corpora = models.ManyToManyField("corpora.Corpus", related_name="projects")
    category_filter = models.JSONField(
        default=list, blank=True, help_text="Item categories drawn; empty list means all."
    )
    overlap = models.PositiveSmallIntegerField(default=1, help_text="Annotators per item.")
    gold_rate = models.FloatField(default=0.0, help_text="Share of next-item calls given gold.")
    lease_seconds = models.PositiveIntegerField(default=600)
    sampling = models.CharField(max_length=16, choices=Sampling.choices, default="sequential")
    skip_policy = models.CharField(
        max_length=24, choices=SkipPolicy.choices, default=SkipPolicy.REQUEUE_FOR_OTHERS
    )
    gold_min_answers = models.PositiveSmallIntegerField(
        default=5, help_text="Gold answers needed before accuracy thresholds apply."
    )

    class JudgeAssist(models.TextChoices):
        # blind: annotators never see the judge's suggestions, so their labels stay an
        # unbiased measure of the judge; assisted: shown as hints
        BLIND = "blind", "Blind (suggestions hidden from annotators)"
        ASSISTED = "assisted", "Assisted (suggestions shown to annotators)"

    judge_assist = models.CharField(
        max_length=16, choices=JudgeAssist.choices, default=JudgeAssist.BLIND
    )
    gold_warn_below = models.FloatField(default=0.8)
    gold_block_below = models.FloatField(default=0.5)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class ProjectMembership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        REVIEWER = "reviewer"
        ANNOTATOR = "annotator"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    # Counters kept by submit so the block check on the hot path reads one row.
    gold_answered = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.project_id}:{self.role}"

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_answered if self.gold_answered else None


class ProjectItem(models.Model):
    """One item of a project with the narrow columns the queue locks and orders by."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="project_items")
    item = models.ForeignKey("corpora.Item", on_delete=models.CASCADE, related_name="+")
    # overlap minus live leases and responses; the queue only ever takes rows with open_slots > 0.
    open_slots = models.PositiveSmallIntegerField()
    # Submitted annotations, and responses (annotations plus skips under the "ignore" policy):
    # an item is done when responses reach the overlap.
    done_count = models.PositiveSmallIntegerField(default=0)
    responses = models.PositiveSmallIntegerField(default=0)
    # A fixed pseudo-random permutation key, so "random" sampling is an index walk.
    random_key = models.BigIntegerField(default=0)
    # Filled by a later curation job (reward-model uncertainty); higher is served first.
    uncertainty = models.FloatField(null=True, blank=True)
    is_gold = models.BooleanField(default=False)
    gold_answers = models.JSONField(null=True, blank=True)
    disagreement = models.FloatField(default=0.0)
    adjudicated = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "item"], name="projectitem_unique_item")
        ]
        indexes = [
            models.Index(
                fields=["project", "open_slots", "id"],
                name="pitem_queue_seq",
                condition=models.Q(open_slots__gt=0, is_gold=False),
            ),
            models.Index(
                fields=["project", "open_slots", "random_key"],
                name="pitem_queue_random",
                condition=models.Q(open_slots__gt=0, is_gold=False),
            ),
            models.Index(
                fields=["project", "open_slots", "-uncertainty"],
                name="pitem_queue_uncertainty",
                condition=models.Q(open_slots__gt=0, is_gold=False),
            ),
            models.Index(
                fields=["project", "-disagreement"],
                name="pitem_review",
                condition=models.Q(done_count__gte=2, adjudicated=False),
            ),
            models.Index(fields=["project", "is_gold"], name="pitem_gold"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.item_id}"

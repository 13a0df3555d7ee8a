"""Background jobs (imports, training, scoring, exports) with persisted progress."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Job(models.Model):
    class Kind(models.TextChoices):
        CORPUS_IMPORT = "corpus_import", "Corpus import"
        REWARD_MODEL_TRAIN = "reward_model_train", "Reward model training"
        CORPUS_SCORE = "corpus_score", "Corpus scoring"
        CURATION = "curation", "Curation"
        DATASET_EXPORT = "dataset_export", "Dataset export"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    params = models.JSONField(default=dict, blank=True)
    progress_current = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.JSONField(
        null=True, blank=True, help_text='{"code", "message", "details"}; details lists problems.'
    )
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The table predates the core app; keeping its name kept the data in place.
        db_table = "annotation_job"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Job {self.pk} {self.kind} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED}


class ApiToken(models.Model):
    """An API token, stored as the SHA-256 digest of its secret: the secret is shown once, when
    the token is made, and is not kept. A token stops working when it expires, when it is
    revoked (the row is deleted) and when its user's password changes (`password_fingerprint`
    no longer matches the user's password hash; core.tokens)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True, default="")
    # The first characters of the secret, so a person can tell their tokens apart.
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    password_fingerprint = models.CharField(max_length=32)
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["user", "created"])]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id})"

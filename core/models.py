"""Background jobs (imports, training, scoring, exports) with persisted progress, and the
webhooks that tell other systems what happened."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Job(models.Model):
    class Kind(models.TextChoices):
        CORPUS_IMPORT = "corpus_import", "Corpus import"
        REWARD_MODEL_TRAIN = "reward_model_train", "Reward model training"
        CORPUS_SCORE = "corpus_score", "Corpus scoring"
        CURATION = "curation", "Curation"
        DATASET_EXPORT = "dataset_export", "Dataset export"
        CORPUS_DELETE = "corpus_delete", "Corpus deletion"
        CORPUS_FEATURIZE = "corpus_featurize", "Corpus featurisation"
        DATASET_REWRITE = "dataset_rewrite", "Dataset rewriting"
        SAFETY_JUDGE = "safety_judge", "Safety judge"
        JUDGE_PROPOSAL = "judge_proposal", "Precondition proposal"

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
    # Liveness: the worker running the job writes `heartbeat_at` every few seconds; a running
    # job whose heartbeat is older than ARBITER_JOB_STALE_S is requeued or failed by the reaper.
    worker = models.CharField(max_length=255, blank=True, help_text="The worker running it.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
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


class WebhookEndpoint(models.Model):
    """Where events are sent, staff-managed; `secret` signs every delivery's body."""

    url = models.URLField(max_length=1000)
    secret = models.CharField(max_length=128)
    events = models.JSONField(default=list, blank=True, help_text="Event types; empty: all.")
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Webhook {self.pk} -> {self.url}"


class WebhookEvent(models.Model):
    """Something that happened, once: `key` names the happening, so emitting it again (a
    redelivered task) adds nothing; `uuid` is the id receivers deduplicate on."""

    uuid = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    key = models.CharField(max_length=200, unique=True)
    type = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.uuid}"


class WebhookDelivery(models.Model):
    """One event to one endpoint: pending until a 2xx answer (delivered) or out of attempts."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhookdelivery_unique")
        ]

    def __str__(self) -> str:
        return f"Delivery {self.pk} ({self.status})"


class WebhookAttempt(models.Model):
    """One request of a delivery, as it went."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhookattempt_unique")
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id}#{self.number} {self.response_code or self.error[:40]}"


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


class Invitation(models.Model):
    """A link that lets a person set the password of the account staff made for them.

    The link carries a signed token (`core.services.people`): the invitation's id and a random
    nonce, of which only the SHA-256 digest is stored. It works once (`used_at`), until
    `expires_at`, and not after a newer invitation of the same user revoked it.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations"
    )
    nonce_digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "created_at"], name="invitation_by_user")]

    def __str__(self) -> str:
        return f"Invitation {self.pk} of user {self.user_id}"

"""Reward-model runs, corpus scores, immutable dataset versions and their exports."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class RewardModelRun(models.Model):
    """One training run of a project's reward model; its Job carries status and progress."""

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="reward_model_runs"
    )
    job = models.OneToOneField("core.Job", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    hyperparameters = models.JSONField(help_text="Validated TrainConfig values and encoders.")
    seed = models.IntegerField(default=0)
    text_encoder = models.CharField(max_length=500)
    image_encoder = models.CharField(max_length=500, blank=True)
    # True while queued or running; a partial unique index allows one such run per project.
    in_progress = models.BooleanField(default=True)
    criteria = models.JSONField(default=list, blank=True)
    rules = models.JSONField(default=list, blank=True)
    data_fingerprint = models.CharField(max_length=64, blank=True)
    data_summary = models.JSONField(default=dict, blank=True, help_text="Pair counts by source.")
    metrics = models.JSONField(default=dict, blank=True)
    human_agreement = models.JSONField(
        default=dict, blank=True, help_text="Annotator agreement on the held-out items (ceiling)."
    )
    artifact_path = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(in_progress=True),
                name="rmrun_one_in_progress",
            )
        ]

    def __str__(self) -> str:
        return f"Reward model run {self.pk} (project {self.project_id})"


class RewardModelStep(models.Model):
    """A point of a run's learning curve, written as training goes."""

    run = models.ForeignKey(RewardModelRun, on_delete=models.CASCADE, related_name="steps")
    step = models.PositiveIntegerField()
    loss = models.FloatField()
    val_accuracy = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["run", "step"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="rmstep_unique")]

    def __str__(self) -> str:
        return f"{self.run_id}@{self.step}"


class ActiveRewardModel(models.Model):
    """The model version a project uses for scoring, uncertainty sampling and curation."""

    project = models.OneToOneField(
        "annotation.Project", on_delete=models.CASCADE, related_name="active_reward_model"
    )
    run = models.ForeignKey(RewardModelRun, on_delete=models.PROTECT, related_name="+")
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    promoted_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"project {self.project_id} -> run {self.run_id}"


class ScoringRun(models.Model):
    """Scoring of one corpus by one model version, split into shards."""

    run = models.ForeignKey(RewardModelRun, on_delete=models.CASCADE, related_name="scorings")
    corpus = models.ForeignKey("corpora.Corpus", on_delete=models.CASCADE, related_name="+")
    job = models.OneToOneField("core.Job", on_delete=models.PROTECT, related_name="+")
    corpus_version = models.PositiveIntegerField(default=0)
    shard_size = models.PositiveIntegerField()
    n_shards = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Scoring {self.pk} (run {self.run_id}, corpus {self.corpus_id})"


class ScoringShard(models.Model):
    """A contiguous id range of a scoring run; `done` makes a redelivered shard a no-op."""

    scoring = models.ForeignKey(ScoringRun, on_delete=models.CASCADE, related_name="shards")
    index = models.PositiveIntegerField()
    first_item_id = models.BigIntegerField()
    last_item_id = models.BigIntegerField()
    n_items = models.PositiveIntegerField()
    done = models.BooleanField(default=False)

    class Meta:
        ordering = ["scoring", "index"]
        constraints = [
            models.UniqueConstraint(fields=["scoring", "index"], name="shard_unique_index")
        ]

    def __str__(self) -> str:
        return f"{self.scoring_id}#{self.index}"


class ItemScore(models.Model):
    """Scores of one item by one model version (upserted, so re-scoring is idempotent)."""

    run = models.ForeignKey(RewardModelRun, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey("corpora.Item", on_delete=models.CASCADE, related_name="+")
    overall = models.FloatField()
    criteria = models.JSONField(default=dict, blank=True)
    rules = models.JSONField(default=dict, blank=True, help_text="rule -> P(violated).")
    # gpt turn index -> index of the best candidate by reward, for candidate-rich items.
    best_candidates = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "item"], name="itemscore_unique")]
        # The per-item score list of a scoring pages by score within a model version.
        indexes = [models.Index(fields=["run", "overall"], name="itemscore_run_overall")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.item_id}={self.overall:.3f}"


class DatasetVersion(models.Model):
    """An immutable curated slice: which items, chosen how, from what."""

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="dataset_versions"
    )
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200, blank=True)
    policy = models.JSONField()
    run = models.ForeignKey(
        RewardModelRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    scoring = models.ForeignKey(
        ScoringRun,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The scoring (corpus x model) curated; empty for a curation over the project.",
    )
    corpus_versions = models.JSONField(default=dict, help_text="corpus id -> corpus version.")
    statistics = models.JSONField(default=dict)
    n_items = models.PositiveIntegerField(default=0)
    derived_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="derived",
        help_text="The version this one was made from (a rewriting of its turns).",
    )
    provenance = models.JSONField(
        default=dict,
        blank=True,
        help_text="What made this version beyond its policy: the rewriting LLM, prompt, guards.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="dataset_unique_number")
        ]

    def __str__(self) -> str:
        return f"Dataset {self.project_id} v{self.number}"


class DatasetItem(models.Model):
    dataset = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="members")
    item = models.ForeignKey("corpora.Item", on_delete=models.PROTECT, related_name="+")
    score = models.FloatField(null=True, blank=True)
    conversations = models.JSONField(
        null=True,
        blank=True,
        help_text="This version's own turns (a rewritten version); empty: the item's turns.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "item"], name="datasetitem_unique")
        ]

    def __str__(self) -> str:
        return f"{self.dataset_id}:{self.item_id}"


class Export(models.Model):
    class Format(models.TextChoices):
        LLAVA_JSON = "llava_json", "LLaVA JSON"
        JSONL = "jsonl", "JSON Lines"
        PARQUET = "parquet", "Parquet"
        PARQUET_IMAGES = "parquet_images", "Parquet with images (sharded)"
        WEBDATASET = "webdataset", "WebDataset tar shards"
        TRL_PAIRS = "trl_pairs", "Preference pairs for TRL"
        LLAMAFACTORY = "llamafactory", "Preference pairs for LLaMA-Factory"

    class Sink(models.TextChoices):
        LOCAL = "local", "Local artifacts folder"
        S3 = "s3", "S3-compatible storage (and the local folder)"

    dataset = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="exports")
    job = models.OneToOneField("core.Job", on_delete=models.PROTECT, related_name="+")
    format = models.CharField(max_length=16, choices=Format.choices)
    include_images = models.BooleanField(default=False)
    options = models.JSONField(
        default=dict, blank=True, help_text="scores, file_format, shard_bytes (see the API)."
    )
    sink = models.CharField(max_length=8, choices=Sink.choices, default=Sink.LOCAL)
    path = models.CharField(max_length=1000, blank=True, help_text="Relative to ARTIFACTS_ROOT.")
    manifest = models.JSONField(default=dict, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.format})"


class JudgeRun(models.Model):
    """The safety judge over a project's items (or a corpus) against one constitution version;
    its decisions are ``annotation.Suggestion`` rows with ``judge_run_id`` = this id."""

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="judge_runs"
    )
    constitution = models.ForeignKey(
        "annotation.Constitution", on_delete=models.PROTECT, related_name="+"
    )
    corpus = models.ForeignKey(
        "corpora.Corpus", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    job = models.OneToOneField("core.Job", on_delete=models.PROTECT, related_name="+")
    # {"vlm", "relevance", "detector": names or paths; "thresholds": JudgeConfig values}
    config = models.JSONField()
    items_total = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Judge run {self.pk} (project {self.project_id})"

    @property
    def model_version(self) -> str:
        return f"judge-run-{self.pk}"

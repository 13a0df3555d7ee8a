"""Corpora of instruction items and the images they point at.

The tables keep the names they had in the annotation app (`annotation_*`): the models moved,
the data did not.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Corpus(models.Model):
    """A named collection of instruction items, imported from LLaVA-style files."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Bumped by every import that changes items, so dataset versions can record what they saw.
    version = models.PositiveIntegerField(default=0)
    # Set when a deletion job starts: from then on the corpus is hidden from every list and
    # read while the job removes its rows in batches.
    deleting = models.BooleanField(default=False)

    class Meta:
        db_table = "annotation_corpus"
        ordering = ["name"]
        verbose_name_plural = "corpora"

    def __str__(self) -> str:
        return self.name


class ImageAsset(models.Model):
    """An image stored once by content (sha256), shared by every item and corpus that uses it."""

    sha256 = models.CharField(max_length=64, unique=True)
    file = models.CharField(max_length=255, help_text="Path relative to MEDIA_ROOT.")
    format = models.CharField(max_length=16)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "annotation_imageasset"

    def __str__(self) -> str:
        return f"{self.sha256[:12]} {self.width}x{self.height} {self.format}"


class CorpusImage(models.Model):
    """Maps an image path as written in a corpus file to the stored image.

    Re-imports of the same corpus can then reference images that were uploaded before, as
    LLaVA files do (`"image": "coco/train2017/000000215677.jpg"`).
    """

    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="image_paths")
    path = models.CharField(max_length=1024)
    asset = models.ForeignKey(ImageAsset, on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "annotation_corpusimage"
        constraints = [
            models.UniqueConstraint(fields=["corpus", "path"], name="corpusimage_unique_path")
        ]

    def __str__(self) -> str:
        return f"{self.corpus_id}:{self.path}"


class Item(models.Model):
    """One instruction item: an image and a multi-turn conversation (LLaVA record)."""

    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="items")
    external_id = models.CharField(max_length=255)
    image = models.ForeignKey(
        ImageAsset, null=True, blank=True, on_delete=models.PROTECT, related_name="items"
    )
    image_path = models.CharField(max_length=1024, blank=True)
    conversations = models.JSONField(
        help_text="LLaVA turns; a gpt turn may hold a list of candidates with a score list."
    )
    questions = models.JSONField(
        null=True, blank=True, help_text="Candidate question sets of question-preference records."
    )
    question_scores = models.JSONField(null=True, blank=True)
    category = models.CharField(max_length=100, blank=True, db_index=True)
    extra = models.JSONField(default=dict, blank=True, help_text="Unknown keys of the record.")
    has_candidates = models.BooleanField(default=False)
    # sha256 of the canonical record: re-imports compare it to count changed items.
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "annotation_item"
        constraints = [
            models.UniqueConstraint(
                fields=["corpus", "external_id"], name="item_unique_external_id"
            )
        ]
        # The data browser pages a corpus in id order, whole or by category: one index range
        # read of a page at any depth (bench/data_browser.py).
        indexes = [
            models.Index(fields=["corpus", "id"], name="item_corpus_page"),
            models.Index(fields=["corpus", "category", "id"], name="item_corpus_category_page"),
        ]

    def __str__(self) -> str:
        return f"{self.corpus_id}:{self.external_id}"

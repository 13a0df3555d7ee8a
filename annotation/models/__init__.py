"""Models of the annotation app, one module per domain."""

from annotation.models.corpus import Corpus, CorpusImage, ImageAsset, Item
from annotation.models.jobs import Job

__all__ = ["Corpus", "CorpusImage", "ImageAsset", "Item", "Job"]

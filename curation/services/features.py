"""Featurisation of database items through the library's on-disk feature cache.

Images come from ImageAsset files under MEDIA_ROOT (their sha256 is the cache key, so a fully
cached corpus is resolved without opening a file); texts from the item's conversation.
Encoders are loaded lazily, once per process, and only when something is missing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from rewardmodel.encoder_specs import (
    COMPOSITE_DEFAULTS,
    DEFAULT_TURN_TEXT,
    GROUNDED_IMAGE,
    GROUNDED_TEXT,
)
from rewardmodel.keys import content_key

# The library (and torch with it) is imported inside the functions: the web process imports
# this module through the API and must stay free of torch.


@dataclass(frozen=True)
class Featurizable:
    """A text to score or train on, with the image it is about (if any)."""

    text: str
    image_key: str | None = None  # ImageAsset.sha256
    image_file: str | None = None  # ImageAsset.file, relative to MEDIA_ROOT

    @property
    def ref(self) -> Any:  # rewardmodel.features.FeatureRef
        from rewardmodel.features import FeatureRef

        return FeatureRef(self.image_key, content_key(self.text))


def feature_cache_root() -> Path:
    return Path(settings.ARTIFACTS_ROOT) / "features"


@functools.lru_cache(maxsize=4)
def _cache(root: str) -> Any:
    from rewardmodel.features import FeatureCache

    return FeatureCache(root)


def feature_cache() -> Any:  # rewardmodel.features.FeatureCache
    return _cache(str(feature_cache_root()))


@functools.lru_cache(maxsize=4)
def encoder_get(spec: str):  # an Encoder
    """Encoders are expensive to build: one per spec and process."""
    from rewardmodel.encoders import encoder_load

    return encoder_load(spec)


# Ids and widths of the offline default encoders, so that their cache ids are known without
# loading a model (a fully cached corpus is then scored without one).
_DEFAULT_BASES = {
    "default-text": ("text:all-MiniLM-L6-v2:mean:256", 384),
    "default-image": ("image:efficientnet-lite0:avgpool:224", 1280),
    "default-image-128": ("image:efficientnet-lite0:avgpool:128", 1280),
}


@dataclass(frozen=True)
class _IdOnly:
    """Stands in for a base encoder when only a composite encoder's id is wanted."""

    encoder_id: str
    dim: int


def _composite_id(spec: str) -> str:
    # The composite classes derive their id from the base's id (and their own settings):
    # building one around a stand-in gives exactly the id the real encoder writes under.
    from rewardmodel.encoders.composite import ImageWithColourEncoder, TurnTextEncoder

    if spec in (DEFAULT_TURN_TEXT, GROUNDED_TEXT):
        base = _IdOnly(*_DEFAULT_BASES["default-text"])
        return TurnTextEncoder(base, colour_terms=spec == GROUNDED_TEXT).encoder_id
    base = _IdOnly(*_DEFAULT_BASES["default-image-128"])
    return ImageWithColourEncoder(base, colour_terms=spec == GROUNDED_IMAGE).encoder_id


@functools.lru_cache(maxsize=16)
def encoder_id_of(spec: str) -> str:
    """The cache id an encoder spec writes under (loads the encoder once to learn it, except
    for the offline defaults)."""
    if spec in ("default-text", "default-image"):
        return _DEFAULT_BASES[spec][0]
    if spec in COMPOSITE_DEFAULTS:
        return _composite_id(spec)
    if spec.startswith("cached:"):
        # Features put into the cache by another tool under this exact id (benchmarks, imports).
        return spec[len("cached:") :]
    return encoder_get(spec).encoder_id


# Examples featurised between two progress reports: small enough for a live n/N on CPU, large
# enough that the encoders still batch well.
PROGRESS_CHUNK = 256

# progress(done, total): examples not cached yet, featurised so far out of all of them.
FeaturizeProgress = Callable[[int, int], None]


def featurize_many(
    things: Sequence[Featurizable],
    *,
    text_encoder: str,
    image_encoder: str | None,
    progress: FeaturizeProgress | None = None,
) -> list[Any]:
    """Make sure every text and image is in the cache; returns their refs (FeatureRef).

    With `progress`, the examples missing from the cache are featurised in chunks and
    `progress(done, total)` is called before the first and after each chunk (it may raise to
    stop: what was featurised stays cached)."""
    from rewardmodel.features import Example, FeatureRef, featurize, joint_key

    cache = feature_cache()
    if text_encoder.startswith("vlm:"):  # one VLM reads image and text together
        keys = [joint_key(t.text, t.image_key) for t in things]
        missing = set(cache.missing(encoder_id_of(text_encoder), keys))
        media = Path(settings.MEDIA_ROOT)
        todo = [
            Example(t.text, (media / t.image_file) if t.image_file else None, t.image_key)
            for t, key in zip(things, keys, strict=True)
            if key in missing
        ]
        if todo:  # the slowest encoder of all: it reports progress (and can stop) too
            encoder = encoder_get(text_encoder)
            _in_chunks(todo, lambda part: featurize(part, encoder, None, cache, batch_size=16),
                       progress)  # fmt: skip
        return [FeatureRef(None, key) for key in keys]
    refs = [thing.ref for thing in things]
    text_id = encoder_id_of(text_encoder)
    missing_text = set(cache.missing(text_id, [r.text_key for r in refs]))
    image_id = encoder_id_of(image_encoder) if image_encoder else None
    missing_images: set[str] = set()
    if image_id is not None:
        missing_images = set(
            cache.missing(image_id, [r.image_key for r in refs if r.image_key is not None])
        )
    if not missing_text and not missing_images:
        return refs
    media = Path(settings.MEDIA_ROOT)
    todo = [
        Example(
            text=thing.text,
            image=(media / thing.image_file) if thing.image_key in missing_images else None,
            image_key=thing.image_key if image_id is not None else None,
        )
        for thing, ref in zip(things, refs, strict=True)
        if ref.text_key in missing_text or ref.image_key in missing_images
    ]
    encoders = (encoder_get(text_encoder), encoder_get(image_encoder) if image_id else None)
    _in_chunks(todo, lambda part: featurize(part, *encoders, cache, batch_size=32), progress)
    return refs


def _in_chunks(
    todo: Sequence[Any], work: Callable[[Sequence[Any]], object], progress: FeaturizeProgress | None
) -> None:
    """``work`` on ``todo`` in chunks of PROGRESS_CHUNK, with ``progress(done, total)`` before
    the first and after each (at once when nobody watches)."""
    chunk = len(todo) if progress is None else PROGRESS_CHUNK
    for start in range(0, len(todo), chunk):
        if progress is not None:
            progress(start, len(todo))
        work(todo[start : start + chunk])
    if progress is not None:
        progress(len(todo), len(todo))


def feature_loader(*, text_encoder_id: str, image_encoder_id: str | None) -> Any:
    from rewardmodel.features import cache_feature_loader

    return cache_feature_loader(
        feature_cache(), text_encoder_id=text_encoder_id, image_encoder_id=image_encoder_id
    )

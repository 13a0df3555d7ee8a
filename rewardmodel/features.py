"""On-disk feature cache keyed by (encoder id, content sha256), and the featurize pipeline.

Layout: one folder per encoder holding immutable *segments*, each a pair of ``.npy`` files
(``keys``: ``S64`` hex digests, ``vecs``: float32 rows). A writer writes a new segment under a
unique name and renames it into place, keys file last, so readers only ever see complete
segments and several processes may write at once without a lock (the worst case is the same
key stored twice, which is harmless). Reads memory-map the segments and gather rows with one
fancy-indexing call per segment, so a bulk read of 100k+ rows costs milliseconds per thousand.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardmodel.encoders.base import Encoder
from rewardmodel.encoders.images import image_bytes
from rewardmodel.keys import content_key

KEYS_SUFFIX = ".keys.npy"
VECS_SUFFIX = ".vecs.npy"


def _encoder_folder_name(encoder_id: str) -> str:
    return hashlib.sha256(encoder_id.encode("utf-8")).hexdigest()[:24]


class _EncoderStore:
    """The segments of one encoder, with an index refreshed when new segments appear."""

    def __init__(self, folder: Path, encoder_id: str) -> None:
        self.folder = folder
        self.encoder_id = encoder_id
        self.dim: int | None = None
        self._segments: list[str] = []
        self._vecs: list[np.ndarray] = []
        self._index: dict[bytes, int] = {}  # key -> global row
        self._offsets: list[int] = [0]
        meta = folder / "encoder.json"
        if meta.exists():
            self.dim = int(json.loads(meta.read_text())["dim"])

    def refresh(self) -> None:
        if not self.folder.exists():
            return
        names = sorted(
            entry.name[: -len(KEYS_SUFFIX)]
            for entry in os.scandir(self.folder)
            if entry.name.endswith(KEYS_SUFFIX)
        )
        known = set(self._segments)
        for name in names:
            if name in known:
                continue
            keys = np.load(self.folder / (name + KEYS_SUFFIX))
            vecs = np.load(self.folder / (name + VECS_SUFFIX), mmap_mode="r")
            base = self._offsets[-1]
            # setdefault keeps the first copy of a key written twice by racing writers
            index = self._index
            for row, key in enumerate(keys.tolist()):
                index.setdefault(key, base + row)
            self._segments.append(name)
            self._vecs.append(vecs)
            self._offsets.append(base + len(keys))
            if self.dim is None:
                self.dim = int(vecs.shape[1])

    def rows(self, keys: Sequence[str]) -> np.ndarray:
        """Global row numbers of ``keys``; -1 where a key is missing."""
        index = self._index
        return np.fromiter(
            (index.get(key.encode("ascii"), -1) for key in keys), dtype=np.int64, count=len(keys)
        )

    def gather(self, rows: np.ndarray) -> np.ndarray:
        assert self.dim is not None
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        if len(rows) == 0:
            return out
        offsets = np.asarray(self._offsets)
        segment_of_row = np.searchsorted(offsets, rows, side="right") - 1
        for segment in np.unique(segment_of_row):
            picked = np.nonzero(segment_of_row == segment)[0]
            local = rows[picked] - offsets[segment]
            out[picked] = self._vecs[segment][local]
        return out


class FeatureCache:
    """Features on disk, keyed by (encoder id, content sha256 hex digest).

    Safe for several processes reading and writing the same folder at once. Each instance
    keeps an in-memory index that it refreshes (cheaply, a directory listing) on every call.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._stores: dict[str, _EncoderStore] = {}

    def _store(self, encoder_id: str) -> _EncoderStore:
        if not encoder_id:
            raise ValueError("encoder_id must be a non-empty string")
        store = self._stores.get(encoder_id)
        if store is None:
            store = _EncoderStore(self.root / _encoder_folder_name(encoder_id), encoder_id)
            self._stores[encoder_id] = store
        store.refresh()
        return store

    def contains(self, encoder_id: str, keys: Sequence[str]) -> np.ndarray:
        """A boolean array: which of ``keys`` are cached for this encoder."""
        return self._store(encoder_id).rows(keys) >= 0

    def missing(self, encoder_id: str, keys: Iterable[str]) -> list[str]:
        """The distinct keys not yet cached, in first-seen order."""
        unique = list(dict.fromkeys(keys))
        present = self.contains(encoder_id, unique)
        return [key for key, hit in zip(unique, present, strict=True) if not hit]

    def dim(self, encoder_id: str) -> int | None:
        return self._store(encoder_id).dim

    def get_many(self, encoder_id: str, keys: Sequence[str]) -> np.ndarray:
        """A ``(len(keys), dim)`` float32 array; raises ``KeyError`` naming missing keys."""
        store = self._store(encoder_id)
        rows = store.rows(keys)
        if len(rows) and rows.min() < 0:
            absent = [keys[i] for i in np.nonzero(rows < 0)[0][:3]]
            raise KeyError(
                f"{int((rows < 0).sum())} of {len(keys)} keys have no cached features for "
                f"encoder {encoder_id!r} (e.g. {absent}); run featurize first"
            )
        if store.dim is None:
            if len(keys):
                raise KeyError(f"nothing cached for encoder {encoder_id!r}")
            return np.zeros((0, 0), dtype=np.float32)
        return store.gather(rows)

    def put_many(self, encoder_id: str, keys: Sequence[str], vectors: np.ndarray) -> int:
        """Store rows for keys not cached yet; returns how many new rows were written."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(keys):
            raise ValueError(
                f"vectors must be (len(keys), dim); got {vectors.shape} for {len(keys)} keys"
            )
        if not np.isfinite(vectors).all():
            raise ValueError("refusing to cache features containing NaN or inf")
        store = self._store(encoder_id)
        if store.dim is not None and vectors.shape[1] != store.dim:
            raise ValueError(
                f"encoder {encoder_id!r} has {store.dim}-dim cached features, got "
                f"{vectors.shape[1]}-dim rows (an encoder id must name one model)"
            )
        for key in keys:
            if len(key) != 64:
                raise ValueError(f"keys must be sha256 hex digests, got {key!r}")
        rows = store.rows(keys)
        first = dict.fromkeys(k for k, r in zip(keys, rows, strict=True) if r < 0)
        if not first:
            return 0
        positions = {key: i for i, key in enumerate(keys)}
        new_keys = list(first)
        new_vecs = vectors[[positions[k] for k in new_keys]]
        store.folder.mkdir(parents=True, exist_ok=True)
        meta = store.folder / "encoder.json"
        if not meta.exists():
            tmp = store.folder / f".encoder.{uuid.uuid4().hex}.tmp"
            tmp.write_text(json.dumps({"encoder_id": encoder_id, "dim": int(vectors.shape[1])}))
            os.replace(tmp, meta)
        name = f"seg-{uuid.uuid4().hex}"
        for suffix, array in ((VECS_SUFFIX, new_vecs), (KEYS_SUFFIX, np.asarray(new_keys, "S64"))):
            tmp = store.folder / f".{name}{suffix}.tmp"
            with tmp.open("wb") as handle:
                np.save(handle, array)
            os.replace(tmp, store.folder / (name + suffix))
        store.refresh()
        return len(new_keys)


@dataclass(frozen=True)
class FeatureRef:
    """Where one example's features live: its image key (None for text-only) and text key."""

    image_key: str | None
    text_key: str


@dataclass(frozen=True)
class Example:
    """One thing to featurise: a text and optionally an image (bytes, path or PIL image).

    ``image_key`` may carry a precomputed sha256 of the image bytes so that a fully cached
    corpus is resolved without reading a single image file.
    """

    text: str
    image: Any = None
    image_key: str | None = None


def _as_example(raw: Example | Mapping[str, Any]) -> Example:
    if isinstance(raw, Example):
        return raw
    if isinstance(raw, Mapping):
        if "text" not in raw or not isinstance(raw["text"], str):
            raise ValueError(f"each example needs a 'text' string, got keys {sorted(raw)}")
        return Example(text=raw["text"], image=raw.get("image"), image_key=raw.get("image_key"))
    raise TypeError(f"examples must be Example or mappings, not {type(raw).__name__}")


def _image_key(example: Example) -> str | None:
    if example.image_key is not None:
        return example.image_key
    if example.image is None:
        return None
    return content_key(image_bytes(example.image))


def joint_key(text: str, image_key: str | None) -> str:
    """The cache key of an (image, text) pair, for an encoder that reads both together."""
    return content_key(f"{image_key or ''}\x00{text}")


def _featurize_joint(
    parsed: Sequence[Example], encoder: Encoder, cache: FeatureCache, batch_size: int,
    pool: ThreadPoolExecutor,
) -> list[FeatureRef]:  # fmt: skip
    image_keys = list(pool.map(_image_key, parsed))
    keys = [joint_key(e.text, k) for e, k in zip(parsed, image_keys, strict=True)]
    missing = cache.missing(encoder.encoder_id, keys)
    if missing:
        source_of: dict[str, Any] = {}
        for key, example, image_key in zip(keys, parsed, image_keys, strict=True):
            if image_key is not None and example.image is None:
                continue  # only its key: fine if cached, reported below if not
            source_of.setdefault(key, (example.text, example.image))
        lacking = [k for k in missing if k not in source_of]
        if lacking:
            raise ValueError(
                f"{len(lacking)} (image, text) pairs are given only by image_key and are not "
                "cached; pass the image itself"
            )
        encode_missing(encoder, missing, [source_of[k] for k in missing], cache,
                       batch_size=batch_size, pool=pool)  # fmt: skip
    return [FeatureRef(None, key) for key in keys]


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def encode_missing(
    encoder: Encoder,
    keys: Sequence[str],
    sources: Sequence[Any],
    cache: FeatureCache,
    *,
    batch_size: int,
    pool: ThreadPoolExecutor,
    lookahead: int = 3,
    flush_rows: int = 4096,
) -> int:
    """Encode ``sources`` and store them under ``keys``; ``prepare`` runs in ``pool``.

    Up to ``lookahead`` batches are decoded ahead of the forward pass, so decoding overlaps
    the model; results are flushed to the cache every ``flush_rows`` rows so that an
    interrupted run keeps what it finished.
    """
    key_batches = list(_batches(keys, batch_size))
    source_batches = _batches(sources, batch_size)
    pending: list[Future[Any]] = []
    done_keys: list[str] = []
    done_vecs: list[np.ndarray] = []
    written = 0
    for _ in range(min(lookahead, len(key_batches))):
        pending.append(pool.submit(encoder.prepare, next(source_batches)))
    for batch_keys in key_batches:
        prepared = pending.pop(0).result()
        following = next(source_batches, None)
        if following is not None:
            pending.append(pool.submit(encoder.prepare, following))
        vectors = encoder.forward(prepared).numpy()
        done_keys.extend(batch_keys)
        done_vecs.append(vectors)
        if len(done_keys) >= flush_rows:
            written += cache.put_many(encoder.encoder_id, done_keys, np.concatenate(done_vecs))
            done_keys, done_vecs = [], []
    if done_keys:
        written += cache.put_many(encoder.encoder_id, done_keys, np.concatenate(done_vecs))
    return written


def featurize(
    examples: Sequence[Example | Mapping[str, Any]],
    text_encoder: Encoder,
    image_encoder: Encoder | None,
    cache: FeatureCache,
    batch_size: int = 64,
    *,
    workers: int = 2,
) -> list[FeatureRef]:
    """Make sure every example's features are cached; return where they are.

    Only content not cached yet is decoded and encoded (each distinct text or image once,
    however many examples share it).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    parsed = [_as_example(raw) for raw in examples]
    if getattr(text_encoder, "joint", False):  # one encoder of image and text together
        if image_encoder is not None:
            raise ValueError("a joint image-text encoder reads the image itself: no image encoder")
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            return _featurize_joint(parsed, text_encoder, cache, batch_size, pool)
    if image_encoder is None and any(e.image is not None or e.image_key for e in parsed):
        raise ValueError("some examples have images but no image encoder was given")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        image_keys = list(pool.map(_image_key, parsed))
        text_keys = [content_key(e.text) for e in parsed]
        missing_text = cache.missing(text_encoder.encoder_id, text_keys)
        if missing_text:
            text_of = {key: e.text for key, e in zip(text_keys, parsed, strict=True)}
            encode_missing(
                text_encoder,
                missing_text,
                [text_of[k] for k in missing_text],
                cache,
                batch_size=batch_size,
                pool=pool,
            )
        if image_encoder is not None:
            present = [k for k in image_keys if k is not None]
            missing_images = cache.missing(image_encoder.encoder_id, present)
            if missing_images:
                source_of: dict[str, Any] = {}
                for key, example in zip(image_keys, parsed, strict=True):
                    if key is not None and example.image is not None:
                        source_of.setdefault(key, example.image)
                lacking = [k for k in missing_images if k not in source_of]
                if lacking:
                    raise ValueError(
                        f"{len(lacking)} images are given only by image_key and are not cached "
                        f"(e.g. {lacking[0]}); pass the image itself"
                    )
                encode_missing(
                    image_encoder,
                    missing_images,
                    [source_of[k] for k in missing_images],
                    cache,
                    batch_size=batch_size,
                    pool=pool,
                )
    return [FeatureRef(i, t) for i, t in zip(image_keys, text_keys, strict=True)]


def load_features(
    refs: Sequence[FeatureRef],
    cache: FeatureCache,
    *,
    text_encoder_id: str,
    image_encoder_id: str | None,
    image_dim: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(image matrix, text matrix) for ``refs``; text-only rows get a zero image vector."""
    texts = cache.get_many(text_encoder_id, [r.text_key for r in refs])
    with_image = [i for i, r in enumerate(refs) if r.image_key is not None]
    if image_encoder_id is None:
        if with_image:
            raise ValueError("refs have image keys but no image encoder id was given")
        return np.zeros((len(refs), image_dim or 0), dtype=np.float32), texts
    dim = cache.dim(image_encoder_id) or image_dim
    if dim is None:
        raise KeyError(f"nothing cached for image encoder {image_encoder_id!r}")
    images = np.zeros((len(refs), dim), dtype=np.float32)
    if with_image:
        keys = [refs[i].image_key for i in with_image]
        images[with_image] = cache.get_many(image_encoder_id, keys)  # type: ignore[arg-type]
    return images, texts


FeatureLoader = Callable[[Sequence[FeatureRef]], tuple[np.ndarray, np.ndarray]]


def cache_feature_loader(
    cache: FeatureCache, *, text_encoder_id: str, image_encoder_id: str | None
) -> FeatureLoader:
    """A function ``refs -> (image matrix, text matrix)`` reading from ``cache``."""

    def load(refs: Sequence[FeatureRef]) -> tuple[np.ndarray, np.ndarray]:
        return load_features(
            refs, cache, text_encoder_id=text_encoder_id, image_encoder_id=image_encoder_id
        )

    return load

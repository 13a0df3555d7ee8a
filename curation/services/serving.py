"""The reward model as a service: score a batch of (image, conversation) entries on request.

An entry becomes a transient, unsaved `Item` (never written) and goes through exactly the code
the batch scoring job runs (`curation.services.scoring.items_score`), so the
reward of an entry equals the job's score of the same item. Uploaded and fetched images are
written to a private temporary folder only while they are featurised; their features land in
the feature cache under the image's sha256, as a corpus import's would.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import DomainError
from core.models import Job
from corpora.models import ImageAsset, Item
from corpora.pipeline.images import ALLOWED_FORMATS, ImageError, fetch_url, inspect_image
from corpora.services.corpus_import import image_limits
from curation.models import RewardModelRun
from curation.services.scoring import items_score

# Bounds of one request (the API validates against them; the service re-checks the batch).
MAX_BATCH = 64
MAX_TURNS = 32
MAX_TEXT_CHARS = 20_000
MAX_IMAGE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class ScoreEntry:
    """One thing to score: a conversation, with image bytes, or an existing item's image."""

    conversations: list[dict[str, Any]]
    image_bytes: bytes | None = None
    image: ImageAsset | None = None  # an existing item's stored image


@dataclass(frozen=True)
class EntryReward:
    reward: float
    criteria: dict[str, float]
    rules: dict[str, float]


def entry_image_fetch(*, url: str) -> bytes:
    """An image URL's bytes, through the SSRF-safe fetcher and the import's limits."""
    limits = image_limits()
    try:
        return fetch_url(url, limits)
    except ImageError as exc:
        raise DomainError("validation_error", f"image URL: {exc}") from exc


def _transient_items(entries: list[ScoreEntry], scratch: Path) -> list[Item]:
    limits = image_limits()
    items = []
    for index, entry in enumerate(entries):
        image = entry.image
        if entry.image_bytes is not None:
            try:
                fmt, _, _ = inspect_image(entry.image_bytes, limits)
            except ImageError as exc:
                raise DomainError(
                    "validation_error", f"entry {index}: {exc}", details={"entry": index}
                ) from exc
            digest = hashlib.sha256(entry.image_bytes).hexdigest()
            path = scratch / f"{digest}.{ALLOWED_FORMATS[fmt]}"
            path.write_bytes(entry.image_bytes)
            # An absolute file: featurisation joins it to MEDIA_ROOT, which leaves it as is.
            # The pk only marks the asset as present for the scoring code; it is never saved.
            image = ImageAsset(pk=-1, sha256=digest, file=str(path))
        conversations = entry.conversations
        item = Item(
            pk=index + 1,
            conversations=conversations,
            questions=None,
            has_candidates=any(isinstance(turn.get("value"), list) for turn in conversations),
        )
        if image is not None:
            item.image = image
        items.append(item)
    return items


def reward_model_score_batch(
    *, run: RewardModelRun, entries: list[ScoreEntry]
) -> list[EntryReward]:
    """One reward per entry (and its per-criterion and per-rule scores), as batch scoring."""
    if run.job.status != Job.Status.SUCCEEDED or not run.artifact_path:
        raise DomainError("run_not_ready", "Only a finished reward model can score.", status=409)
    if not 1 <= len(entries) <= MAX_BATCH:
        raise DomainError("validation_error", f"A batch holds 1 to {MAX_BATCH} entries.")
    with tempfile.TemporaryDirectory(prefix="arbiter-score-") as scratch:
        items = _transient_items(entries, Path(scratch))
        rows = items_score(run=run, items=items)
    return [EntryReward(float(row.overall), dict(row.criteria), dict(row.rules)) for row in rows]

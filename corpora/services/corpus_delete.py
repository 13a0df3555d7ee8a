"""Delete a corpus in the background: bounded batches of raw SQL, each its own transaction.

An ORM cascade of a million-item corpus would collect every dependent row in memory and hold
one transaction for minutes. Here the rows that depend on a corpus are found from the models'
own foreign keys (so corpora names no table of the apps above it, and a new table that points
at items is deleted too), children before parents: for each batch of item ids, the rows that
reference them (annotations and their revisions, project items with their assignments and
adjudications, scores, dataset items...), then the items; the same for the corpus's image
links; image files that no other corpus uses; the corpus last. A nullable reference (a dataset
version's scoring) is cleared instead of deleting the row that holds it.

Each batch commits on its own, so the job can stop (cancel, a dead worker) anywhere and be run
again: it continues with what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, models, transaction

from core.errors import DomainError
from core.models import Job
from corpora.models import Corpus, CorpusImage, ImageAsset, Item

BATCH_SIZE = 2000
ProgressCallback = Callable[[int, int, str], None]
ACTIVE = [Job.Status.QUEUED, Job.Status.RUNNING]
# Kinds whose running job works on one corpus (`params.corpus_id`) and would race a deletion.
BLOCKING_KINDS = {Job.Kind.CORPUS_IMPORT: "an import", Job.Kind.CORPUS_SCORE: "a scoring"}


@dataclass(frozen=True)
class _Child:
    model: type[models.Model]
    column: str
    nullable: bool


def _children(model: type[models.Model]) -> list[_Child]:
    """Every foreign key (hidden ones too: `related_name="+"`) that points at `model`."""
    found = []
    for rel in model._meta.get_fields(include_hidden=True):
        if not rel.auto_created or rel.concrete or rel.many_to_many:
            continue
        field = rel.field
        found.append(_Child(rel.related_model, field.column, field.null))
    return found


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _pk(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.pk.column)


def _delete_dependents(model: type[models.Model], ids_sql: str, params: list) -> None:
    """Delete (or, for a nullable reference, clear) every row that depends on the rows of
    `model` selected by `ids_sql`, deepest first."""
    with connection.cursor() as cursor:
        for child in _children(model):
            column = connection.ops.quote_name(child.column)
            where = f"{column} IN ({ids_sql})"
            if child.nullable:
                cursor.execute(
                    f"UPDATE {_table(child.model)} SET {column} = NULL WHERE {where}", params
                )
                continue
            child_ids = f"SELECT {_pk(child.model)} FROM {_table(child.model)} WHERE {where}"
            _delete_dependents(child.model, child_ids, params)
            cursor.execute(f"DELETE FROM {_table(child.model)} WHERE {where}", params)


def _image_ids(model: type[models.Model], column: str, ids: list[int]) -> list[int]:
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT {column} FROM {_table(model)} "
            f"WHERE {_pk(model)} IN ({marks}) AND {column} IS NOT NULL",
            ids,
        )
        return [row[0] for row in cursor.fetchall()]


def _delete_unused_images(asset_ids: list[int]) -> list[str]:
    """Delete the image rows among `asset_ids` that no item or image link uses any more;
    return their files (deleted once the transaction commits)."""
    if not asset_ids:
        return []
    marks = ", ".join(["%s"] * len(asset_ids))
    assets = _table(ImageAsset)
    unused = (
        f"{assets}.id IN ({marks})"
        f" AND NOT EXISTS (SELECT 1 FROM {_table(Item)} i WHERE i.image_id = {assets}.id)"
        f" AND NOT EXISTS (SELECT 1 FROM {_table(CorpusImage)} c WHERE c.asset_id = {assets}.id)"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT file FROM {assets} WHERE {unused}", asset_ids)
        files = [row[0] for row in cursor.fetchall()]
        cursor.execute(f"DELETE FROM {assets} WHERE {unused}", asset_ids)
    return files


def _remove_files(files: list[str]) -> None:
    root = Path(settings.MEDIA_ROOT).resolve()
    for name in files:
        path = (root / name).resolve()
        if path.is_relative_to(root):
            path.unlink(missing_ok=True)


# The corpus's own rows that come in numbers (deleted in batches) and the column naming the
# image each row uses (its last user gone, the image goes too).
_BATCHED: list[tuple[type[models.Model], str | None]] = [
    (Item, "image_id"),
    (CorpusImage, "asset_id"),
]


def corpus_delete(
    *,
    corpus_id: int,
    batch_size: int = BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> dict[str, int]:
    """Delete the corpus and everything that depends on it; nothing happens for a corpus that
    is gone already (a second run). Memory holds one batch of ids at a time."""
    counts = {"items": 0, "image_links": 0, "images": 0}
    corpus = Corpus.objects.filter(pk=corpus_id).first()
    if corpus is None:
        return counts
    total = Item.objects.filter(corpus_id=corpus_id).count()
    keys = {Item: "items", CorpusImage: "image_links"}
    for model, image_column in _BATCHED:
        while True:
            with transaction.atomic():
                ids = list(
                    model.objects.filter(corpus_id=corpus_id)
                    .order_by("pk")
                    .values_list("pk", flat=True)[:batch_size]
                )
                if not ids:
                    break
                marks = ", ".join(["%s"] * len(ids))
                images = _image_ids(model, image_column, ids) if image_column else []
                _delete_dependents(
                    model,
                    f"SELECT {_pk(model)} FROM {_table(model)} WHERE {_pk(model)} IN ({marks})",
                    ids,
                )
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"DELETE FROM {_table(model)} WHERE {_pk(model)} IN ({marks})", ids
                    )
                files = _delete_unused_images(images)
                transaction.on_commit(lambda files=files: _remove_files(files))
            counts[keys[model]] += len(ids)
            counts["images"] += len(files)
            if progress is not None:
                progress(counts["items"], total, f"Deleted {counts['items']} of {total} items.")
    with transaction.atomic():
        # What is left is small: project links, scoring runs (their shards, a dataset version's
        # reference to them is cleared), then the corpus row.
        _delete_dependents(Corpus, "SELECT %s", [corpus_id])
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {_table(Corpus)} WHERE {_pk(Corpus)} = %s", [corpus_id])
    return counts


def corpus_delete_start(*, corpus: Corpus, created_by=None, dispatch: bool = True) -> Job:
    """Hide the corpus and queue its deletion; refused (409) while an import or a scoring of it
    is queued or running."""
    from core.services.jobs import job_create
    from workers.tasks import corpus_delete_task

    with transaction.atomic():
        corpus = Corpus.objects.select_for_update().get(pk=corpus.pk)
        for kind, what in BLOCKING_KINDS.items():
            busy = Job.objects.filter(kind=kind, status__in=ACTIVE, params__corpus_id=corpus.pk)
            if busy.exists():
                raise DomainError(
                    "corpus_busy",
                    f"{what.capitalize()} of this corpus is running; delete it once that ends "
                    "or is cancelled.",
                    status=409,
                )
        running = Job.objects.filter(
            kind=Job.Kind.CORPUS_DELETE, status__in=ACTIVE, params__corpus_id=corpus.pk
        ).first()
        if running is not None:
            return running
        Corpus.objects.filter(pk=corpus.pk).update(deleting=True)
        job = job_create(
            kind=Job.Kind.CORPUS_DELETE,
            params={"corpus_id": corpus.pk, "name": corpus.name},
            created_by=created_by,
        )
        if dispatch:
            transaction.on_commit(lambda: corpus_delete_task.delay(job.pk))
    return job


def corpus_delete_ended(*, job: Job) -> None:
    """A deletion that did not finish (cancelled, failed) shows what is left of the corpus
    again, so it can be seen and deleted again."""
    if job.status != Job.Status.SUCCEEDED:
        Corpus.objects.filter(pk=job.params.get("corpus_id")).update(deleting=False)

"""Import LLaVA-style instruction data into a corpus: streaming, all-or-nothing, idempotent."""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F

from core.models import Job
from corpora.models import Corpus, CorpusImage, ImageAsset, Item
from corpora.pipeline.chunks import (
    COPY_COLUMNS,
    COPY_NULL,
    ParsedChunk,
    RecordRef,
    chunks_from_thread,
)
from corpora.pipeline.images import (
    ImageError,
    ImageLimits,
    ImageSource,
    ImageStore,
    fetch_url,
)
from corpora.pipeline.parse_process import chunks_from_process
from corpora.pipeline.problems import MAX_PROBLEMS, ImportFailed, Problem
from corpora.pipeline.readers import RecordReader
from corpora.pipeline.records import ParsedRecord, category_from_filename
from corpora.pipeline.url_fetch import UrlAllowList

BATCH_SIZE = 2000
MAX_CACHED_IMAGE_REFS = 200_000
# Records per COPY on PostgreSQL: about 5 MB of text, few enough round trips per import.
COPY_CHUNK_SIZE = 5000
ANALYZE_AFTER = 10_000
ProgressCallback = Callable[[int, int, str], None]
# What a changed record rewrites: every imported column but the id it is matched on.
ITEM_UPDATE_FIELDS = ["image", *(c for c in COPY_COLUMNS if c != "external_id")]


@dataclass
class ImportReport:
    corpus_id: int
    items_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    images_stored: int = 0
    images_reused: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def image_limits() -> ImageLimits:
    return ImageLimits(
        max_pixels=settings.ARBITER_IMAGE_MAX_PIXELS,
        max_bytes=settings.ARBITER_IMAGE_MAX_BYTES,
        max_archive_bytes=settings.ARBITER_ARCHIVE_MAX_BYTES,
        url_timeout=settings.ARBITER_IMAGE_URL_TIMEOUT,
        url_allow=UrlAllowList.parse(settings.ARBITER_IMAGE_URL_ALLOW),
    )


def corpus_import(
    *,
    corpus: Corpus,
    source: Path,
    images: str | Path | None = None,
    category: str | None = None,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Import `source` into `corpus`. Either every item is kept or none is (ImportFailed)."""
    source = Path(source)
    if not source.is_file():
        # The name only: the folder is the server's business (uploads live in a temporary one).
        problem = Problem("file_not_found", f"{source.name} does not exist or is no file")
        raise ImportFailed([problem])
    limits = image_limits()
    try:
        image_source = ImageSource.open(images, limits) if images else None
    except ImageError as exc:
        raise ImportFailed([Problem("image_source_invalid", str(exc))]) from exc
    store = ImageStore(Path(settings.MEDIA_ROOT), limits)
    importer = _Importer(
        corpus=corpus,
        image_source=image_source,
        store=store,
        default_category=category if category is not None else category_from_filename(source.stem),
    )
    try:
        with transaction.atomic():
            report = importer.run(source, progress)
            if report.created or report.updated:
                Corpus.objects.filter(pk=corpus.pk).update(version=F("version") + 1)
    except BaseException:
        _discard_orphan_files(store)
        raise
    finally:
        if image_source is not None:
            image_source.close()
    if connection.vendor == "postgresql" and report.created + report.updated >= ANALYZE_AFTER:
        # Fresh statistics, so that queries over the new items (a project created from this
        # corpus right away) are planned for their real size rather than for an empty corpus.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE annotation_item (corpus_id, category, external_id)")
    return report


def _discard_orphan_files(store: ImageStore) -> None:
    # The transaction rolled back, so images first stored by this import have no row; files
    # another import stored meanwhile (same content) keep theirs.
    for path in list(store.created_files):
        digest = path.stem
        if not ImageAsset.objects.filter(sha256=digest).exists():
            path.unlink(missing_ok=True)
    store.created_files.clear()


class _Importer:
    def __init__(
        self,
        *,
        corpus: Corpus,
        image_source: ImageSource | None,
        store: ImageStore,
        default_category: str,
    ) -> None:
        self.corpus = corpus
        self.image_source = image_source
        self.store = store
        self.default_category = default_category
        self.problems: list[Problem] = []
        self.truncated = False
        self.asset_by_sha: dict[str, int] = {}
        self.image_ids: dict[str, int] = {}
        self.report = ImportReport(corpus_id=corpus.pk)
        self.staging_ready = False

    def problem(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.truncated = True

    def run(self, source: Path, progress: ProgressCallback | None) -> ImportReport:
        # Checks the format before anything starts.
        reader = RecordReader(source, max_depth=settings.ARBITER_IMPORT_MAX_DEPTH)
        for chunk in self._parsed_chunks(reader):
            self.report.items_read += chunk.items_read
            for problem in chunk.problems:
                self.problem(problem)
            self._flush(chunk)
            if progress:
                progress(chunk.bytes_read, reader.size, self._message())
            if self.truncated:
                break
        if self.report.items_read == 0 and not self.problems:
            self.problem(Problem("empty_corpus", "The file holds no records."))
        if self.problems:
            raise ImportFailed(self.problems, truncated=self.truncated)
        return self.report

    def _parsed_chunks(self, reader: RecordReader) -> Iterator[ParsedChunk]:
        """Parse and validate elsewhere while this thread writes to the database.

        On PostgreSQL a parse process formats COPY rows on the other core; the ORM writer
        (SQLite) needs Python objects, so there a thread of this process parses. Only this thread
        touches the database connection, which keeps the whole import inside the caller's
        transaction.
        """
        if connection.vendor == "postgresql":
            parsing = chunks_from_process(
                reader.path,
                default_category=self.default_category,
                size=COPY_CHUNK_SIZE,
                max_depth=reader.max_depth,
                memory_mb=settings.ARBITER_IMPORT_PARSE_MEMORY_MB,
            )
        else:
            parsing = chunks_from_thread(
                reader, default_category=self.default_category, size=BATCH_SIZE
            )
        with parsing as chunks:
            yield from chunks

    def _message(self) -> str:
        return f"{self.report.items_read} items read"

    def _flush(self, chunk: ParsedChunk) -> None:
        if not chunk.refs:
            return
        image_ids = self._resolve_images(chunk.refs)
        if self.problems:
            return  # keep reading to report problems, but write nothing more
        if chunk.rows:
            created, updated = _upsert_items_postgres(
                self.corpus.pk, _copy_data(chunk, image_ids), self._staging()
            )
        else:
            rows = [
                (parsed, image_ids.get(parsed.image_ref) if parsed.image_ref else None)
                for parsed in chunk.records
            ]
            created, updated = _upsert_items_orm(self.corpus, rows)
        self.report.created += created
        self.report.updated += updated
        self.report.unchanged += len(chunk.refs) - created - updated

    def _staging(self) -> bool:
        """Create the COPY staging table once per import (dropped at commit)."""
        if not self.staging_ready:
            with connection.cursor() as cursor:
                cursor.execute(STAGING_DDL)
            self.staging_ready = True
        return self.staging_ready

    def _resolve_images(self, batch: list[RecordRef]) -> dict[str, int]:
        """Asset ids of the batch's image refs (and of refs resolved in earlier batches).

        LLaVA files use most images for several items, so each ref is resolved once per import;
        the cache is bounded to keep memory flat for corpora with millions of images.
        """
        resolved = self.image_ids
        refs = {record.image_ref for record in batch if record.image_ref} - resolved.keys()
        if not refs:
            return resolved
        if len(resolved) + len(refs) > MAX_CACHED_IMAGE_REFS:
            resolved.clear()
        known = self._known_links(refs)
        new_links: list[CorpusImage] = []
        changed_links: list[str] = []
        for record in batch:
            ref = record.image_ref
            if ref not in refs or ref in resolved:
                continue
            try:
                data = self._read_image(ref, already_known=ref in known)
            except ImageError as exc:
                self._image_problem(record, "invalid_image", f"{ref}: {exc}")
                continue
            if data is None:
                if ref in known:
                    resolved[ref] = known[ref]
                    self.report.images_reused += 1
                    continue
                self._image_problem(
                    record,
                    "missing_image",
                    f"image {ref!r} was not found"
                    + ("" if self.image_source else " (no image folder or archive was given)"),
                )
                continue
            try:
                asset_id = self._asset_for(data)
            except ImageError as exc:
                self._image_problem(record, "invalid_image", f"{ref}: {exc}")
                continue
            resolved[ref] = asset_id
            if ref not in known:
                new_links.append(CorpusImage(corpus=self.corpus, path=ref, asset_id=asset_id))
            elif known[ref] != asset_id:
                changed_links.append(ref)
        if not self.problems:
            CorpusImage.objects.bulk_create(new_links, batch_size=BATCH_SIZE)
            for ref in changed_links:
                CorpusImage.objects.filter(corpus=self.corpus, path=ref).update(
                    asset_id=resolved[ref]
                )
        return resolved

    def _known_links(self, refs: set[str]) -> dict[str, int]:
        if connection.vendor != "postgresql":
            links = CorpusImage.objects.filter(corpus=self.corpus, path__in=refs)
            return dict(links.values_list("path", "asset_id"))
        # One array parameter instead of the ORM's `IN (%s, %s, ...)` with thousands of them.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT path, asset_id FROM annotation_corpusimage "
                "WHERE corpus_id = %s AND path = ANY(%s)",
                [self.corpus.pk, list(refs)],
            )
            return dict(cursor.fetchall())

    def _image_problem(self, record: RecordRef, code: str, message: str) -> None:
        """A record's image could not be used: a problem at the record's position."""
        self.problem(
            Problem(
                code,
                message,
                line=record.line,
                index=record.index,
                item_id=record.external_id,
                field="image",
            )
        )

    def _read_image(self, ref: str, *, already_known: bool) -> bytes | None:
        if ref.startswith(("http://", "https://")):
            # A URL's content is fetched once per corpus; re-imports reuse the stored copy.
            return None if already_known else fetch_url(ref, self.store.limits)
        if self.image_source is None:
            return None
        return self.image_source.read(ref)

    def _asset_for(self, data: bytes) -> int:
        digest = hashlib.sha256(data).hexdigest()
        cached = self.asset_by_sha.get(digest)
        if cached is not None:
            self.report.images_reused += 1
            return cached
        existing = ImageAsset.objects.filter(sha256=digest).values_list("pk", flat=True).first()
        if existing is not None:
            self.report.images_reused += 1
        else:
            stored = self.store.store(data)
            asset, created = ImageAsset.objects.get_or_create(
                sha256=stored.sha256,
                defaults={
                    "file": stored.file,
                    "format": stored.format,
                    "width": stored.width,
                    "height": stored.height,
                    "size_bytes": stored.size_bytes,
                },
            )
            existing = asset.pk
            if created:
                self.report.images_stored += 1
            else:
                self.report.images_reused += 1
        self.asset_by_sha[digest] = existing
        return existing


def corpus_import_start(
    *,
    corpus: Corpus,
    source: Path,
    images: str | Path | None = None,
    category: str | None = None,
    source_name: str | None = None,
    created_by=None,
    dispatch: bool = True,
) -> Job:
    """Create the import job and, with `dispatch`, send it to the workers once committed.

    `source_name` is the file's name as the user knows it (an upload's original name); the
    job shows it, not the server path the upload was saved to."""
    from core.services.jobs import job_create
    from corpora.services.corpora import corpus_lock_for_work
    from workers.tasks import corpus_import_task

    with transaction.atomic():
        corpus_lock_for_work(corpus_id=corpus.pk)
        job = job_create(
            kind=Job.Kind.CORPUS_IMPORT,
            params={
                "corpus_id": corpus.pk,
                "source": str(source),
                "source_name": source_name or Path(source).name,
                "images": str(images) if images else "",
                "category": category,
                # A corpus made for this import (the UI creates it, then uploads) that the import
                # leaves empty is removed again when the import fails (`corpus_import_ended`).
                "new_corpus": corpus.version == 0
                and not Item.objects.filter(corpus=corpus).exists(),
            },
            created_by=created_by,
        )
    if dispatch:
        transaction.on_commit(lambda: corpus_import_task.delay(job.pk))
    return job


def upload_dir_new() -> Path:
    """A fresh folder for one import's uploaded files; `corpus_import_ended` removes it."""
    return uploads_root() / uuid.uuid4().hex


def uploads_root() -> Path:
    return Path(settings.ARTIFACTS_ROOT) / "uploads"


def corpus_import_ended(*, job: Job) -> None:
    """Whatever the outcome: uploaded files go (the report stays on the job); a failed import
    into a corpus made for it leaves no empty corpus behind."""
    root = uploads_root().resolve()
    for key in ("source", "images"):
        value = job.params.get(key)
        if not value:
            continue
        folder = Path(value).resolve().parent
        if folder.parent == root:  # only folders the upload API made, never a server path
            shutil.rmtree(folder, ignore_errors=True)
    if (job.error or {}).get("code") == "worker_lost" and job.started_at is not None:
        _sweep_unrecorded_images(since=job.started_at, import_job_id=job.pk)
    if job.status != Job.Status.SUCCEEDED and job.params.get("new_corpus"):
        corpus_discard_if_unused(corpus_id=job.params["corpus_id"], import_job_id=job.pk)


def _sweep_unrecorded_images(*, since: datetime, import_job_id: int) -> None:
    """A worker killed during an import rolled back its image rows but had stored the files
    (an import cleans up after itself only when it lives to see its error). Remove image files
    written since the import started that no row records, unless another import is running
    (its files have no committed row yet either)."""
    running = Job.objects.filter(kind=Job.Kind.CORPUS_IMPORT, status=Job.Status.RUNNING)
    if running.exclude(pk=import_job_id).exists():
        return
    folder = Path(settings.MEDIA_ROOT) / "images"
    if not folder.is_dir():
        return
    cutoff = since.timestamp() - 1
    for path in folder.rglob("*"):
        if not path.is_file() or path.stat().st_mtime < cutoff:
            continue
        digest = path.name.split(".")[0]
        if (
            path.name.startswith(".incoming-")
            or not ImageAsset.objects.filter(sha256=digest).exists()
        ):
            path.unlink(missing_ok=True)


def corpus_discard_if_unused(*, corpus_id: int, import_job_id: int) -> bool:
    """Delete a corpus that has no items and that nothing refers to (no project, no scoring,
    no other import queued or running). Returns whether it was deleted."""
    with transaction.atomic():
        corpus = Corpus.objects.select_for_update().filter(pk=corpus_id).first()
        if corpus is None or Item.objects.filter(corpus=corpus).exists():
            return False
        own = {Item, CorpusImage}
        for relation in Corpus._meta.related_objects:
            if relation.related_model in own:
                continue
            if relation.related_model.objects.filter(**{relation.field.name: corpus}).exists():
                return False
        other_imports = (
            Job.objects.filter(kind=Job.Kind.CORPUS_IMPORT, params__corpus_id=corpus_id)
            .exclude(pk=import_job_id)
            .exclude(status__in=[Job.Status.SUCCEEDED, Job.Status.FAILED, Job.Status.CANCELLED])
        )
        if other_imports.exists():
            return False
        corpus.delete()
    return True


def _upsert_items_orm(
    corpus: Corpus, rows: list[tuple[ParsedRecord, int | None]]
) -> tuple[int, int]:
    """Portable upsert (SQLite, the embedded default): read what exists, then create/update."""
    existing = {
        ext: (pk, content_hash, image_id)
        for pk, ext, content_hash, image_id in Item.objects.filter(
            corpus=corpus, external_id__in=[parsed.external_id for parsed, _ in rows]
        ).values_list("pk", "external_id", "content_hash", "image_id")
    }
    to_create: list[Item] = []
    to_update: list[Item] = []
    for parsed, image_id in rows:
        current = existing.get(parsed.external_id)
        if current is not None and current[1] == parsed.content_hash and current[2] == image_id:
            continue
        item = Item(
            corpus=corpus,
            external_id=parsed.external_id,
            image_id=image_id,
            image_path=parsed.image_ref,
            conversations=parsed.conversations,
            questions=parsed.questions,
            question_scores=parsed.question_scores,
            category=parsed.category,
            extra=parsed.extra,
            has_candidates=parsed.has_candidates,
            content_hash=parsed.content_hash,
        )
        if current is None:
            to_create.append(item)
        else:
            item.pk = current[0]
            to_update.append(item)
    Item.objects.bulk_create(to_create, batch_size=BATCH_SIZE)
    if to_update:
        Item.objects.bulk_update(to_update, ITEM_UPDATE_FIELDS, batch_size=500)
    return len(to_create), len(to_update)


STAGING_COLUMNS = ", ".join(("image_id", *COPY_COLUMNS))
STAGING_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS arbiter_item_staging (image_id bigint, "
    "external_id varchar(255), image_path varchar(1024), conversations jsonb, questions jsonb, "
    "question_scores jsonb, category varchar(100), extra jsonb, has_candidates boolean, "
    "content_hash varchar(64)) "
    "ON COMMIT DROP"
)
# Counted in the database: only two numbers come back instead of a row per item.
UPSERT_SQL = f"""
WITH written AS (
    INSERT INTO annotation_item (corpus_id, {STAGING_COLUMNS}, created_at, updated_at)
    SELECT %s, {STAGING_COLUMNS}, now(), now() FROM arbiter_item_staging
    ON CONFLICT (corpus_id, external_id) DO UPDATE SET
        image_id = EXCLUDED.image_id, image_path = EXCLUDED.image_path,
        conversations = EXCLUDED.conversations, questions = EXCLUDED.questions,
        question_scores = EXCLUDED.question_scores, category = EXCLUDED.category,
        extra = EXCLUDED.extra, has_candidates = EXCLUDED.has_candidates,
        content_hash = EXCLUDED.content_hash, updated_at = now()
    WHERE annotation_item.content_hash IS DISTINCT FROM EXCLUDED.content_hash
       OR annotation_item.image_id IS DISTINCT FROM EXCLUDED.image_id
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
"""


def _copy_data(chunk: ParsedChunk, image_ids: dict[str, int]) -> bytes:
    """The chunk's COPY rows, each led by its image id (known only once images are resolved)."""
    lines = []
    for record, row in zip(chunk.refs, chunk.rows, strict=True):
        asset_id = image_ids.get(record.image_ref)
        lines.append(f"{COPY_NULL if asset_id is None else asset_id}\t{row}\n")
    return "".join(lines).encode()


def _upsert_items_postgres(corpus_id: int, data: bytes, _staging: bool) -> tuple[int, int]:
    """COPY a chunk into a staging table, then one INSERT ... ON CONFLICT.

    The ORM's bulk_create quotes every value client-side; COPY of text formatted by the parse
    process is many times faster, and the insert skips rows whose content hash is unchanged.
    """
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE arbiter_item_staging")
        copy_sql = f"COPY arbiter_item_staging ({STAGING_COLUMNS}) FROM STDIN"
        with cursor.cursor.copy(copy_sql) as copy:
            copy.write(data)
        cursor.execute(UPSERT_SQL, [corpus_id])
        created, updated = cursor.fetchone()
    return created, updated

"""Parse and validate a file into chunks of records, ready for the database writer.

Django-free, so that the same code runs in the importing process (a background thread) or in a
parse process of its own (see parse_process).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from corpora.pipeline.problems import MAX_PROBLEMS, ImportFailed, Problem
from corpora.pipeline.readers import RawRecord, RecordReader
from corpora.pipeline.records import ParsedRecord, RecordError, parse_record, record_id

# Columns of a COPY row after the image id, which only the database side knows (see copy_row).
COPY_COLUMNS = (
    "external_id",
    "image_path",
    "conversations",
    "questions",
    "question_scores",
    "category",
    "extra",
    "has_candidates",
    "content_hash",
)
COPY_NULL = "\\N"


class RecordRef(NamedTuple):
    """Where a record is in its file: what problems and image lookups need of it."""

    index: int
    line: int | None
    external_id: str
    image_ref: str


@dataclass
class ParsedChunk:
    refs: list[RecordRef] = field(default_factory=list)
    # Either the parsed records (ORM writer) or their COPY rows (PostgreSQL writer), in refs order.
    records: list[ParsedRecord] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    items_read: int = 0
    bytes_read: int = 0
    last: bool = False


def parse_chunks(
    reader: RecordReader, *, default_category: str, size: int, as_rows: bool
) -> Iterator[ParsedChunk]:
    """Chunks of up to `size` valid records and the problems found among them.

    Records with problems are left out; a syntax error ends the file, reported after the
    problems found before it. Ids are checked for duplicates across the whole file.
    """
    seen_ids: dict[str, tuple[int, int | None]] = {}  # id -> index and line of first use
    chunk = ParsedChunk()
    try:
        for raw in reader:
            chunk.items_read += 1
            parsed = _parse(raw, default_category, seen_ids, chunk.problems)
            if parsed is not None:
                ref = RecordRef(raw.index, raw.line, parsed.external_id, parsed.image_ref)
                chunk.refs.append(ref)
                if as_rows:
                    chunk.rows.append(copy_row(parsed))
                else:
                    chunk.records.append(parsed)
            if len(chunk.refs) >= size or len(chunk.problems) >= MAX_PROBLEMS:
                chunk.bytes_read = reader.bytes_read
                yield chunk
                chunk = ParsedChunk()
    except ImportFailed as exc:
        chunk.problems.extend(exc.problems)
    chunk.bytes_read = reader.bytes_read
    chunk.last = True
    yield chunk


def _parse(
    raw: RawRecord,
    default_category: str,
    seen_ids: dict[str, tuple[int, int | None]],
    problems: list[Problem],
) -> ParsedRecord | None:
    try:
        parsed = parse_record(raw.value, default_category=default_category)
    except RecordError as exc:
        problems.append(
            Problem(
                "invalid_record",
                str(exc),
                line=raw.line,
                index=raw.index,
                item_id=record_id(raw.value),
                field=exc.field,
            )
        )
        return None
    first_index, first_line = seen_ids.setdefault(parsed.external_id, (raw.index, raw.line))
    if first_index != raw.index:
        where = f"item #{first_index}" + (f", line {first_line}" if first_line else "")
        problems.append(
            Problem(
                "duplicate_id",
                f"id also used by {where} of this file",
                line=raw.line,
                index=raw.index,
                item_id=parsed.external_id,
                field="id",
                first_line=first_line,
                first_index=first_index,
            )
        )
        return None
    return parsed


def copy_row(parsed: ParsedRecord) -> str:
    """The record as a line of PostgreSQL COPY text, COPY_COLUMNS in order, without the image id.

    Formatting here, where the record is parsed anyway, leaves the database writer only bytes
    to send; JSON texts hold no raw tab or newline, so only their backslashes need escaping.
    """
    return "\t".join(
        (
            _copy_text(parsed.external_id),
            _copy_text(parsed.image_ref),
            parsed.conversations_json.replace("\\", "\\\\"),
            _copy_json_or_null(parsed.questions_json),
            _copy_json_or_null(parsed.question_scores_json),
            _copy_text(parsed.category),
            parsed.extra_json.replace("\\", "\\\\"),
            "t" if parsed.has_candidates else "f",
            parsed.content_hash,
        )
    )


def _copy_text(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return value


def _copy_json_or_null(value: str | None) -> str:
    return COPY_NULL if value is None else value.replace("\\", "\\\\")


@contextlib.contextmanager
def chunks_from_thread(
    reader: RecordReader, *, default_category: str, size: int
) -> Iterator[Iterator[ParsedChunk]]:
    """Parse in a background thread of this process while the caller writes.

    For the ORM writer (SQLite), whose records are Python objects that cannot cheaply cross a
    process boundary. Only the caller's thread touches the database connection.
    """
    chunks: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in parse_chunks(
                reader, default_category=default_category, size=size, as_rows=False
            ):
                if stop.is_set():
                    return
                chunks.put(chunk)
        except BaseException as exc:  # handed to the consuming thread
            chunks.put(exc)

    def consume() -> Iterator[ParsedChunk]:
        while True:
            chunk = chunks.get()
            if isinstance(chunk, BaseException):
                raise chunk
            yield chunk
            if chunk.last:
                return

    thread = threading.Thread(target=produce, name="arbiter-import-parse", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                chunks.get(timeout=0.05)
        thread.join()

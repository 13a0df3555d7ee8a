"""Streaming dataset writers: LLaVA JSON array, JSONL and Parquet, each hashing as it writes.

Records arrive one at a time from a server-side cursor; no writer holds more than one Parquet
row group in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import weakref
from pathlib import Path
from typing import Any

PARQUET_ROW_GROUP = 10_000


class HashingFile:
    """A binary file that keeps a running sha256 and byte count of what was written.

    Hashing and the write system calls each run on a thread of their own (both release the
    GIL), so with two or more cores they overlap with building the records: an export with the
    images inside was bound by these two on one core. Writes are gathered into blocks of
    `BLOCK` bytes and at most `QUEUED` blocks wait at each stage, so memory stays bounded.
    The digest covers exactly the bytes written, in order.
    """

    BLOCK = 1 << 20
    QUEUED = 6
    DIRECT = BLOCK  # a write this large is queued in blocks as it is, not gathered
    GATHER = 64  # blocks written by one system call

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sha256 = hashlib.sha256()
        self.size = 0
        self._buffer = bytearray()
        self._closed = False
        self._errors: list[Exception] = []
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._to_hash: queue.Queue[bytes | memoryview | None] = queue.Queue(self.QUEUED)
        to_write: queue.Queue[bytes | memoryview | None] = queue.Queue(self.QUEUED)
        self._threads = [
            threading.Thread(
                target=_hash_blocks, args=(self._to_hash, to_write, self.sha256), daemon=True
            ),
            threading.Thread(target=_write_blocks, args=(to_write, fd, self._errors), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        # A writer abandoned by an exception still ends its threads and closes its file.
        self._finalizer = weakref.finalize(self, self._to_hash.put, None)

    def write(self, data: Any) -> int:
        if self._closed:
            raise ValueError("write to a closed file")
        self._raise_error()
        size = memoryview(data).nbytes
        self.size += size
        if size >= self.DIRECT:
            self._push()
            # the caller may reuse a buffer it lends: keep a copy (a bytes object is its own)
            view = memoryview(bytes(data))
            for start in range(0, size, self.BLOCK):  # blocks bound what waits in the queues
                self._to_hash.put(view[start : start + self.BLOCK])
        else:
            self._buffer += data
            if len(self._buffer) >= self.BLOCK:
                self._push()
        return size

    def _push(self) -> None:
        if self._buffer:
            self._to_hash.put(bytes(self._buffer))
            self._buffer.clear()

    def _raise_error(self) -> None:
        if self._errors:
            raise self._errors[0]

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._push()

    @property
    def closed(self) -> bool:
        return self._closed

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        """Waits until every byte is hashed and written; raises the write's error if any."""
        if self._closed:
            return
        self._closed = True
        self._push()
        self._finalizer()  # the end marker
        for thread in self._threads:
            thread.join()
        self._raise_error()

    def describe(self) -> dict[str, Any]:
        return {"sha256": self.sha256.hexdigest(), "bytes": self.size}


def _hash_blocks(blocks: queue.Queue, out: queue.Queue, digest: Any) -> None:
    while (block := blocks.get()) is not None:
        digest.update(block)
        out.put(block)
    out.put(None)


def _write_blocks(blocks: queue.Queue, fd: int, errors: list[Exception]) -> None:
    try:
        done = False
        while not done:
            # What waits is written by one system call: each return from one has to win the
            # GIL back from the thread that builds the records.
            batch = [blocks.get()]
            while len(batch) < HashingFile.GATHER and not blocks.empty():
                batch.append(blocks.get_nowait())
            if batch[-1] is None:
                done = True
                batch.pop()
            if errors or not batch:
                continue  # keep draining, so the producer never waits on a failed file
            try:
                _write_all(fd, batch)
            except OSError as error:
                errors.append(error)
    finally:
        os.close(fd)


def _write_all(fd: int, blocks: list[bytes | memoryview]) -> None:
    views = [memoryview(block).cast("B") for block in blocks]
    while views:
        written = os.writev(fd, views)
        while views and written >= views[0].nbytes:
            written -= views[0].nbytes
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]


def file_digest(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"sha256": digest.hexdigest(), "bytes": path.stat().st_size}


class LlavaJsonWriter:
    """One JSON array: exactly what LLaVA's `--data_path` reads (id, image?, conversations)."""

    suffix = ".json"

    def __init__(self, path: Path, score_fields: tuple[str, ...] = ()) -> None:
        self.file = HashingFile(path)
        self.count = 0
        self.file.write(b"[")

    def write(self, record_json: str, record: dict[str, Any]) -> None:
        self.file.write((",\n" if self.count else "\n").encode() + record_json.encode("utf-8"))
        self.count += 1

    def close(self) -> dict[str, Any]:
        self.file.write(b"\n]\n")
        self.file.close()
        return self.file.describe()


class JsonlWriter(LlavaJsonWriter):
    suffix = ".jsonl"

    def __init__(self, path: Path, score_fields: tuple[str, ...] = ()) -> None:
        self.file = HashingFile(path)
        self.count = 0

    def write(self, record_json: str, record: dict[str, Any]) -> None:
        self.file.write(record_json.encode("utf-8") + b"\n")
        self.count += 1

    def close(self) -> dict[str, Any]:
        self.file.close()
        return self.file.describe()


class ParquetWriter:
    suffix = ".parquet"

    def __init__(self, path: Path, score_fields: tuple[str, ...] = ()) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        self.path = path
        self.score_fields = score_fields
        self.schema = pa.schema(
            [
                ("id", pa.string()),
                ("image", pa.string()),
                (
                    "conversations",
                    pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())])),
                ),
                ("category", pa.string()),
                ("score", pa.float64()),
                *[(name, pa.float64()) for name in score_fields],
            ]
        )
        self.writer = pq.ParquetWriter(str(path), self.schema, compression="zstd")
        self.rows: list[dict[str, Any]] = []
        self.count = 0

    def write(self, record_json: str, record: dict[str, Any]) -> None:
        if "conversations" not in record:
            record = json.loads(record_json)
        self.rows.append(record)
        self.count += 1
        if len(self.rows) >= PARQUET_ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            table = self.pa.Table.from_pylist(
                [
                    {
                        "id": r["id"],
                        "image": r.get("image"),
                        "conversations": r["conversations"],
                        "category": r.get("category"),
                        "score": r.get("score"),
                        **{name: r.get(name) for name in self.score_fields},
                    }
                    for r in self.rows
                ],
                schema=self.schema,
            )
            self.writer.write_table(table, row_group_size=PARQUET_ROW_GROUP)
            self.rows = []

    def close(self) -> dict[str, Any]:
        self._flush()
        self.writer.close()
        return file_digest(self.path)


WRITERS = {"llava_json": LlavaJsonWriter, "jsonl": JsonlWriter, "parquet": ParquetWriter}

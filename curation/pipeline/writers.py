"""Streaming dataset writers: LLaVA JSON array, JSONL and Parquet, each hashing as it writes.

Records arrive one at a time from a server-side cursor; no writer holds more than one Parquet
row group in memory.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from curation.pipeline.hashing_file import HashingFile

PARQUET_ROW_GROUP = 10_000


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

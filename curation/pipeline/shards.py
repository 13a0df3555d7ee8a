"""Size-sharded writers that carry the images inside: Parquet with a `datasets` Image column,
and WebDataset tar shards. Both stream: at most one row group (Parquet) or one sample (tar) is
held in memory, and each shard is hashed as it is written.

Shards are named `<stem>-00000<suffix>`, `<stem>-00001<suffix>`, ...; a new one starts once the
current one holds `shard_bytes` (a shard may overrun by one row group or one sample).
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

from curation.pipeline.hashing_file import HashingFile

# Parquet row groups: bounded by bytes (images) and by rows (text), whichever comes first.
ROW_GROUP_BYTES = 8 * 1024 * 1024
ROW_GROUP_ROWS = 2000
COPY_BUFFER = 8 * 1024 * 1024  # tar members (an image, its record) are copied in one piece


def hf_feature(arrow_type: Any, *, image: bool = False) -> dict[str, Any]:
    """The `datasets` feature (as its JSON) of an Arrow type; `image` marks an Image struct."""
    import pyarrow as pa

    if image:
        return {"_type": "Image"}
    if pa.types.is_list(arrow_type):
        return {"feature": hf_feature(arrow_type.value_type), "_type": "List"}
    if pa.types.is_struct(arrow_type):
        return {field.name: hf_feature(field.type) for field in arrow_type}
    return {"dtype": str(arrow_type).replace("double", "float64"), "_type": "Value"}


def hf_schema(schema: Any, *, image_columns: tuple[str, ...] = ()) -> Any:
    """`schema` with the `huggingface` metadata that makes `datasets` decode the image columns
    (a column that is a list of images is named with a trailing `[]`)."""
    features = {}
    for field in schema:
        if field.name in image_columns:
            features[field.name] = {"_type": "Image"}
        elif field.name + "[]" in image_columns:
            features[field.name] = {"feature": {"_type": "Image"}, "_type": "List"}
        else:
            features[field.name] = hf_feature(field.type)
    metadata = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    return schema.with_metadata(metadata)


def _leaf_paths(name: str, arrow_type: Any) -> list[str]:
    """Parquet's dotted column paths of the leaves under an Arrow field (lists add
    `.list.element`, as Arrow writes them)."""
    import pyarrow as pa

    if pa.types.is_list(arrow_type):
        return _leaf_paths(f"{name}.list.element", arrow_type.value_type)
    if pa.types.is_struct(arrow_type):
        return [path for f in arrow_type for path in _leaf_paths(f"{name}.{f.name}", f.type)]
    return [name]


def column_codecs(schema: Any, *, image_columns: tuple[str, ...]) -> dict[str, str]:
    """zstd for every Parquet leaf column but image bytes: JPEG and PNG do not compress, so
    zstd would only spend CPU (and fold identical images together, which real data has not)."""
    images = tuple(name.removesuffix("[]") for name in image_columns)
    codecs = {}
    for field in schema:
        for path in _leaf_paths(field.name, field.type):
            image_bytes = field.name in images and path.endswith(".bytes")
            codecs[path] = "none" if image_bytes else "zstd"
    return codecs


class _ShardSet:
    """Opens shard after shard and keeps `{name: {sha256, bytes}}` of the closed ones."""

    def __init__(self, folder: Path, stem: str, suffix: str, shard_bytes: int) -> None:
        self.folder = folder
        self.stem = stem
        self.suffix = suffix
        self.shard_bytes = max(int(shard_bytes), 1)
        self.files: dict[str, dict[str, Any]] = {}
        self.current: HashingFile | None = None

    def name(self, index: int) -> str:
        return f"{self.stem}-{index:05d}{self.suffix}"

    def open(self) -> HashingFile:
        self.current = HashingFile(self.folder / self.name(len(self.files)))
        return self.current

    def close_current(self) -> None:
        if self.current is not None:
            self.current.close()
            self.files[self.current.path.name] = self.current.describe()
            self.current = None


class ShardedParquetWriter:
    """Parquet shards of rows shaped by `schema`; `image_columns` become `datasets` Images.

    Rows are dicts; an image cell is `{"bytes": b"...", "path": "coco/x.jpg"}` (or a list of
    them for a `name[]` column)."""

    def __init__(
        self,
        folder: Path,
        *,
        schema: Any,
        image_columns: tuple[str, ...] = (),
        shard_bytes: int,
        stem: str = "data",
    ) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa, self.pq = pa, pq
        self.schema = hf_schema(schema, image_columns=image_columns)
        self.codecs = column_codecs(schema, image_columns=image_columns)
        # no dictionary for image bytes either: it would hold a row group's images twice
        self.dictionary = [path for path, codec in self.codecs.items() if codec != "none"]
        self.single_images = {name for name in image_columns if not name.endswith("[]")}
        self.shards = _ShardSet(folder, stem, ".parquet", shard_bytes)
        # a shard overruns by at most one row group: keep row groups a fraction of a shard
        self.group_bytes = min(ROW_GROUP_BYTES, self.shards.shard_bytes // 4)
        self.writer: Any = None
        self.rows: list[dict[str, Any]] = []
        self.buffered = 0
        self.count = 0

    def write(self, row: dict[str, Any], *, size: int = 0) -> None:
        """`size`: the row's image bytes, so a row group is cut by bytes as well as rows."""
        self.rows.append(row)
        self.buffered += size
        self.count += 1
        if len(self.rows) >= ROW_GROUP_ROWS or self.buffered >= self.group_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self.rows:
            return
        if self.writer is None:
            # Arrow writes through our hashing file: each shard is hashed once, as it is written.
            handle = self.pa.PythonFile(self.shards.open(), mode="w")
            self.writer = self.pq.ParquetWriter(
                handle,
                self.schema,
                compression=self.codecs,
                use_dictionary=self.dictionary,
                write_statistics=self.dictionary,
            )
        self.writer.write_table(self._table(self.rows))
        self.rows, self.buffered = [], 0
        if self.shards.current.size >= self.shards.shard_bytes:
            self._close_shard()

    def _table(self, rows: list[dict[str, Any]]) -> Any:
        """Column by column; image bytes are joined into one buffer rather than converted
        object by object (pa.array over bytes runs at a fraction of disk speed)."""
        pa = self.pa
        columns = []
        for field in self.schema:
            values = [row.get(field.name) for row in rows]
            if field.name in self.single_images:
                columns.append(_image_array(pa, values))
            else:
                columns.append(pa.array(values, type=field.type))
        return pa.Table.from_arrays(columns, schema=self.schema)

    def _close_shard(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            self.shards.close_current()

    def close(self) -> dict[str, dict[str, Any]]:
        self._flush()
        if self.writer is None and not self.shards.files:
            # An empty export still has one (empty) shard, so a loader finds a file to read.
            handle = self.pa.PythonFile(self.shards.open(), mode="w")
            self.writer = self.pq.ParquetWriter(
                handle,
                self.schema,
                compression=self.codecs,
                use_dictionary=self.dictionary,
                write_statistics=self.dictionary,
            )
        self._close_shard()
        return self.shards.files


def _image_array(pa: Any, cells: list[dict[str, Any] | None]) -> Any:
    """A struct<bytes: binary, path: string> array from `{"bytes", "path"}` cells (or None)."""
    blobs = [cell["bytes"] if cell else b"" for cell in cells]
    offsets = [0]
    for blob in blobs:
        offsets.append(offsets[-1] + len(blob))
    binary = pa.Array.from_buffers(
        pa.binary(),
        len(blobs),
        [None, pa.array(offsets, pa.int32()).buffers()[1], pa.py_buffer(b"".join(blobs))],
    )
    paths = pa.array([cell.get("path") if cell else None for cell in cells], pa.string())
    mask = pa.array([cell is None for cell in cells], pa.bool_())
    return pa.StructArray.from_arrays([binary, paths], names=["bytes", "path"], mask=mask)


_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def webdataset_key(external_id: str) -> str:
    """A sample key WebDataset reads back whole: it splits a file name at the first dot, so
    dots (and path separators) become underscores."""
    return _KEY_UNSAFE.sub("_", external_id) or "_"


class WebDatasetWriter:
    """Tar shards of samples: `{key}.json` (the record) and `{key}.{ext}` (its image), adjacent,
    as WebDataset's loaders expect."""

    def __init__(self, folder: Path, *, shard_bytes: int, stem: str = "shard") -> None:
        self.shards = _ShardSet(folder, stem, ".tar", shard_bytes)
        self.tar: tarfile.TarFile | None = None
        self.count = 0

    def _open_tar(self) -> tarfile.TarFile:
        # closed in _close_shard, when the shard is full or the export ends
        tar = tarfile.open(  # noqa: SIM115
            fileobj=self.shards.open(), mode="w", format=tarfile.GNU_FORMAT
        )
        tar.copybufsize = COPY_BUFFER  # one copy per member instead of 16 kB pieces
        return tar

    def _add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o644
        self.tar.addfile(info, io.BytesIO(data))

    def write(
        self, *, key: str, record: dict[str, Any], image: bytes | None, image_ext: str
    ) -> None:
        if self.tar is None:
            self.tar = self._open_tar()
        self._add(f"{key}.json", json.dumps(record, ensure_ascii=False).encode("utf-8"))
        if image is not None:
            self._add(f"{key}.{image_ext}", image)
        self.count += 1
        if self.shards.current.size >= self.shards.shard_bytes:
            self._close_shard()

    def _close_shard(self) -> None:
        if self.tar is not None:
            self.tar.close()
            self.tar = None
            self.shards.close_current()

    def close(self) -> dict[str, dict[str, Any]]:
        if self.tar is None and not self.shards.files:
            self.tar = self._open_tar()
        self._close_shard()
        return self.shards.files

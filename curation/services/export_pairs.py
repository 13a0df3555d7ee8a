"""Preference-pair exports: the pairs the reward model trains on, as TRL and LLaMA-Factory read
them (curation/pipeline/pairs.py has the record shapes)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

from annotation.selectors.training_data import training_data
from corpora.models import Item
from curation.models import Export
from curation.pipeline.hashing_file import HashingFile
from curation.pipeline.pairs import (
    llamafactory_dataset_info,
    llamafactory_record,
    pair_skip_reason,
    trl_record,
)
from curation.pipeline.shards import ShardedParquetWriter

ITEMS_PER_QUERY = 500


def _items(ids: list[int]) -> dict[int, tuple]:
    rows = Item.objects.filter(pk__in=ids).values_list(
        "pk", "external_id", "image_path", "image__file", "conversations"
    )
    return {row[0]: row[1:] for row in rows}


def _pairs_with_items(export: Export, skipped: Counter) -> Iterator[tuple[Any, tuple]]:
    """The project's judged pairs that have a shared prompt, with their item's fields."""
    pairs = []
    for pair in training_data(project=export.dataset.project).pairs:
        reason = pair_skip_reason(pair)
        if reason:
            skipped[reason] += 1
        else:
            pairs.append(pair)
    pairs.sort(key=lambda p: (p.item_id, str(p.chosen.turn), p.chosen.candidate or 0))
    for start in range(0, len(pairs), ITEMS_PER_QUERY * 4):
        chunk = pairs[start : start + ITEMS_PER_QUERY * 4]
        items = _items(sorted({int(p.item_id) for p in chunk}))
        for pair in chunk:
            yield pair, items[int(pair.item_id)]


def _trl_schema() -> Any:
    import pyarrow as pa

    part = pa.struct([("type", pa.string()), ("text", pa.string())])
    messages = pa.list_(pa.struct([("role", pa.string()), ("content", pa.list_(part))]))
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    return pa.schema(
        [
            ("id", pa.string()),
            ("criterion", pa.string()),
            ("source", pa.string()),
            ("margin", pa.float64()),
            ("prompt", messages),
            ("chosen", messages),
            ("rejected", messages),
            ("images", pa.list_(image)),
        ]
    )


def pairs_export_write(*, export: Export, folder: Path) -> dict[str, Any]:
    """Writes the pair files; returns {files, records, skipped, images} for the manifest.

    TRL as Parquet: `images` holds the image bytes (a list of `datasets` Images). TRL as JSONL
    and LLaMA-Factory: `images` holds paths relative to the export folder, where `images.tar`
    unpacks (with include_images)."""
    skipped: Counter = Counter()
    images: dict[str, str] = {}
    media = Path(settings.MEDIA_ROOT)
    options = export.options or {}
    count = 0
    files: dict[str, dict[str, Any]] = {}
    if export.format == Export.Format.TRL_PAIRS and options.get("file_format") == "parquet":
        writer = ShardedParquetWriter(
            folder,
            schema=_trl_schema(),
            image_columns=("images[]",),
            shard_bytes=options.get("shard_bytes") or settings.ARBITER_EXPORT_SHARD_BYTES,
        )
        cache: dict[str, bytes] = {}
        for pair, (external_id, image_path, image_file, conversations) in _pairs_with_items(
            export, skipped
        ):
            has_image = bool(image_path and image_file)
            row = trl_record(conversations=conversations, pair=pair, has_image=has_image)
            size = 0
            row["images"] = []
            if has_image:
                # consecutive pairs share an item: read its image once
                if image_file not in cache:
                    cache = {image_file: (media / image_file).read_bytes()}
                row["images"] = [{"bytes": cache[image_file], "path": image_path}]
                size = len(cache[image_file])
            row.update(id=external_id, criterion=pair.criterion, source=pair.source)
            row["margin"] = pair.margin
            writer.write(row, size=size)
            count += 1
        files.update(writer.close())
    else:
        llamafactory = export.format == Export.Format.LLAMAFACTORY
        name = "data.json" if llamafactory else "data.jsonl"
        out = HashingFile(folder / name)
        if llamafactory:
            out.write(b"[")
        for pair, (external_id, image_path, image_file, conversations) in _pairs_with_items(
            export, skipped
        ):
            path = image_path if image_path and image_file else None
            if path and export.include_images:
                images.setdefault(path, image_file)
            if llamafactory:
                record = llamafactory_record(
                    conversations=conversations, pair=pair, image_path=path
                )
                out.write((",\n" if count else "\n").encode() + json.dumps(record).encode())
            else:
                record = trl_record(conversations=conversations, pair=pair, has_image=bool(path))
                record["images"] = [path] if path else []
                record.update(id=external_id, criterion=pair.criterion, source=pair.source)
                record["margin"] = pair.margin
                out.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
            count += 1
        if llamafactory:
            out.write(b"\n]\n")
        out.close()
        files[name] = out.describe()
        if llamafactory:
            info = llamafactory_dataset_info(
                name=f"arbiter_dataset{export.dataset_id}_export{export.pk}",
                file_name=name,
                has_images=True,
            )
            info_file = HashingFile(folder / "dataset_info.json")
            info_file.write(json.dumps(info, indent=2).encode())
            info_file.close()
            files["dataset_info.json"] = info_file.describe()
    return {"files": files, "records": count, "skipped": dict(skipped), "images": images}

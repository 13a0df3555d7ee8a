"""Dataset export: always a background job, streaming rows from a server-side cursor.

Layout under ARTIFACTS_ROOT/exports/dataset-<id>/export-<id>/, by format:

- `llava_json` / `jsonl` / `parquet`: `data.json|jsonl|parquet`, optionally `images.tar`
  (every image under its path relative to the image folder, as `image` says). For LLaVA:
  `--data_path data.json --image_folder images/` after `tar xf images.tar -C images`.
- `parquet_images`: `data-00000.parquet`, ... with the image bytes inside (a `datasets` Image
  column), a new shard past `shard_bytes`.
- `webdataset`: `shard-00000.tar`, ... of `{key}.json` + `{key}.jpg|png` samples.
- `trl_pairs` / `llamafactory`: the judged pairs the reward model trains on
  (services/export_pairs.py).

Every export has `manifest.json`: counts, sha256 of every file, lineage (corpora, model run,
policy, dataset version, options) and training command lines (pipeline/commands.py). With
`sink: "s3"` the files are uploaded too (services/export_sink.py). `options.scores` adds the
model's scores as fields (`score_overall`, `score_<criterion>`, `rule_<rule>`) to JSONL,
Parquet and WebDataset records; LLaVA JSON stays exactly LLaVA's.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery, TextField, Value
from django.db.models.functions import Cast, Coalesce, JSONObject
from django.utils import timezone

from core.errors import DomainError
from core.models import Job
from core.services.jobs import JobCancelled, job_cancel_requested, job_create, job_progress
from curation.models import DatasetItem, DatasetVersion, Export, ItemScore
from curation.pipeline.commands import training_commands
from curation.pipeline.shards import ShardedParquetWriter, WebDatasetWriter, webdataset_key
from curation.pipeline.writers import WRITERS, file_digest
from curation.services.export_pairs import pairs_export_write
from curation.services.export_sink import s3_location, s3_settings, s3_upload
from curation.services.texts import default_candidate

CHUNK = 2000
PROGRESS_EVERY = 10_000
PAIR_FORMATS = (Export.Format.TRL_PAIRS, Export.Format.LLAMAFACTORY)
SHARDED_FORMATS = (Export.Format.PARQUET_IMAGES, Export.Format.WEBDATASET)
PAIR_FILE_FORMATS = ("parquet", "jsonl")
MIN_SHARD_BYTES = 1024 * 1024


def export_options_clean(*, format: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """The options an export keeps: `scores` (bool), `file_format` (TRL pairs: parquet or
    jsonl), `shard_bytes` (sharded formats, >= 1 MiB; default ARBITER_EXPORT_SHARD_BYTES)."""
    options = dict(options or {})
    unknown = set(options) - {"scores", "file_format", "shard_bytes"}
    if unknown:
        raise DomainError("validation_error", f"Unknown export options: {sorted(unknown)}.")
    clean: dict[str, Any] = {"scores": bool(options.get("scores", False))}
    if format == Export.Format.TRL_PAIRS:
        clean["file_format"] = options.get("file_format") or "parquet"
        if clean["file_format"] not in PAIR_FILE_FORMATS:
            raise DomainError("validation_error", "file_format must be parquet or jsonl.")
    if format in SHARDED_FORMATS or format == Export.Format.TRL_PAIRS:
        shard = options.get("shard_bytes") or settings.ARBITER_EXPORT_SHARD_BYTES
        if not isinstance(shard, int) or shard < MIN_SHARD_BYTES:
            raise DomainError("validation_error", "shard_bytes must be an integer >= 1048576.")
        clean["shard_bytes"] = shard
    return clean


def export_start(
    *,
    dataset: DatasetVersion,
    format: str,
    include_images: bool = False,
    options: dict[str, Any] | None = None,
    sink: str = Export.Sink.LOCAL,
    user=None,
) -> Export:
    from workers.curation_tasks import dataset_export_task

    if format not in Export.Format.values:
        raise DomainError(
            "validation_error", f"format must be one of {', '.join(Export.Format.values)}."
        )
    if sink not in Export.Sink.values:
        raise DomainError("validation_error", "sink must be local or s3.")
    if sink == Export.Sink.S3:
        s3_settings()  # fails now, not in the worker, when no bucket is configured
    options = export_options_clean(format=format, options=options)
    with transaction.atomic():
        job = job_create(
            kind=Job.Kind.DATASET_EXPORT,
            params={
                "dataset_id": dataset.pk,
                "format": format,
                "include_images": include_images,
                "options": options,
                "sink": sink,
            },
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        export = Export.objects.create(
            dataset=dataset,
            job=job,
            format=format,
            include_images=include_images,
            options=options,
            sink=sink,
            created_by=job.created_by,
        )
        transaction.on_commit(lambda: dataset_export_task.delay(export.pk))
    return export


def export_dir(export: Export) -> Path:
    return (
        Path(settings.ARTIFACTS_ROOT)
        / "exports"
        / f"dataset-{export.dataset_id}"
        / (f"export-{export.pk}")
    )


def _rows(dataset: DatasetVersion, *, scores: bool = False):
    """(external_id, image_path, image_file, category, has_candidates, conversations_json,
    best, score, item_scores_json) per member; item_scores_json only with `scores`."""
    own = ItemScore.objects.filter(run_id=dataset.run_id, item_id=OuterRef("item_id"))
    annotations: dict[str, Any] = {
        # a rewritten version carries its own turns; other versions read the item's
        "conversations_json": Coalesce(
            Cast("conversations", TextField()), Cast("item__conversations", TextField())
        ),
        "best": Subquery(own.values("best_candidates")[:1]),
        "item_scores": Value(None, output_field=TextField()),
    }
    if scores:
        annotations["item_scores"] = Subquery(
            own.annotate(
                packed=JSONObject(overall="overall", criteria="criteria", rules="rules")
            ).values("packed")[:1],
            output_field=TextField(),
        )
    return (
        DatasetItem.objects.filter(dataset=dataset)
        .order_by("item_id")
        .annotate(**annotations)
        .values_list(
            "item__external_id",
            "item__image_path",
            "item__image__file",
            "item__category",
            "item__has_candidates",
            "conversations_json",
            "best",
            "score",
            "item_scores",
        )
        .iterator(chunk_size=CHUNK)
    )


def score_fields(dataset: DatasetVersion) -> tuple[str, ...]:
    """The score columns an export with `scores` carries, from the model run's criteria/rules."""
    run = dataset.run
    if run is None:
        return ()
    criteria = [c for c in (run.criteria or []) if c != "overall"]
    return (
        "score_overall",
        *(f"score_{c}" for c in criteria),
        *(f"rule_{r}" for r in (run.rules or [])),
    )


def _score_values(fields: tuple[str, ...], packed: Any) -> dict[str, float | None]:
    if isinstance(packed, str):
        packed = json.loads(packed)
    packed = packed or {}
    # SQLite nests the JSON columns as strings; PostgreSQL as objects
    criteria, rules = (
        json.loads(v) if isinstance(v, str) else (v or {})
        for v in (packed.get("criteria"), packed.get("rules"))
    )
    out: dict[str, float | None] = {}
    for name in fields:
        if name == "score_overall":
            out[name] = packed.get("overall")
        elif name.startswith("score_"):
            out[name] = criteria.get(name[len("score_") :])
        else:
            out[name] = rules.get(name[len("rule_") :])
    return out


def _single_answer(conversations: list[dict[str, Any]], best: Any) -> list[dict[str, str]]:
    """Candidate turns become the best candidate by model score (else by imported score)."""
    if isinstance(best, str):
        best = json.loads(best)
    best = best or {}
    out = []
    for index, turn in enumerate(conversations):
        value = turn.get("value")
        if isinstance(value, list):
            k = best.get(str(index), default_candidate(turn))
            value = value[k] if 0 <= k < len(value) else (value[0] if value else "")
        out.append({"from": turn.get("from"), "value": str(value)})
    return out


def export_execute(*, export: Export) -> dict[str, Any]:
    dataset = export.dataset
    folder = export_dir(export)
    folder.mkdir(parents=True, exist_ok=True)
    job_progress(job_id=export.job_id, current=0, total=dataset.n_items, message="Exporting.")
    if export.format in PAIR_FORMATS:
        written = pairs_export_write(export=export, folder=folder)
    else:
        written = _rows_export_write(export=export, folder=folder)
    files, images = written["files"], written["images"]
    if export.include_images and images:
        files["images.tar"] = _write_images(folder / "images.tar", images)
    sink = (
        s3_location(dataset_id=dataset.pk, export_id=export.pk)
        if export.sink == Export.Sink.S3
        else {"kind": "local"}
    )
    manifest = {
        "dataset": {
            "id": dataset.pk,
            "number": dataset.number,
            "name": dataset.name,
            "project_id": dataset.project_id,
            "corpus_versions": dataset.corpus_versions,
        },
        "format": export.format,
        "options": {**export.options, "include_images": export.include_images},
        "records": written["records"],
        "skipped": written["skipped"],
        "skipped_without_dialogue": written["skipped"].get("without_dialogue", 0),
        "images": len(images) if export.include_images else written.get("images_inside", 0),
        "files": files,
        "lineage": {
            "corpus_ids": sorted(int(c) for c in (dataset.corpus_versions or {})),
            "corpus_versions": dataset.corpus_versions,
            "dataset_version": dataset.number,
            "policy": dataset.policy,
            "model": _model_info(dataset),
            "derived_from": dataset.derived_from_id,
        },
        "provenance": dataset.provenance or {},
        "policy": dataset.policy,
        "model": _model_info(dataset),
        # the safety judge (run, models, thresholds) behind any judge flag the policy excluded
        "judge": (dataset.statistics or {}).get("judge"),
        "sink": sink,
        "created_at": timezone.now().isoformat(),
        "usage": training_commands(export_format=export.format, files=list(files)),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    if export.sink == Export.Sink.S3:
        s3_upload(folder=folder, names=[*files, "manifest.json"], location=sink)
    export.path = str(folder.relative_to(settings.ARTIFACTS_ROOT))
    export.manifest = manifest
    export.size_bytes = sum(f["bytes"] for f in files.values())
    export.save(update_fields=["path", "manifest", "size_bytes"])
    export_finished(export=export)
    return {"export_id": export.pk, "records": written["records"], "files": files}


def export_finished(*, export: Export) -> None:
    """The one place an export is known complete (files written, uploaded, manifest saved):
    what should follow a finished export (an `export.ready` event) is called from here."""


def _image_ext(stored: str) -> str:
    ext = Path(stored).suffix.lower().lstrip(".")
    return "jpg" if ext in ("", "jpeg") else ext


def _rows_export_write(*, export: Export, folder: Path) -> dict[str, Any]:
    """Dataset members, one record each; returns {files, records, skipped, images} where
    `images` maps the image paths to bundle into images.tar."""
    dataset = export.dataset
    fields = score_fields(dataset) if export.options.get("scores") else ()
    sharded = export.format in SHARDED_FORMATS
    media = Path(settings.MEDIA_ROOT)
    strict_llava = export.format == Export.Format.LLAVA_JSON
    if export.format == Export.Format.PARQUET_IMAGES:
        writer: Any = ShardedParquetWriter(
            folder,
            schema=_images_parquet_schema(fields),
            image_columns=("image",),
            shard_bytes=export.options["shard_bytes"],
        )
    elif export.format == Export.Format.WEBDATASET:
        writer = WebDatasetWriter(folder, shard_bytes=export.options["shard_bytes"])
    else:
        writer = WRITERS[export.format](folder / ("data" + WRITERS[export.format].suffix), fields)
    images: dict[str, str] = {}
    inside = 0
    skipped = 0
    total = dataset.n_items
    for done, row in enumerate(_rows(dataset, scores=bool(fields)), start=1):
        external_id, image_path, image_file, category, has_candidates, conv_text, best = row[:7]
        score, packed = row[7], row[8]
        if has_candidates or conv_text in (None, "null", "[]"):
            conversations = _single_answer(json.loads(conv_text or "[]"), best)
            if not conversations:
                skipped += 1  # a question-set-only record has no dialogue to train on
                continue
            conv_text = json.dumps(conversations, ensure_ascii=False)
        values = _score_values(fields, packed) if fields else {}
        if sharded:
            record = {
                "id": external_id,
                "image": image_path or None,
                "conversations": json.loads(conv_text),
                "category": category,
                "score": score,
                **values,
            }
            data = (media / image_file).read_bytes() if image_path and image_file else None
            inside += data is not None
            if export.format == Export.Format.PARQUET_IMAGES:
                record["image"] = {"bytes": data, "path": image_path} if data else None
                writer.write(record, size=len(data or b""))
            else:
                key = webdataset_key(external_id)
                ext = _image_ext(image_file) if data else "jpg"
                writer.write(key=key, record=record, image=data, image_ext=ext)
        else:
            # Turns that are plain strings are copied as the database returns them (no re-parse).
            parts = ['{"id": ', json.dumps(external_id, ensure_ascii=False)]
            if image_path:
                parts += [', "image": ', json.dumps(image_path, ensure_ascii=False)]
                if export.include_images and image_file:
                    images.setdefault(image_path, image_file)
            parts += [', "conversations": ', conv_text]
            record = {"id": external_id}
            if not strict_llava:
                parts += [', "category": ', json.dumps(category), ', "score": ', json.dumps(score)]
                for name, value in values.items():
                    parts += [", ", json.dumps(name), ": ", json.dumps(value)]
                record.update(category=category, score=score, **values)
            parts.append("}")
            writer.write("".join(parts), record)
        if done % PROGRESS_EVERY == 0:
            job_progress(job_id=export.job_id, current=done, total=total, message="Exporting.")
            if job_cancel_requested(export.job_id):
                writer.close()
                raise JobCancelled()
    closed = writer.close()
    files = closed if sharded else {"data" + WRITERS[export.format].suffix: closed}
    return {
        "files": files,
        "records": writer.count,
        "skipped": {"without_dialogue": skipped} if skipped else {},
        "images": images,
        "images_inside": inside,
    }


def _images_parquet_schema(fields: tuple[str, ...]) -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            ("conversations", pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))),
            ("category", pa.string()),
            ("score", pa.float64()),
            *[(name, pa.float64()) for name in fields],
        ]
    )


def export_ended(*, job: Job) -> None:
    """An export that did not succeed (failed, cancelled, its worker gone for good) leaves no
    partial files behind."""
    export = Export.objects.filter(job=job).first()
    if export is None or job.status == Job.Status.SUCCEEDED:
        return
    shutil.rmtree(export_dir(export), ignore_errors=True)


def _model_info(dataset: DatasetVersion) -> dict[str, Any] | None:
    run = dataset.run
    if run is None:
        return None
    return {
        "run_id": run.pk,
        "artifact": run.artifact_path,
        "data_fingerprint": run.data_fingerprint,
        "seed": run.seed,
    }


def _write_images(path: Path, images: dict[str, str]) -> dict[str, Any]:
    media = Path(settings.MEDIA_ROOT)
    with tarfile.open(path, "w") as tar:
        for relative, stored in sorted(images.items()):
            tar.add(media / stored, arcname=relative, recursive=False)
    return file_digest(path)


def export_file_path(*, export: Export, name: str | None) -> Path:
    """The file to download: the data file by default, or any file the manifest lists."""
    if export.job.status != Job.Status.SUCCEEDED or not export.path:
        raise DomainError("export_not_ready", f"The export is {export.job.status}.", status=409)
    files = list((export.manifest or {}).get("files", {})) + ["manifest.json"]
    name = name or files[0]
    if name not in files:
        raise DomainError(
            "not_found", f"No file {name!r} in this export; have {files}.", status=404
        )
    return Path(settings.ARTIFACTS_ROOT) / export.path / name

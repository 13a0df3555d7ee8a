"""Dataset export: always a background job, streaming rows from a server-side cursor.

Layout under ARTIFACTS_ROOT/exports/dataset-<id>/export-<id>/: the data file
(`data.json`, `data.jsonl` or `data.parquet`), optionally `images.tar` (every image under its
path relative to the image folder, as `image` says), and `manifest.json` (counts, sha256 of
every file, policy, model version). For LLaVA: `--data_path data.json --image_folder images/`
after `tar xf images.tar -C images`.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from core.errors import DomainError
from core.models import Job
from core.services.jobs import JobCancelled, job_cancel_requested, job_create, job_progress
from curation.models import DatasetItem, DatasetVersion, Export, ItemScore
from curation.pipeline.writers import WRITERS, file_digest
from curation.services.texts import default_candidate

CHUNK = 2000
PROGRESS_EVERY = 10_000


def export_start(
    *,
    dataset: DatasetVersion,
    format: str,
    include_images: bool = False,
    user=None,
) -> Export:
    from workers.curation_tasks import dataset_export_task

    if format not in WRITERS:
        raise DomainError(
            "validation_error", f"format must be one of {', '.join(sorted(WRITERS))}."
        )
    with transaction.atomic():
        job = job_create(
            kind=Job.Kind.DATASET_EXPORT,
            params={"dataset_id": dataset.pk, "format": format, "include_images": include_images},
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        export = Export.objects.create(
            dataset=dataset,
            job=job,
            format=format,
            include_images=include_images,
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


def _rows(dataset: DatasetVersion):
    best = ItemScore.objects.filter(run_id=dataset.run_id, item_id=OuterRef("item_id")).values(
        "best_candidates"
    )[:1]
    return (
        DatasetItem.objects.filter(dataset=dataset)
        .order_by("item_id")
        .annotate(conversations_json=Cast("item__conversations", TextField()), best=Subquery(best))
        .values_list(
            "item__external_id",
            "item__image_path",
            "item__image__file",
            "item__category",
            "item__has_candidates",
            "conversations_json",
            "best",
            "score",
        )
        .iterator(chunk_size=CHUNK)
    )


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
    writer_class = WRITERS[export.format]
    data_name = "data" + writer_class.suffix
    writer = writer_class(folder / data_name)
    strict_llava = export.format == "llava_json"
    images: dict[str, str] = {}
    skipped = 0
    total = dataset.n_items
    job_progress(job_id=export.job_id, current=0, total=total, message="Exporting.")
    for done, row in enumerate(_rows(dataset), start=1):
        external_id, image_path, image_file, category, has_candidates, conv_text, best, score = row
        if has_candidates or conv_text in (None, "null", "[]"):
            conversations = _single_answer(json.loads(conv_text or "[]"), best)
            if not conversations:
                skipped += 1  # a question-set-only record has no dialogue to train on
                continue
            conv_text = json.dumps(conversations, ensure_ascii=False)
        # Turns that are plain strings are copied as the database returns them (no re-parse).
        parts = ['{"id": ', json.dumps(external_id, ensure_ascii=False)]
        if image_path:
            parts += [', "image": ', json.dumps(image_path, ensure_ascii=False)]
            if export.include_images and image_file:
                images.setdefault(image_path, image_file)
        parts += [', "conversations": ', conv_text]
        record: dict[str, Any] = {"id": external_id}
        if not strict_llava:
            parts += [', "category": ', json.dumps(category), ', "score": ', json.dumps(score)]
            record.update(category=category, score=score)
        parts.append("}")
        writer.write("".join(parts), record)
        if done % PROGRESS_EVERY == 0:
            job_progress(job_id=export.job_id, current=done, total=total, message="Exporting.")
            if job_cancel_requested(export.job_id):
                writer.close()
                raise JobCancelled()
    files = {data_name: writer.close()}
    if export.include_images:
        files["images.tar"] = _write_images(folder / "images.tar", images)
    manifest = {
        "dataset": {
            "id": dataset.pk,
            "number": dataset.number,
            "name": dataset.name,
            "project_id": dataset.project_id,
            "corpus_versions": dataset.corpus_versions,
        },
        "format": export.format,
        "records": writer.count,
        "skipped_without_dialogue": skipped,
        "images": len(images),
        "files": files,
        "policy": dataset.policy,
        "model": _model_info(dataset),
        "created_at": timezone.now().isoformat(),
        "usage": {
            "llava": f"--data_path {data_name} --image_folder images/"
            " (after: tar xf images.tar -C images)",
            "datasets": f'datasets.load_dataset("{_hf_builder(export.format)}", '
            f'data_files="{data_name}")',
        },
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    export.path = str(folder.relative_to(settings.ARTIFACTS_ROOT))
    export.manifest = manifest
    export.size_bytes = sum(f["bytes"] for f in files.values())
    export.save(update_fields=["path", "manifest", "size_bytes"])
    return {"export_id": export.pk, "records": writer.count, "files": files}


def export_ended(*, job: Job) -> None:
    """An export that did not succeed (failed, cancelled, its worker gone for good) leaves no
    partial files behind."""
    export = Export.objects.filter(job=job).first()
    if export is None or job.status == Job.Status.SUCCEEDED:
        return
    shutil.rmtree(export_dir(export), ignore_errors=True)


def _hf_builder(format: str) -> str:
    return "parquet" if format == "parquet" else "json"


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

"""Benchmark: export a dataset version, text formats and formats with the images inside.

Text formats (JSONL, LLaVA JSON, Parquet, JSONL with scores as fields) at `--sizes` items;
Parquet-with-images and WebDataset at `--with-images` items, each item with a COCO-sized JPEG
(`--unique-images` distinct files, shared round-robin). After each with-images export the same
number of bytes is written by `dd ... conv=fdatasync` in the same run, and the export's own time
includes an fsync of its shards, so both are times to durable bytes on the same disk.

Each (size, format) export runs in a fresh process so its peak RSS is its own. PostgreSQL
(bench/_db.py). Prints one JSON line with seconds and peak RSS per size and format.
Usage: .venv/bin/python bench/export_dataset.py [--sizes 10000,50000,158000]
       [--with-images 20000] [--unique-images 100] [--dataset ID]

`--dataset ID` reuses a dataset version that an earlier run prepared with images (its id is in
that run's output) instead of building one: preparing 158k items takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _prepare(size: int) -> int:
    """A committed dataset version holding `size` items; returns its id."""
    from annotation.models import ProjectItem
    from annotation.services.projects import project_create
    from bench.curation_corpus import synthetic_corpus
    from core.models import Job
    from core.services.jobs import job_create
    from curation.models import DatasetItem, DatasetVersion, ItemScore, RewardModelRun

    corpus = synthetic_corpus(size)
    project = project_create(name=f"export-bench-{corpus.name}", corpora=[corpus])
    # a finished run with a criterion and a rule, so `scores` exports have fields to write
    run = RewardModelRun.objects.create(
        project=project,
        job=job_create(kind=Job.Kind.REWARD_MODEL_TRAIN, params={}),
        hyperparameters={},
        text_encoder="bench",
        in_progress=False,
        criteria=["overall", "helpful"],
        rules=["safe"],
    )
    dataset = DatasetVersion.objects.create(
        project=project, number=1, policy=[], n_items=size, run=run
    )
    ids = list(ProjectItem.objects.filter(project=project).values_list("item_id", flat=True))
    DatasetItem.objects.bulk_create(
        [DatasetItem(dataset=dataset, item_id=i, score=0.0) for i in ids], batch_size=10000
    )
    ItemScore.objects.bulk_create(
        [
            ItemScore(
                run=run,
                item_id=i,
                overall=0.5,
                criteria={"overall": 0.5, "helpful": 0.25},
                rules={"safe": 0.1},
            )
            for i in ids
        ],
        batch_size=10000,
    )
    from django.db import connection

    if connection.vendor == "postgresql":
        # What autovacuum does soon after a bulk load; without it a database that already
        # holds earlier runs' rows may plan the per-row score lookup as a scan.
        with connection.cursor() as cursor:
            for table in ("annotation_item", "curation_datasetitem", "curation_itemscore"):
                cursor.execute(f"ANALYZE {table}")
    return dataset.pk


def _attach_images(dataset_id: int, unique: int) -> float:
    """Gives every item of the dataset one of `unique` JPEGs (~160 kB, COCO's mean); returns
    the mean JPEG size in kB."""
    import hashlib
    import io

    import numpy as np
    from django.conf import settings
    from django.db.models import F
    from PIL import Image, ImageFilter

    from corpora.models import ImageAsset, Item
    from curation.models import DatasetVersion

    dataset = DatasetVersion.objects.get(pk=dataset_id)
    corpus_ids = [int(c) for c in dataset.corpus_versions] or list(
        dataset.project.corpora.values_list("pk", flat=True)
    )
    rng = np.random.default_rng(0)
    sizes = []
    folder = Path(settings.MEDIA_ROOT) / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    items = Item.objects.filter(corpus_id__in=corpus_ids).annotate(slot=F("id") % unique)
    for k in range(unique):
        pixels = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(0.6))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        data = buffer.getvalue()
        sizes.append(len(data))
        sha = hashlib.sha256(data).hexdigest()
        (folder / f"{sha}.jpg").write_bytes(data)
        asset, _ = ImageAsset.objects.get_or_create(
            sha256=sha,
            defaults={
                "file": f"bench/{sha}.jpg",
                "format": "JPEG",
                "width": 640,
                "height": 480,
                "size_bytes": len(data),
            },
        )
        items.filter(slot=k).update(image=asset)
    return round(sum(sizes) / len(sizes) / 1024, 1)


def _dd_seconds(nbytes: int, folder: Path) -> float:
    """`dd` of `nbytes` zeros, flushed (conv=fdatasync), into `folder` on the exports' disk."""
    target = folder / "dd.bin"
    blocks = max(1, nbytes // (1 << 20))
    start = time.perf_counter()
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={blocks}", "conv=fdatasync"],
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - start
    target.unlink()
    return max(round(seconds, 3), 0.001)


def _peak_rss_mb() -> float:
    """This process's own peak RSS. ru_maxrss is not used: Linux carries it over from the parent
    through fork, so a child would report the parent's peak from preparing the data."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _export(dataset_id: int, fmt: str) -> dict:
    """`fmt` is a format, or `jsonl+scores` (JSONL with the scores as fields)."""
    from django.conf import settings

    from core.models import Job
    from core.services.jobs import job_create
    from curation.models import DatasetVersion, Export
    from curation.services.export import export_execute, export_options_clean

    dataset = DatasetVersion.objects.get(pk=dataset_id)
    job = job_create(kind=Job.Kind.DATASET_EXPORT, params={})
    format, _, extra = fmt.partition("+")
    options = export_options_clean(format=format, options={"scores": extra == "scores"})
    export = Export.objects.create(dataset=dataset, job=job, format=format, options=options)
    start = time.perf_counter()
    result = export_execute(export=export)
    seconds = time.perf_counter() - start
    folder = Path(settings.ARTIFACTS_ROOT) / export.path
    for name in result["files"]:  # durable, as dd's conv=fdatasync
        with (folder / name).open("rb") as handle:
            os.fsync(handle.fileno())
    durable = time.perf_counter() - start
    nbytes = sum(f["bytes"] for f in result["files"].values())
    return {
        "s": round(seconds, 2),
        "s_durable": round(durable, 3),
        "records": result["records"],
        "bytes": nbytes,
        "shards": len(result["files"]),
        "mb_per_s_durable": round(nbytes / durable / 1e6, 1),
        "peak_rss_mb": _peak_rss_mb(),
        "folder": str(folder),
    }


def _child(dataset_id: int, fmt: str) -> dict:
    line = (
        subprocess.run(
            [sys.executable, __file__, "--child", str(dataset_id), fmt],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    return json.loads(line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,50000,158000")
    parser.add_argument("--with-images", type=int, default=20000)
    parser.add_argument("--unique-images", type=int, default=100)
    parser.add_argument("--dataset", type=int, help="reuse this prepared dataset version")
    parser.add_argument(
        "--dd-bytes",
        type=int,
        default=0,
        help="also dd this many bytes before each with-images export (e.g. 35000000000)",
    )
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    os.environ.setdefault("ARBITER_VAR_DIR", "/tmp/arbiter-export-bench")
    from bench._db import machine, setup_django

    setup_django()
    if args.child:
        print(json.dumps(_export(int(args.child[0]), args.child[1])))
        return
    import shutil

    out: dict = {"bench": "export_dataset", "machine": machine()}
    for size in (int(s) for s in args.sizes.split(",") if s):
        dataset_id = _prepare(size)
        for fmt in ("jsonl", "llava_json", "parquet", "jsonl+scores"):
            result = _child(dataset_id, fmt)
            shutil.rmtree(result.pop("folder"))
            out[f"{fmt}_{size}"] = result
    if args.with_images:
        if args.dataset:
            dataset_id = args.dataset
        else:
            dataset_id = _prepare(args.with_images)
            out["mean_jpeg_kb"] = _attach_images(dataset_id, args.unique_images)
        out["dataset"] = dataset_id
        artifacts = Path(os.environ["ARBITER_VAR_DIR"]) / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        for fmt in ("parquet_images", "webdataset"):
            # `dd` after the export, and with --dd-bytes before it too: the faster (scaled to
            # the export's size) is the reference, so a slow moment of the disk can't flatter
            # the ratio
            before = _dd_seconds(args.dd_bytes or 0, artifacts) if args.dd_bytes else None
            result = _child(dataset_id, fmt)
            folder = Path(result.pop("folder"))
            # the export is removed first, so the disk holds one copy at a time (34 GB at 158k)
            shutil.rmtree(folder)
            after = _dd_seconds(result["bytes"], folder.parent)
            runs = [after] + ([before * result["bytes"] / args.dd_bytes] if before else [])
            dd = min(runs)
            result["dd_s"] = round(dd, 3)
            result["dd_runs_mb_per_s"] = [round(result["bytes"] / r / 1e6, 1) for r in runs]
            result["dd_mb_per_s"] = round(result["bytes"] / dd / 1e6, 1)
            result["vs_dd"] = round(dd / result["s_durable"], 2)
            out[f"{fmt}_{args.with_images}"] = result
    print(json.dumps(out))


if __name__ == "__main__":
    main()

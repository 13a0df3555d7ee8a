"""Benchmark: export a dataset version to JSONL and LLaVA JSON at 10k, 50k and 158k items.

Each (size, format) export runs in a fresh process so its peak RSS is its own. PostgreSQL
(bench/_db.py). Prints one JSON line with seconds and peak RSS per size and format.
Usage: .venv/bin/python bench/export_dataset.py [--sizes 10000,50000,158000]
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
    from curation.models import DatasetItem, DatasetVersion

    corpus = synthetic_corpus(size)
    project = project_create(name=f"export-bench-{corpus.name}", corpora=[corpus])
    dataset = DatasetVersion.objects.create(project=project, number=1, policy=[], n_items=size)
    ids = ProjectItem.objects.filter(project=project).values_list("item_id", flat=True)
    DatasetItem.objects.bulk_create(
        [DatasetItem(dataset=dataset, item_id=i, score=0.0) for i in ids.iterator()],
        batch_size=10000,
    )
    return dataset.pk


def _peak_rss_mb() -> float:
    """This process's own peak RSS. ru_maxrss is not used: Linux carries it over from the parent
    through fork, so a child would report the parent's peak from preparing the data."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _export(dataset_id: int, fmt: str) -> dict:
    from core.models import Job
    from core.services.jobs import job_create
    from curation.models import DatasetVersion, Export
    from curation.services.export import export_execute

    dataset = DatasetVersion.objects.get(pk=dataset_id)
    job = job_create(kind=Job.Kind.DATASET_EXPORT, params={})
    export = Export.objects.create(dataset=dataset, job=job, format=fmt)
    start = time.perf_counter()
    result = export_execute(export=export)
    seconds = time.perf_counter() - start
    return {
        "s": round(seconds, 2),
        "records": result["records"],
        "peak_rss_mb": _peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,50000,158000")
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    os.environ.setdefault("ARBITER_VAR_DIR", "/tmp/arbiter-export-bench")
    from bench._db import machine, setup_django

    setup_django()
    if args.child:
        print(json.dumps(_export(int(args.child[0]), args.child[1])))
        return
    out: dict = {"bench": "export_dataset", "machine": machine()}
    for size in (int(s) for s in args.sizes.split(",")):
        dataset_id = _prepare(size)
        for fmt in ("jsonl", "llava_json"):
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
            out[f"{fmt}_{size}"] = json.loads(line)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

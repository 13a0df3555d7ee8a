"""Import a 158k-item LLaVA JSON (images already stored) and report items/s and peak RSS.

    .venv/bin/python bench/import_corpus.py [--items 158000]

Writes the file first in a child process, so the peak RSS measured is the import's alone. On
PostgreSQL the import parses in a child process of its own: its peak RSS (VmHWM, sampled every
20 ms) is reported too, and added to the importing process's peak for the total (an upper
bound: both peaks at once).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._db import machine, setup_django  # noqa: E402

WORDS = " ".join(
    [
        "the a man woman dog cat street car bus table kitchen window person people standing",
        "sitting holding wearing next to in front of behind near large small red blue white",
        "black green image shows appears there is are likely because which suggests scene",
        "background",
    ]
).split()


def write_corpus(path: Path, n_items: int, n_images: int) -> None:
    rng = random.Random(0)

    def sentence(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."

    with path.open("w") as handle:
        handle.write("[\n")
        for index in range(n_items):
            turns = []
            for turn in range(rng.choice([1, 1, 2, 3])):
                question = sentence(rng.randint(6, 14))[:-1] + "?"
                if turn == 0:
                    question = "<image>\n" + question
                answer = " ".join(sentence(rng.randint(8, 20)) for _ in range(rng.randint(3, 7)))
                turns += [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]
            record = {
                "id": f"{index:012d}",
                "image": f"coco/train2017/{index % n_images:012d}.jpg",
                "conversations": turns,
            }
            handle.write(json.dumps(record))
            handle.write(",\n" if index + 1 < n_items else "\n")
        handle.write("]\n")


class ChildPeakRss:
    """Samples the high-water RSS of this process's children while the import runs.

    getrusage(RUSAGE_CHILDREN) would not do: a child's high-water mark starts at the RSS of the
    parent it was forked from, before it execs the parse process.
    """

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ChildPeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            for children in Path("/proc/self/task").glob("*/children"):
                for pid in children.read_text().split():
                    try:
                        status = Path(f"/proc/{pid}/status").read_text()
                    except OSError:
                        continue  # it ended meanwhile
                    for line in status.splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=158_000)
    parser.add_argument("--images", type=int, default=80_000)
    parser.add_argument("--write-only", type=Path)
    args = parser.parse_args()
    if args.write_only:
        write_corpus(args.write_only, args.items, args.images)
        return
    workdir = Path(tempfile.mkdtemp(prefix="arbiter-bench-"))
    source = workdir / "llava_instruct.json"
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--items",
            str(args.items),
            "--images",
            str(args.images),
            "--write-only",
            str(source),
        ],
        check=True,
    )
    url = setup_django()
    from corpora.models import Corpus, CorpusImage, ImageAsset
    from corpora.services.corpus_import import corpus_import

    Corpus.objects.filter(name="bench-import").delete()
    corpus = Corpus.objects.create(name="bench-import")
    asset, _ = ImageAsset.objects.get_or_create(
        sha256="0" * 64,
        defaults={
            "file": "images/bench.jpg",
            "format": "JPEG",
            "width": 640,
            "height": 480,
            "size_bytes": 1,
        },
    )
    CorpusImage.objects.bulk_create(
        [
            CorpusImage(corpus=corpus, path=f"coco/train2017/{i:012d}.jpg", asset=asset)
            for i in range(args.images)
        ],
        batch_size=5000,
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with ChildPeakRss() as children:
        started = time.perf_counter()
        report = corpus_import(corpus=corpus, source=source)
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = corpus_import(corpus=corpus, source=source)
        second = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_peak = children.peak_kb / 1024
    result = {
        "benchmark": "corpus_import",
        "database": url.split("://")[0],
        "items": report.items_read,
        "file_mb": round(source.stat().st_size / 2**20, 1),
        "first_import_s": round(first, 2),
        "items_per_s": round(report.items_read / first),
        "reimport_unchanged_s": round(second, 2),
        "reimport_items_per_s": round(again.items_read / second),
        "peak_rss_mb": round(peak),
        "rss_before_import_mb": round(rss_before),
        "parse_process_peak_rss_mb": round(child_peak),
        "peak_rss_total_mb": round(peak + child_peak),
        "machine": machine(),
    }
    print(json.dumps(result))
    Corpus.objects.filter(pk=corpus.pk).delete()
    source.unlink()


if __name__ == "__main__":
    main()

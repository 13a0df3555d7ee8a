"""The data browser's first page on a 158k-item corpus: the page request (selector + template)
for each scope and filter, median of 5 after a warm-up.

    BENCH_DATABASE_URL=postgres://... .venv/bin/python bench/data_browser.py [--items 158000]
    BENCH_DATABASE_URL=sqlite:////tmp/browse.sqlite3 .venv/bin/python bench/data_browser.py

The corpus, its project (every item in it, 2,000 answered, 300 disputed), a model's scores of
every item and a 20k-item dataset version are built once and reused by later runs; so are a
finished safety-judge run over every item (rule "no-red" violated by 1 item in 8, rule "rare" by
1 in 1,000) and two annotators' rule verdicts on the 2,000 answered items (1 in 10 violating).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._db import machine, setup_django  # noqa: E402


def build(n_items: int):
    from django.contrib.auth import get_user_model

    from annotation.models import Project, ProjectItem
    from annotation.services.projects import project_create
    from bench.curation_corpus import synthetic_corpus
    from core.models import Job
    from corpora.models import Corpus
    from curation.models import DatasetItem, DatasetVersion, ItemScore, RewardModelRun, ScoringRun

    name = f"browse-{n_items}"
    staff, _ = get_user_model().objects.get_or_create(
        username="bench-browse", defaults={"is_staff": True}
    )
    project = Project.objects.filter(name=name).first()
    if project is not None:
        return staff, project, Corpus.objects.get(name=name)
    t0 = time.perf_counter()
    corpus = synthetic_corpus(n_items)
    Corpus.objects.filter(pk=corpus.pk).update(name=name)
    corpus.name = name
    project = project_create(name=name, corpora=[corpus], created_by=staff, overlap=2)
    ids = list(
        ProjectItem.objects.filter(project=project).order_by("item_id").values_list("pk", flat=True)
    )
    ProjectItem.objects.filter(pk__in=ids[:2000]).update(done_count=2)
    ProjectItem.objects.filter(pk__in=ids[:300]).update(disagreement=0.4)
    run = RewardModelRun.objects.create(
        project=project,
        job=Job.objects.create(kind=Job.Kind.REWARD_MODEL_TRAIN, status=Job.Status.SUCCEEDED),
        hyperparameters={},
        text_encoder="bench",
        in_progress=False,
        artifact_path="bench",
    )
    item_ids = list(corpus.items.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(item_ids), 10000):
        ItemScore.objects.bulk_create(
            [
                ItemScore(run=run, item_id=i, overall=((i * 2654435761) % 1000) / 1000)
                for i in item_ids[start : start + 10000]
            ]
        )
    ScoringRun.objects.create(
        run=run,
        corpus=corpus,
        job=Job.objects.create(kind=Job.Kind.CORPUS_SCORE, status=Job.Status.SUCCEEDED),
        shard_size=10000,
        corpus_version=corpus.version,
    )
    dataset = DatasetVersion.objects.create(project=project, number=1, policy=[], run=run)
    DatasetItem.objects.bulk_create(
        [DatasetItem(dataset=dataset, item_id=i) for i in item_ids[::8]], batch_size=10000
    )
    from django.db import connection

    if connection.vendor == "postgresql":
        # What autovacuum does soon after a bulk load: planner statistics for the new rows.
        with connection.cursor() as cursor:
            for table in ("annotation_item", "annotation_projectitem", "curation_itemscore",
                          "curation_datasetitem"):  # fmt: skip
                cursor.execute(f"ANALYZE {table}")
    print(f"built {n_items} items in {time.perf_counter() - t0:.0f} s", flush=True)
    return staff, project, corpus


def build_flags(project, staff) -> int:
    """The judge's and the annotators' rule verdicts (see the module's docstring); returns the
    judge run's id."""
    from django.contrib.auth import get_user_model

    from annotation.models import Annotation, Constitution, ProjectItem, Rule, Suggestion
    from core.models import Job
    from curation.models import JudgeRun

    done = JudgeRun.objects.filter(project=project).first()
    if done is not None:
        return done.pk
    t0 = time.perf_counter()
    constitution = Constitution.objects.create(project=project, version=1)
    for n, key in enumerate(("no-red", "rare")):
        Rule.objects.create(constitution=constitution, position=n, key=key, text=key, category="x")
    run = JudgeRun.objects.create(
        project=project,
        constitution=constitution,
        job=Job.objects.create(kind=Job.Kind.SAFETY_JUDGE, status=Job.Status.SUCCEEDED),
        config={"vlm": "bench"},
    )
    pairs = list(
        ProjectItem.objects.filter(project=project).order_by("item_id").values_list("pk", "item_id")
    )

    def verdict(item_id: int, rule: str) -> str:
        every = 8 if rule == "no-red" else 1000
        hit = (item_id * 2654435761) % every == 0
        return "violates" if hit else "does_not_violate"

    for start in range(0, len(pairs), 10000):
        Suggestion.objects.bulk_create(
            [
                Suggestion(
                    item_id=item_id,
                    question_key="safety",
                    rule_key=rule,
                    judge_run_id=run.pk,
                    constitution=constitution,
                    value={"verdict": verdict(item_id, rule)},
                    score=0.9,
                    model_version="bench",
                )
                for _, item_id in pairs[start : start + 10000]
                for rule in ("no-red", "rare")
            ]
        )
    users = [
        get_user_model().objects.get_or_create(username=f"bench-browse-{n}")[0] for n in range(2)
    ]
    Annotation.objects.bulk_create(
        [
            Annotation(
                project=project,
                project_item_id=pitem,
                item_id=item_id,
                user=user,
                answers={
                    "safety": {
                        "no-red": {
                            "verdict": "violates" if item_id % 10 == 0 else "does_not_violate"
                        }
                    }
                },
            )
            for pitem, item_id in pairs[:2000]
            for user in users
        ],
        batch_size=5000,
    )
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in ("annotation_suggestion", "annotation_annotation"):
                cursor.execute(f"ANALYZE {table}")
    print(f"built the judge's and annotators' flags in {time.perf_counter() - t0:.0f} s")
    return run.pk


def timed(client, url: str, repeat: int = 5) -> tuple[float, int]:
    response = client.get(url)  # warm-up (and the check that it works)
    assert response.status_code == 200, (url, response.status_code)
    rows = response.content.decode().count("<tr data-item=")
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=158_000)
    args = parser.parse_args()
    url = setup_django()
    from django.conf import settings
    from django.test import Client

    from curation.models import DatasetVersion, ScoringRun

    settings.ALLOWED_HOSTS = ["*"]
    staff, project, corpus = build(args.items)
    build_flags(project, staff)
    scoring = ScoringRun.objects.filter(corpus=corpus).first()
    dataset = DatasetVersion.objects.filter(project=project).first()
    client = Client()
    client.force_login(staff)
    ids = corpus.items.order_by("pk").values_list("pk", flat=True)
    c, p = f"/corpora/{corpus.pk}/items/", f"/projects/{project.pk}/items/"
    mixed = f"?state=unannotated&category=detail&scoring={scoring.pk}&min_score=0.5"
    cases = [
        ("corpus, no filter", c),
        ("corpus, category", c + "?category=detail"),
        ("corpus, text search (frequent)", c + "?q=kitchen"),
        ("corpus, text search (one item)", c + f"?q=picture+{args.items - 1}%3F"),
        ("corpus, score 0.9-1.0", c + f"?scoring={scoring.pk}&min_score=0.9&max_score=1"),
        ("project, no filter", p),
        ("project, state complete", p + "?state=complete"),
        ("project, disputed", p + "?disputed=1"),
        (
            "project, unannotated + category + score",
            p + mixed,
        ),
        ("project, judge: any rule (1 in 8)", p + "?judge=any"),
        ("project, judge: rare rule (1 in 1,000)", p + "?judge=rare"),
        ("corpus, judge: rare rule", c + "?judge=rare"),
        ("project, annotators flagged (200 of 2,000 answered)", p + "?human=1"),
        ("project, annotators flagged + judge any rule", p + "?human=1&judge=any"),
        ("dataset version (1 in 8 items)", f"/datasets/{dataset.pk}/items/"),
        (
            "corpus, page 3000 (cursor)",
            c + f"?after={ids[min(150_000, len(ids) - 60)]}",
        ),
        ("item page", f"/items/{ids[1000]}/"),
    ]
    engine = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(f"\n{engine}, {args.items} items; {machine()}\n")
    print("| page | median ms (5 runs) | rows |")
    print("| --- | ---: | ---: |")
    results = {}
    for label, path in cases:
        ms, rows = timed(client, path)
        results[label] = {"median_ms": round(ms, 1), "rows": rows}
        print(f"| {label} | {ms:.0f} | {rows} |", flush=True)
    print(json.dumps({"bench": "data_browser", "engine": engine, "items": args.items,
                      "pages": results}))  # fmt: skip


if __name__ == "__main__":
    main()

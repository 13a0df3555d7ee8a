"""Quality end to end: demo corpus -> simulated annotations (15% flips) in the database ->
training pairs -> training job -> scoring job -> held-out accuracy and curation quality.

Prints one JSON line: pairwise accuracy on held-out items against the hidden ground truth and
against the noisy labels, the annotators' agreement with each other, precision (fraction clean)
of the top 10% by reward vs the base rate, and the share of injected defects that the curated
10% still holds vs a random 10%.
Usage: .venv/bin/python bench/rm_quality_e2e.py [--items 800] [--image-encoder default-image]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=800)
    parser.add_argument("--text-encoder", default="default-text")
    parser.add_argument("--image-encoder", default="default-image")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    var = tempfile.mkdtemp(prefix="arbiter-quality-")
    os.environ["ARBITER_VAR_DIR"] = var
    from bench._db import setup_django

    setup_django(f"sqlite:///{var}/quality.sqlite3")
    import numpy as np

    from annotation.demo import build_demo_corpus
    from annotation.models import Corpus, Job
    from annotation.services.corpus_import import corpus_import
    from annotation.services.projects import project_create
    from curation.models import ItemScore
    from curation.services.curation import curation_evaluate
    from curation.services.demo_annotations import demo_annotations_simulate
    from curation.services.reward_models import reward_model_run_start
    from curation.services.scoring import scoring_start
    from rewardmodel.evaluation import item_in_eval
    from webapp.celery import app

    app.conf.task_always_eager = True
    started = time.perf_counter()
    demo = build_demo_corpus(Path(var) / "demo", n_items=args.items, seed=args.seed)
    corpus = Corpus.objects.create(name="quality-demo")
    corpus_import(corpus=corpus, source=demo.corpus_path, images=demo.images_dir)
    project = project_create(name="quality", corpora=[corpus])
    demo_annotations_simulate(project=project, ground_truth=demo.ground_truth_path)
    truth = json.loads(demo.ground_truth_path.read_text())["items"]
    hyper = {
        "text_encoder": args.text_encoder,
        "image_encoder": args.image_encoder,
        "epochs": args.epochs,
        "seed": args.seed,
        "eval_fraction": 0.2,
        "batch_size": 128,
    }
    run = reward_model_run_start(project=project, user=None, hyperparameters=hyper)
    run.refresh_from_db()
    job = Job.objects.get(pk=run.job_id)
    if job.status != Job.Status.SUCCEEDED:
        raise SystemExit(f"training failed: {job.error}")
    trained = time.perf_counter()
    scoring = scoring_start(run=run, corpus=corpus, shard_size=200)
    assert Job.objects.get(pk=scoring.job_id).status == Job.Status.SUCCEEDED

    rows = list(
        ItemScore.objects.filter(run=run).values_list(
            "item_id", "item__external_id", "item__category", "overall", "best_candidates"
        )
    )
    held = [r for r in rows if item_in_eval(str(r[0]), 0.2, args.seed)]
    # ground-truth pairs among held-out items: clean beats defective within a category, and
    # the truly best candidate is what the model picks among an item's candidates.
    by_cat: dict[str, list] = {}
    for r in held:
        by_cat.setdefault(r[2], []).append(r)
    right = total = 0
    for members in by_cat.values():
        for a, b in combinations(members, 2):
            ca, cb = truth[a[1]]["clean"], truth[b[1]]["clean"]
            if ca != cb:
                total += 1
                right += (a[3] > b[3]) == ca
    item_accuracy = right / total if total else None
    picks = [
        truth[r[1]]["candidates"]["quality"][r[4][str(truth[r[1]]["candidates"]["turn"])]]
        == max(truth[r[1]]["candidates"]["quality"])
        for r in held
        if truth[r[1]].get("candidates") and r[4]
    ]
    scores = np.asarray([r[3] for r in rows])
    clean = np.asarray([truth[r[1]]["clean"] for r in rows])
    defects = np.asarray([len(truth[r[1]]["defects"]) for r in rows])
    top = np.argsort(-scores)[: max(1, len(rows) // 10)]
    evaluation = curation_evaluate(
        project=project,
        run=run,
        policy=[{"op": "top_fraction", "score": "overall", "fraction": 0.1}],
    )
    ids = {r[0]: i for i, r in enumerate(rows)}
    chosen = [ids[int(i)] for i in evaluation["_item_ids"]]
    baseline = [ids[int(i)] for i in evaluation["_baseline_ids"]]
    print(
        json.dumps(
            {
                "bench": "rm_quality_e2e",
                "items": len(rows),
                "held_out_items": len(held),
                "train_pairs": run.metrics.get("train_pairs"),
                "heldout_accuracy_vs_ground_truth_items": round(item_accuracy, 4)
                if item_accuracy
                else None,
                "heldout_ground_truth_item_pairs": total,
                "heldout_best_candidate_picked": round(float(np.mean(picks)), 4) if picks else None,
                "heldout_accuracy_vs_noisy_labels": run.metrics.get("eval_accuracy"),
                "annotator_agreement": run.human_agreement.get("agreement"),
                "top10_precision_clean": round(float(clean[top].mean()), 4),
                "base_rate_clean": round(float(clean.mean()), 4),
                "defects_held_by_curated_10pct": round(
                    float(defects[chosen].sum() / defects.sum()), 4
                ),
                "defects_held_by_random_10pct": round(
                    float(defects[baseline].sum() / defects.sum()), 4
                ),
                "train_s": round(trained - started, 1),
                "wall_s": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()

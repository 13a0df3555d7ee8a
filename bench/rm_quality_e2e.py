"""Quality end to end: demo corpus -> simulated annotations (15% flips) in the database ->
the training job (the product's default recipe) -> the scoring job -> held-out accuracy.

The split is `bench/rm_quality.py`'s: a quarter of the items (by hash of their id, salt 1000 +
seed) is held out. Held-out items go to a corpus of their own outside the project, so no
annotation, imported score or pair of theirs reaches training; the trained model scores both
corpora through the scoring job, and the ground truth judges the held-out scores.

Prints one JSON line: pairwise accuracy on held-out items against the hidden ground truth
(clean vs defective, as rm_quality reports it, per defect kind, and within a category),
whether the model's best candidate is the truly best one, the trainer's validation accuracy
on the noisy labels beside the annotators' agreement, precision (fraction clean) of the top
10% by reward vs the base rate and the share of defects the top 10% still holds.
With `--work-dir` (e.g. rm_quality's /tmp/rm_quality) the demo corpus and the feature cache
are shared with rm_quality, so only what is missing is encoded.
Usage: .venv/bin/python bench/rm_quality_e2e.py [--items 800]
       [--backbone CHECKPOINT [--vlm '{"steps": 300}']]  (the VLM recipe instead of the item one)
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

TEST_FRACTION = 0.25
TEST_SALT = 1000  # as rm_quality: the test split uses its own hash seed


def _auc(good: list[float], bad: list[float]) -> float | None:
    if not good or not bad:
        return None
    hits = sum((g > b) + 0.5 * (g == b) for g in good for b in bad)
    return hits / (len(good) * len(bad))


def _demo(work: Path, items: int, seed: int) -> tuple[Path, Path, Path]:
    from demo.corpus import build_demo_corpus

    folder = work / f"demo-{items}-{seed}"
    if (folder / "ground_truth.json").exists():
        return folder / "corpus.json", folder / "ground_truth.json", folder / "images"
    demo = build_demo_corpus(folder, n_items=items, seed=seed)
    return demo.corpus_path, demo.ground_truth_path, demo.images_dir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=800)
    parser.add_argument("--text-encoder", default=None, help="default: the recipe's")
    parser.add_argument("--image-encoder", default=None, help="default: the recipe's")
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--backbone", default=None, help="train the VLM recipe on this checkpoint instead"
    )
    parser.add_argument("--vlm", default="{}", help="JSON: the VLM recipe's parameters")
    parser.add_argument("--work-dir", default=None, help="demo corpus and feature cache")
    parser.add_argument("--annotators", type=int, default=3, help="simulated answers per item")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="arbiter-quality-"))
    os.environ["ARBITER_VAR_DIR"] = str(var)
    work = Path(args.work_dir) if args.work_dir else var
    if args.work_dir:
        (work / "features").mkdir(parents=True, exist_ok=True)
        (var / "artifacts").mkdir(parents=True, exist_ok=True)
        (var / "artifacts" / "features").symlink_to((work / "features").resolve())
    from bench._db import setup_django

    setup_django(f"sqlite:///{var}/quality.sqlite3")
    import numpy as np
    import torch

    from annotation.services.projects import project_create
    from bench.rm_quality import _pairwise_agreement
    from core.models import Job
    from corpora.models import Corpus
    from corpora.services.corpus_import import corpus_import
    from curation.models import ItemScore
    from curation.services.reward_models import reward_model_run_start
    from curation.services.scoring import scoring_start
    from demo.annotations import demo_annotations_simulate
    from demo.corpus.defects import DEFECT_KINDS
    from demo.corpus.simulate import simulate_judgments
    from rewardmodel.evaluation import item_in_eval
    from webapp.celery import app

    torch.set_num_threads(args.threads)
    app.conf.task_always_eager = True
    started = time.perf_counter()
    corpus_path, truth_path, images_dir = _demo(work, args.items, args.seed)
    records = json.loads(corpus_path.read_text())
    truth = json.loads(truth_path.read_text())["items"]
    held = {str(r["id"]) for r in records if item_in_eval(str(r["id"]), TEST_FRACTION,
                                                          TEST_SALT + args.seed)}  # fmt: skip
    corpora = {}
    for name, part in (("train", False), ("heldout", True)):
        path = var / f"{name}.json"
        path.write_text(json.dumps([r for r in records if (str(r["id"]) in held) == part]))
        corpora[name] = Corpus.objects.create(name=f"quality-{name}")
        corpus_import(corpus=corpora[name], source=path, images=images_dir)
    project = project_create(name="quality", corpora=[corpora["train"]])
    demo_annotations_simulate(
        project=project, ground_truth=truth_path, n_annotators=args.annotators
    )
    hyper: dict = {"trainer": "item", "seed": args.seed}
    for name in ("text_encoder", "image_encoder", "epochs"):
        if getattr(args, name) is not None:
            hyper[name] = getattr(args, name)
    if args.backbone:
        hyper = {"trainer": "vlm", "backbone": args.backbone, "seed": args.seed,
                 **json.loads(args.vlm)}  # fmt: skip
    run = reward_model_run_start(project=project, user=None, hyperparameters=hyper)
    run.refresh_from_db()
    job = Job.objects.get(pk=run.job_id)
    if job.status != Job.Status.SUCCEEDED:
        raise SystemExit(f"training failed: {job.error}")
    # what a user who starts training from the page waits for: the job, start to end
    training_job_s = (job.finished_at - job.started_at).total_seconds()
    trained = time.perf_counter()
    for corpus in corpora.values():
        scoring = scoring_start(run=run, corpus=corpus, shard_size=500)
        assert Job.objects.get(pk=scoring.job_id).status == Job.Status.SUCCEEDED

    rows = list(
        ItemScore.objects.filter(run=run, item__corpus=corpora["heldout"]).values_list(
            "item__external_id", "item__category", "overall", "best_candidates"
        )
    )
    score = {r[0]: r[2] for r in rows}
    clean = [score[i] for i in score if truth[i]["clean"]]
    dirty = [score[i] for i in score if not truth[i]["clean"]]
    per_defect = {}
    for kind in DEFECT_KINDS:
        acc = _auc(clean, [score[i] for i in score if kind in truth[i]["defects"]])
        if acc is not None:
            per_defect[kind] = round(acc, 4)
    # the measure this benchmark reported before: clean vs defective within a category
    right = total = 0
    by_category: dict[str, list] = {}
    for r in rows:
        by_category.setdefault(r[1], []).append(r)
    for members in by_category.values():
        for a, b in combinations(members, 2):
            if truth[a[0]]["clean"] != truth[b[0]]["clean"]:
                total += 1
                right += (a[2] > b[2]) == truth[a[0]]["clean"]
    picks = []
    for external, _, _, best in rows:
        candidates = truth[external].get("candidates")
        if candidates and best:
            quality = candidates["quality"]
            picks.append(quality[best[str(candidates["turn"])]] == max(quality))
    # rm_quality's like-for-like figure on the product's scores: the held-out items' simulated
    # answers (the same draw as the project's; none of them was in the database) against the
    # model, beside the annotators against each other on the same pairs
    judgments = simulate_judgments(
        truth_path, n_annotators=args.annotators, flip_rate=0.15, seed=args.seed
    )
    model_vs, peer_vs = _pairwise_agreement(sorted(score), judgments, args.annotators, score)
    order = sorted(score, key=lambda i: -score[i])
    top = order[: max(1, len(order) // 10)]
    defects = {i: len(truth[i]["defects"]) for i in score}
    print(
        json.dumps(
            {
                "bench": "rm_quality_e2e",
                "trainer": hyper["trainer"],
                "backbone": hyper.get("backbone"),
                "items": len(records),
                "held_out_items": len(rows),
                "train_pairs": run.metrics.get("train_pairs"),
                "best_step": run.metrics.get("best_step"),
                "steps": run.metrics.get("steps"),
                "pairs_by_source": run.metrics.get("train_pairs_by_source")
                or run.data_summary.get("pairs_by_source"),
                "heldout_accuracy_vs_ground_truth": round(_auc(clean, dirty) or 0.0, 4),
                "heldout_accuracy_vs_ground_truth_within_category": round(right / total, 4)
                if total
                else None,
                "heldout_per_defect_accuracy": per_defect,
                "heldout_best_candidate_picked": round(float(np.mean(picks)), 4) if picks else None,
                "val_accuracy_vs_noisy_labels": run.metrics.get("eval_accuracy"),
                "held_out_pairwise": {
                    "model_vs_annotator": round(model_vs, 4),
                    "annotator_vs_annotator": round(peer_vs, 4),
                },
                "annotator_agreement": run.human_agreement.get("agreement"),
                # what the run page shows, on the trainer's own held-out split of the project
                "run_page_vs_annotators": run.metrics.get("eval_vs_annotators"),
                "heldout_top10_precision_clean": round(
                    float(np.mean([truth[i]["clean"] for i in top])), 4
                ),
                "heldout_base_rate_clean": round(len(clean) / len(score), 4),
                "heldout_defects_held_by_top10pct": round(
                    sum(defects[i] for i in top) / max(1, sum(defects.values())), 4
                ),
                "annotators": args.annotators,
                "training_job_s": round(training_job_s, 1),
                "train_s": round(trained - started, 1),
                "wall_s": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()

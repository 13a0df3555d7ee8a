"""Benchmark: the learned judge on proxy rules over the demo's easy-VQA images.

Rules: "no red shape may be visible", "no triangle may be visible"; the hidden truth is the
image's generated shape and colour. Three simulated annotators answer each training item, each
wrong with probability --noise (15%). The judge (a reward head's rule logits over the default
image+colour features, rule BCE on the annotators' mean verdict) is scored on held-out items
against the hidden truth, beside one annotator's and the majority's figures and the
annotator-annotator agreement (Cohen's kappa).

Prints one JSON line. Usage: OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python
bench/judge_learned.py [--items 1500] [--noise 0.15]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.corpus.easyvqa import load_images  # noqa: E402
from judge.learned import LearnedJudgeConfig, train_learned_judge, verdict_targets  # noqa: E402
from judge.metrics import compare  # noqa: E402
from rewardmodel.encoders import encoder_load  # noqa: E402

RULES = {
    "no-red-shape": lambda img: img.color == "red",
    "no-triangle": lambda img: img.shape == "triangle",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1500)
    parser.add_argument("--held-out", type=float, default=0.3)
    parser.add_argument("--annotators", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.15)
    parser.add_argument("--encoder", default="default-image-colour")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--features", default="", help="an .npy file to cache the features in")
    parser.add_argument("--hidden", type=int, default=LearnedJudgeConfig.hidden)
    parser.add_argument("--epochs", type=int, default=LearnedJudgeConfig.epochs)
    parser.add_argument("--weight-decay", type=float, default=LearnedJudgeConfig.weight_decay)
    parser.add_argument("--dropout", type=float, default=LearnedJudgeConfig.dropout)
    parser.add_argument(
        "--validate",
        action="store_true",
        help="model selection: train on 80%% of the training items and report F1 against the "
        "annotators' majority on the other 20%% (no hidden truth, no held-out item is read)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = random.Random(args.seed)
    images = [im for im in load_images() if im.shape and im.color]
    rng.shuffle(images)
    images = images[: args.items]
    started = time.perf_counter()
    cached = Path(args.features) if args.features else None
    if cached is not None and cached.exists():
        features = np.load(cached)
    else:
        encoder = encoder_load(args.encoder, device="cpu")
        features = np.concatenate(
            [
                encoder.encode([im.path for im in images[i : i + 64]]).numpy()
                for i in range(0, len(images), 64)
            ]
        )
        if cached is not None:
            np.save(cached, features)
    featurize_s = time.perf_counter() - started
    rules = list(RULES)
    truth = np.array([[RULES[r](im) for r in rules] for im in images], dtype=bool)
    # each annotator flips the truth with probability `noise`, independently per (item, rule)
    answers = np.array(
        [
            [[t != (rng.random() < args.noise) for t in row] for row in truth]
            for _ in range(args.annotators)
        ]
    )  # (A, N, R)
    n_train = int(len(images) * (1 - args.held_out))
    if args.validate:
        # the validation items play the held-out part; their reference is the annotators'
        # majority, as in a real project
        n_all = n_train
        n_train = int(n_all * 0.8)
        majority_all = answers.sum(0) * 2 > args.annotators
        truth = truth.copy()
        truth[n_train:n_all] = majority_all[n_train:n_all]
        truth, features, answers = truth[:n_all], features[:n_all], answers[:, :n_all]
        images = images[:n_all]
    keys = [im.key for im in images]
    rows = [
        (keys[i], rules[j], bool(answers[a, i, j]))
        for a in range(args.annotators)
        for i in range(n_train)
        for j in range(len(rules))
    ]
    targets = verdict_targets(keys[:n_train], rules, rows)
    started = time.perf_counter()
    config = LearnedJudgeConfig(
        hidden=args.hidden,
        epochs=args.epochs,
        weight_decay=args.weight_decay,
        dropout=args.dropout,
    )
    judge = train_learned_judge(features[:n_train], targets, rules, config=config)
    train_s = time.perf_counter() - started
    predicted = judge.predict(features[n_train:])
    held = truth[n_train:]
    majority = answers[:, n_train:].sum(0) * 2 > args.annotators
    report = {}
    for j, rule in enumerate(rules):
        kappas = [
            compare(answers[a, n_train:, j], answers[b, n_train:, j])["kappa"]["value"]
            for a in range(args.annotators)
            for b in range(a + 1, args.annotators)
        ]
        report[rule] = {
            "positives_held_out": int(held[:, j].sum()),
            "judge_vs_truth": compare(predicted[:, j], held[:, j]),
            "annotator_vs_truth_f1": compare(answers[0, n_train:, j], held[:, j])["f1"],
            "majority_vs_truth_f1": compare(majority[:, j], held[:, j])["f1"],
            "annotator_kappa_mean": round(float(np.mean(kappas)), 4),
        }
    print(
        json.dumps(
            {
                "bench": "judge_learned",
                "items": len(images),
                "train": n_train,
                "held_out": len(images) - n_train,
                "annotators": args.annotators,
                "noise": args.noise,
                "encoder": args.encoder,
                "featurize_s": round(featurize_s, 1),
                "train_s": round(train_s, 1),
                "validate": args.validate,
                "config": config.__dict__,
                "rules": report,
                "machine": f"{platform.machine()}, torch {torch.__version__}",
            }
        )
    )


if __name__ == "__main__":
    main()

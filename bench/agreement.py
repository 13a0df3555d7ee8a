"""Agreement over 158k items x 3 annotators (LLaVA-Instruct-158k size) must take < 5 s.

Builds the answers of the "Instruction quality" preset (3 binary, 3 ratings, a ranking of
three candidates on a third of the items) with a given disagreement rate, serialises them as
the database returns them (one JSON-text column per question), then times what
`project_agreement` does after its one query: coding and every measure. Prints one JSON line.

    .venv/bin/python bench/agreement.py [--items 158000] [--annotators 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=158_000)
    parser.add_argument("--annotators", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.15)
    args = parser.parse_args()
    import django

    django.setup()
    # A running server has these loaded already; import time is not agreement time.
    import sklearn.metrics  # noqa: F401
    import statsmodels.stats.inter_rater  # noqa: F401

    from annotation.presets import rubric_preset
    from annotation.selectors.agreement import agreement_compute, components_build

    questions = rubric_preset("instruction_quality")
    rng = np.random.default_rng(0)
    n, k = args.items, args.annotators
    truth_ok = rng.random(n) < 0.7
    rows_item = np.repeat(np.arange(1, n + 1), k)
    rows_coder = np.tile(np.arange(k), n)
    flips = rng.random((n * k, 6)) < args.noise
    raws = []
    for row in range(n * k):
        item = row // k
        ok = bool(truth_ok[item])
        answers = {
            "faithful": bool(ok != flips[row, 0]),
            "no_hallucination": bool(ok != flips[row, 1]),
            "answerable": not bool(flips[row, 2]),
            "helpfulness": int(rng.integers(4, 6) if ok != flips[row, 3] else rng.integers(1, 3)),
            "clarity": int(rng.integers(3, 6) if not flips[row, 4] else rng.integers(1, 4)),
            "detail": int(rng.integers(3, 6) if not flips[row, 5] else rng.integers(1, 4)),
        }
        if item % 3 == 0:
            answers["best_answer"] = {
                "turn": 1,
                "ranking": [[1], [0, 2]] if not flips[row, 0] else [[0], [1], [2]],
            }
        raws.append(answers)
    # As `annotations_load` gets them from PostgreSQL: one text column per question.
    keys = [q["key"] for q in questions if q["type"] != "text"]
    text = {key: [None if key not in a else json.dumps(a[key]) for a in raws] for key in keys}
    started = time.perf_counter()
    decode_s = 0.0
    components, _ = components_build(questions, rows_item, rows_coder, text)
    build_s = time.perf_counter() - started - decode_s
    report = agreement_compute(components, [f"a{i}" for i in range(k)])
    total_s = time.perf_counter() - started
    alphas = {q["key"]: round(q["alpha"], 3) for q in report["questions"] if q["alpha"] is not None}
    print(
        json.dumps(
            {
                "bench": "agreement",
                "items": n,
                "annotators": k,
                "annotations": n * k,
                "seconds": round(total_s, 3),
                "code_s": round(build_s, 3),
                "measures_s": round(total_s - build_s, 3),
                "target_s": 5.0,
                "ok": total_s < 5.0,
                "alpha": alphas,
            }
        )
    )


if __name__ == "__main__":
    main()

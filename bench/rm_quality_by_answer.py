"""Held-out accuracy of one `rm_quality_e2e.py` run, wrong answers split by what was changed.

`rm_quality_e2e.py` reports one figure for all wrong answers; the defect a joint image-text
view should catch is narrower (a wrong colour, a flipped yes/no). This reads the run's own
database, which the bench leaves in its temporary folder (`/tmp/arbiter-quality-*`), and
splits the wrong-answer items by the words the defect changed: `yes/no` when "yes" or "no"
changed, else `colour` / `shape` when a colour / shape word changed, `photo` for the non-easy-VQA
images. Accuracy is rm_quality_e2e's: the share of (clean, defective) held-out pairs the
reward orders right.
Usage: .venv/bin/python bench/rm_quality_by_answer.py /tmp/arbiter-quality-XXXX \
           WORK_DIR/demo-ITEMS-SEED
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COLOURS = {"red", "green", "blue", "black", "gray", "grey", "teal", "brown", "yellow"}
SHAPES = {"circle", "rectangle", "triangle", "circles", "rectangles", "triangles"}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def answer_kind(truth: dict, record: dict, altered: dict) -> str:
    """What a wrong-answer defect changed, from the original and the altered turn."""
    if truth["source"] != "easy_vqa":
        return "photo"
    now = record["conversations"][altered["turn"]]["value"]
    changed = _words(altered["original"]) ^ _words(now)
    if changed & {"yes", "no"}:
        return "yes/no"
    if changed & COLOURS:
        return "colour"
    if changed & SHAPES:
        return "shape"
    return "other"


def _auc(good: list[float], bad: list[float]) -> float | None:
    if not good or not bad:
        return None
    hits = sum((g > b) + 0.5 * (g == b) for g in good for b in bad)
    return hits / (len(good) * len(bad))


def main() -> None:
    var, demo = Path(sys.argv[1]), Path(sys.argv[2])
    from bench._db import setup_django

    setup_django(f"sqlite:///{var}/quality.sqlite3")
    from curation.models import ItemScore

    score = dict(
        ItemScore.objects.filter(item__corpus__name="quality-heldout").values_list(
            "item__external_id", "overall"
        )
    )
    truth = json.loads((demo / "ground_truth.json").read_text())["items"]
    records = {r["id"]: r for r in json.loads((demo / "corpus.json").read_text())}
    groups: dict[str, set[str]] = {}
    for item in score:
        for defect in set(truth[item]["defects"]):
            groups.setdefault(defect, set()).add(item)
        for altered in truth[item]["altered"]:
            if altered["defect"] == "wrong_answer":
                kind = answer_kind(truth[item], records[item], altered)
                groups.setdefault(f"wrong_answer/{kind}", set()).add(item)
    clean = [score[i] for i in score if truth[i]["clean"]]
    out = {"held_out_items": len(score), "clean": len(clean), "groups": {}}
    for name, items in sorted(groups.items()):
        acc = _auc(clean, [score[i] for i in items])
        out["groups"][name] = {"items": len(items), "accuracy": round(acc or 0.0, 4)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

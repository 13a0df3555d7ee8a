"""Benchmark: do the faithfulness guards catch planted errors, and stay quiet otherwise?

The answers are the demo corpus's clean turns. Each gets a faithful restyling (prefix,
contractions, sentence order: what a style rewrite does) and, on top of that restyling, one
planted error per kind that applies to it: a colour, number or object swapped, a negation
flipped, a sentence added. Every guard is on (MiniLM similarity included) at the defaults.

Prints one JSON line: catch rate per kind and overall, false alarms on faithful restylings.
Usage: nice -n 10 .venv/bin/python bench/rewrite_guards.py [--items 400]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench.rewrite_common import demo_clean_turns  # noqa: E402
from rewriting.guards import (  # noqa: E402
    NUMBER_WORDS,
    GuardSettings,
    colour_names,
    guards_check,
    object_terms,
    words,
)

COLOURS = ["red", "blue", "green", "yellow", "black", "white", "purple", "orange", "brown", "gray"]
OBJECTS = ["dog", "bicycle", "umbrella", "bottle", "chair", "tree", "car", "clock", "boat"]
ADDED = [
    "There is also a {obj} next to it.",
    "A small {obj} can be seen in the corner.",
    "Behind it stands a {colour} {obj}.",
    "It was probably taken in the late afternoon.",
]


def restyle(text: str, rng: random.Random) -> str:
    """A faithful rewrite: the same facts in a different manner."""
    out = text
    for a, b in [("There is", "There's"), ("it is", "it's"), ("does not", "doesn't"),
                 ("I can't", "I cannot"), ("The image shows", "The picture shows")]:  # fmt: skip
        if rng.random() < 0.7:
            out = out.replace(a, b)
    sentences = re.split(r"(?<=[.!?])\s+", out)
    if len(sentences) > 2 and rng.random() < 0.5:
        sentences[1], sentences[2] = sentences[2], sentences[1]
    out = " ".join(sentences)
    if rng.random() < 0.5 and out[:1].isupper() and not out.startswith(("Yes", "No")):
        out = rng.choice(["Looking at the image, ", "In this picture, "]) + out[0].lower() + out[1:]
    return out


def _swap_word(text: str, targets: set[str], pool: list[str], rng: random.Random) -> str | None:
    hits = [m for m in re.finditer(r"[A-Za-z]+|\d+", text) if m.group().lower() in targets]
    if not hits:
        return None
    m = rng.choice(hits)
    choices = [w for w in pool if w != m.group().lower()]
    return text[: m.start()] + rng.choice(choices) + text[m.end() :]


def plant(kind: str, text: str, rng: random.Random) -> str | None:
    if kind == "colour":
        return _swap_word(text, set(colour_names()), COLOURS, rng)
    if kind == "number":
        numbers = {w for w in words(text) if w in NUMBER_WORDS or w.isdigit()}
        return _swap_word(text, numbers, ["two", "three", "five", "seven", "4", "12"], rng)
    if kind == "object":
        return _swap_word(text, object_terms(text) - {"image", "picture"}, OBJECTS, rng)
    if kind == "negation":
        flipped = re.sub(r"\b(does not|doesn't|is not|isn't|not|no)\b\s*", "", text, count=1)
        if flipped != text:
            return flipped
        added = re.sub(r"\b(is|are|does)\b", r"\1 not", text, count=1)
        return added if added != text else None
    if kind == "added":
        sentence = rng.choice(ADDED).format(obj=rng.choice(OBJECTS), colour=rng.choice(COLOURS))
        return text.rstrip() + " " + sentence
    raise ValueError(kind)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = random.Random(args.seed)
    turns = demo_clean_turns(args.items, seed=args.seed)
    answers = sorted({a for _, a in turns})
    originals, rewrites, kinds = [], [], []
    for answer in answers:
        clean = restyle(answer, rng)
        originals.append(answer)
        rewrites.append(clean)
        kinds.append("faithful")
        for kind in ("colour", "number", "object", "negation", "added"):
            planted = plant(kind, clean, rng)
            if planted is not None and planted != clean:
                originals.append(answer)
                rewrites.append(planted)
                kinds.append(kind)
    from rewardmodel.encoders.text import default_text_encoder

    encoder = default_text_encoder("cpu")
    start = time.perf_counter()
    rows = guards_check(originals, rewrites, GuardSettings(), embed=encoder.encode)
    seconds = time.perf_counter() - start
    flagged: dict[str, list[int]] = {}
    by_guard: dict[str, dict[str, int]] = {}
    for kind, row in zip(kinds, rows, strict=True):
        failed = [g.name for g in row if not g.passed]
        flagged.setdefault(kind, [0, 0])
        flagged[kind][0] += bool(failed)
        flagged[kind][1] += 1
        for name in failed:
            by_guard.setdefault(kind, {}).setdefault(name, 0)
            by_guard[kind][name] += 1
    planted = [k for k in flagged if k != "faithful"]
    caught = sum(flagged[k][0] for k in planted)
    total = sum(flagged[k][1] for k in planted)
    print(json.dumps({
        "answers": len(answers),
        "checks": len(rows),
        "catch_rate": round(caught / total, 4),
        "planted": total,
        "false_alarm_rate": round(flagged["faithful"][0] / flagged["faithful"][1], 4),
        "faithful": flagged["faithful"][1],
        "per_kind": {k: {"caught": c, "of": n, "rate": round(c / n, 4)}
                     for k, (c, n) in flagged.items()},
        "guards_firing": by_guard,
        "guard_seconds": round(seconds, 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()

"""Shared by the rewriting benchmarks: the demo corpus's clean single-answer turns."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path


def demo_clean_turns(n_items: int, seed: int = 0) -> list[tuple[str, str]]:
    """(question, answer) of every plain-text turn of the items the demo's ground truth calls
    clean: what a perfect curation keeps (candidate-rich turns are left out)."""
    from demo.corpus.builder import build_demo_corpus

    with tempfile.TemporaryDirectory() as tmp:
        corpus = build_demo_corpus(Path(tmp), n_items=n_items, seed=seed)
        records = json.loads(corpus.corpus_path.read_text())
        truth = json.loads(corpus.ground_truth_path.read_text())["items"]
    turns: list[tuple[str, str]] = []
    for record in records:
        if not truth[record["id"]]["clean"]:
            continue
        question = ""
        for message in record["conversations"]:
            value = message["value"]
            if message["from"] == "human":
                question = value.replace("<image>", "").strip()
            elif isinstance(value, str):
                turns.append((question, value))
    return turns

"""docs/handoff.md's Python walk-through compiles and defines every step (the integration test
tests/integration/test_handoff_path.py runs it end to end against a live server)."""

from __future__ import annotations

from tests.integration.test_handoff_path import _walkthrough

STEPS = (
    "Arbiter",
    "corpus_import",
    "project_create",
    "annotate",
    "reward_model_train",
    "corpus_score",
    "scores",
    "curate",
    "webhook_create",
    "export",
    "s3_fetch",
    "trl_pairs_load",
)


def test_the_walkthrough_defines_every_step_in_order():
    names = [name for name in _walkthrough() if name in STEPS]
    assert names == list(STEPS)

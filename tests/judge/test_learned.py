"""The learned judge recovers rules from noisy annotators well beyond chance, and round-trips."""

from __future__ import annotations

import numpy as np
import torch

from judge.learned import LearnedJudge, LearnedJudgeConfig, train_learned_judge, verdict_targets
from judge.metrics import compare


def test_learns_rules_from_noisy_annotators(tmp_path):
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(600, 16)).astype(np.float32)
    truth = np.stack([features[:, 0] > 0, features[:, 1] + features[:, 2] > 0], axis=1)
    keys = [f"i{n}" for n in range(600)]
    rows = [
        (keys[n], rule, bool(truth[n, j] != (rng.random() < 0.15)))
        for _ in range(3)
        for n in range(400)
        for j, rule in enumerate(("a", "b"))
    ]
    targets = verdict_targets(keys[:400], ["a", "b"], rows)
    assert np.isclose(np.nanmax(targets), 1.0) and 0 < np.nanmean(targets) < 1
    config = LearnedJudgeConfig(hidden=32, epochs=60, batch_size=64)
    judge = train_learned_judge(features[:400], targets, ["a", "b"], config=config)
    predicted = judge.predict(features[400:])
    for j in range(2):
        f1 = compare(predicted[:, j], truth[400:, j])["f1"]["value"]
        assert f1 > 0.85, (j, f1)  # predicting all-violated would score about 0.67
    judge.save(tmp_path / "judge")
    again = LearnedJudge.load(tmp_path / "judge")
    assert np.allclose(again.predict_proba(features[400:]), judge.predict_proba(features[400:]))


def test_metrics_match_hand_counts():
    result = compare([1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0], resamples=200)
    assert result["confusion"] == {"tp": 2, "fp": 1, "fn": 1, "tn": 2}
    assert result["precision"]["value"] == result["recall"]["value"] == round(2 / 3, 4)
    # kappa: observed 4/6, chance 0.5 -> 1/3
    assert result["kappa"]["value"] == round(1 / 3, 4)
    assert result["kappa"]["low"] <= result["kappa"]["value"] <= result["kappa"]["high"]
    empty = compare([], [])
    assert empty["n"] == 0 and empty["f1"]["value"] is None

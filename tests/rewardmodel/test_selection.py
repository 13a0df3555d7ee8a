import json
import time

import numpy as np
import pytest

from rewardmodel.selection import (
    PolicyError,
    SelectionInputs,
    policy_validate,
    random_baseline,
    select,
)


def _inputs(n: int = 1000, seed: int = 0) -> SelectionInputs:
    rng = np.random.default_rng(seed)
    return SelectionInputs(
        scores={"overall": rng.normal(size=n), "question": rng.random(n), "answer": rng.random(n)},
        categories=np.array(["conv", "detail", "complex"])[rng.integers(0, 3, n)],
        embeddings=rng.normal(size=(n, 16)).astype(np.float32),
        flags={"unsafe": rng.random(n) < 0.1, "pii": rng.random(n) < 0.05},
    )


def test_top_fraction_global_and_per_category():
    inputs = _inputs()
    overall = inputs.scores["overall"]
    result = select([{"op": "top_fraction", "score": "overall", "fraction": 0.1}], inputs)
    assert len(result.indices) == 100
    assert overall[result.indices].min() >= np.sort(overall)[-100]
    per = select([{"op": "top_k", "score": "overall", "k": 5, "per_category": True}], inputs)
    for category in ("conv", "detail", "complex"):
        members = np.flatnonzero(inputs.categories == category)
        best = members[np.argsort(-overall[members])[:5]]
        assert set(best) == set(per.indices[inputs.categories[per.indices] == category])


def test_align2llava_cascade_matches_manual_computation():
    inputs = _inputs(2000)
    result = select([{"op": "align2llava"}], inputs)
    expected = []
    for category in np.unique(inputs.categories):
        members = np.flatnonzero(inputs.categories == category)
        first = members[np.argsort(-inputs.scores["question"][members])][
            : round(0.3 * len(members))
        ]
        second = first[np.argsort(-inputs.scores["answer"][first])][: round(0.3 * len(first))]
        expected.extend(second)
    assert sorted(expected) == result.indices.tolist()
    assert [s["op"] for s in result.log] == ["align2llava"]


def test_exclusion_threshold_quota_and_random_baseline():
    inputs = _inputs()
    policy = [
        {"op": "exclude_flags", "flags": ["unsafe", "pii"]},
        {"op": "threshold", "score": "overall", "min": -1.0},
        {"op": "quota", "score": "overall", "quotas": {"conv": 10, "detail": 3}},
    ]
    result = select(json.loads(json.dumps(policy)), inputs)
    assert not (inputs.flags["unsafe"] | inputs.flags["pii"])[result.indices].any()
    assert (inputs.scores["overall"][result.indices] >= -1.0).all()
    counts = {
        c: int((inputs.categories[result.indices] == c).sum())
        for c in ("conv", "detail", "complex")
    }
    assert counts == {"conv": 10, "detail": 3, "complex": 0}
    baseline = random_baseline(1000, len(result.indices), seed=3, exclude=inputs.flags["unsafe"])
    assert len(set(baseline)) == 13 and not inputs.flags["unsafe"][baseline].any()


def test_dedup_keeps_best_of_near_duplicates():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(50, 32))
    embeddings = np.concatenate([base, base + 0.01 * rng.normal(size=base.shape)])
    scores = np.concatenate([np.zeros(50), np.ones(50)])  # the copies score higher
    inputs = SelectionInputs(scores={"s": scores}, embeddings=embeddings)
    result = select([{"op": "dedup", "threshold": 0.95, "score": "s", "block": 16}], inputs)
    assert result.indices.tolist() == list(range(50, 100))


def test_diversity_kcenter_and_mmr_spread_over_clusters():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 8)) * 10
    embeddings = np.repeat(centres, 50, axis=0) + rng.normal(size=(200, 8)) * 0.1
    scores = np.zeros(200)
    scores[:50] = 1.0  # one cluster scores best: top-k alone would take only it
    inputs = SelectionInputs(scores={"s": scores}, embeddings=embeddings)
    for step in (
        {"op": "diversity", "k": 4, "method": "kcenter", "score": "s"},
        {"op": "diversity", "k": 4, "method": "mmr", "score": "s", "lambda": 0.3},
    ):
        picked = select([step], inputs).indices
        assert sorted(set(picked // 50)) == [0, 1, 2, 3], step


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"op": "top_k"}, "a list of steps"),
        ([{"op": "nope"}], "unknown op"),
        ([{"op": "top_fraction", "score": "overall"}], "'fraction' is required"),
        ([{"op": "top_fraction", "score": "overall", "fraction": 1.5}], r"\(0, 1\]"),
        ([{"op": "top_k", "score": "overall", "k": 5, "extra": 1}], "unknown fields"),
        ([{"op": "random"}], "exactly one of 'k' and 'fraction'"),
        ([{"op": "threshold", "score": "overall"}], "'min', 'max'"),
        ([{"op": "diversity", "k": 3, "method": "mmr"}], "MMR needs a 'score'"),
    ],
)
def test_policy_validation_errors(policy, message):
    with pytest.raises(PolicyError, match=message):
        policy_validate(policy)


def test_policy_errors_against_inputs():
    inputs = _inputs(100)
    with pytest.raises(PolicyError, match="step 1 .*no score named 'missing'"):
        select([{"op": "top_k", "score": "missing", "k": 3}], inputs)
    with pytest.raises(PolicyError, match="unknown categories"):
        select([{"op": "quota", "score": "overall", "quotas": {"zzz": 1}}], inputs)
    with pytest.raises(PolicyError, match="no categories"):
        select([{"op": "align2llava"}], SelectionInputs(scores=inputs.scores))
    nan = SelectionInputs(scores={"overall": np.full(100, np.nan)})
    with pytest.raises(PolicyError, match="NaN"):
        select([{"op": "top_k", "score": "overall", "k": 3}], nan)


def test_steps_are_fast_on_158k_items():
    inputs = _inputs(158_000)
    for step in (
        {"op": "exclude_flags"},
        {"op": "top_fraction", "score": "overall", "fraction": 0.3, "per_category": True},
        {"op": "align2llava"},
        {"op": "random", "fraction": 0.09},
    ):
        start = time.perf_counter()
        select([step], inputs)
        assert time.perf_counter() - start < 1.0, step

import numpy as np
import pytest

from rewardmodel.evaluation import (
    pairwise_accuracy,
    spearman,
    split_by_item,
)


def test_pairwise_accuracy_counts_ties_half():
    assert pairwise_accuracy(np.array([1, 2, 3, 0]), np.array([0, 2, 4, -1])) == 0.625


def test_spearman_with_ties_and_nan():
    assert spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3, 4]), np.array([4, 3, 2, 1])) == pytest.approx(-1.0)
    # ties: ranks [0.5, 0.5, 2, 3] vs [0, 1, 2, 3]
    value = spearman(np.array([1, 1, 2, 3]), np.array([1, 2, 3, np.nan]))
    assert value == pytest.approx(0.8660254, rel=1e-6)


def test_split_by_item_never_shares_items():
    pair_items = [(f"i{k % 50}",) for k in range(500)] + [("i1", "i2"), ("i3", "i3")]
    train, evaluation = split_by_item(pair_items, 0.3, seed=1)
    train_items = {x for i in train for x in pair_items[i]}
    eval_items = {x for i in evaluation for x in pair_items[i]}
    assert train_items and eval_items and not (train_items & eval_items)
    assert 0.1 < len(evaluation) / 502 < 0.5
    with pytest.raises(ValueError, match="eval_fraction"):
        split_by_item(pair_items, 1.0)

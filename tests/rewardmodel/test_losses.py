import math

import pytest
import torch

from rewardmodel.losses import (
    bradley_terry_loss,
    ordinal_loss,
    rating_regression_loss,
    rule_bce_loss,
)


def _log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_bradley_terry_matches_hand_computation():
    r_c, r_r = torch.tensor([2.0, 0.5]), torch.tensor([1.0, 1.5])
    margin = torch.tensor([0.5, 0.0])
    expected_bt = -(_log_sigmoid(2.0 - 1.0 - 0.5) + _log_sigmoid(0.5 - 1.5)) / 2
    expected_center = 0.01 * ((2.0 + 1.0) ** 2 + (0.5 + 1.5) ** 2) / 2
    loss = bradley_terry_loss(r_c, r_r, margin, center_coef=0.01)
    assert loss.item() == pytest.approx(expected_bt + expected_center, rel=1e-6)
    assert bradley_terry_loss(r_c, r_r).item() == pytest.approx(
        -(_log_sigmoid(1.0) + _log_sigmoid(-1.0)) / 2, rel=1e-6
    )


def test_bradley_terry_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="chosen"):
        bradley_terry_loss(torch.zeros(3), torch.zeros(2))


def test_rating_loss_ignores_nan_targets():
    predicted = torch.tensor([0.2, 0.9, 0.5])
    target = torch.tensor([0.0, float("nan"), 1.0])
    assert rating_regression_loss(predicted, target).item() == pytest.approx((0.04 + 0.25) / 2)
    assert rating_regression_loss(predicted, torch.full((3,), float("nan"))).item() == 0.0


def test_rule_bce_matches_hand_computation():
    logits = torch.tensor([0.0, 2.0, 1.0])
    verdicts = torch.tensor([1.0, 0.0, float("nan")])
    expected = (-_log_sigmoid(0.0) - _log_sigmoid(-2.0)) / 2
    assert rule_bce_loss(logits, verdicts).item() == pytest.approx(expected, rel=1e-6)


def test_ordinal_loss_matches_hand_computation():
    logits = torch.tensor([1.0])
    thresholds = torch.tensor([0.0, 2.0])
    # level 1: above cut 0 (target 1), not above cut 1 (target 0)
    expected = (-_log_sigmoid(1.0) - _log_sigmoid(-(1.0 - 2.0))) / 2
    assert ordinal_loss(logits, thresholds, torch.tensor([1])).item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="levels"):
        ordinal_loss(logits, thresholds, torch.tensor([3]))

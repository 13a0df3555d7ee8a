"""Losses for the reward head: Bradley-Terry on pairs, ratings, and rule verdicts."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bradley_terry_loss(
    r_chosen: torch.Tensor,
    r_rejected: torch.Tensor,
    margin: torch.Tensor | None = None,
    center_coef: float = 0.0,
) -> torch.Tensor:
    """``mean(-logsigmoid(r_c - r_r - margin)) + center_coef * mean((r_c + r_r) ** 2)``.

    The centering term (as in TRL's RewardTrainer) keeps rewards near zero mean, since the BT
    loss only sees differences and would otherwise let the offset drift.
    """
    if r_chosen.shape != r_rejected.shape:
        raise ValueError(f"chosen {tuple(r_chosen.shape)} vs rejected {tuple(r_rejected.shape)}")
    diff = r_chosen - r_rejected
    if margin is not None:
        diff = diff - margin
    loss = -F.logsigmoid(diff).mean()
    if center_coef:
        loss = loss + center_coef * ((r_chosen + r_rejected) ** 2).mean()
    return loss


def rating_regression_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the entries whose target is not NaN (0 if there are none).

    Ratings should be scaled to [0, 1] (or standardised) by the caller so that one criterion
    with a wide scale does not dominate.
    """
    mask = ~torch.isnan(target)
    if not mask.any():
        return predicted.sum() * 0.0
    return F.mse_loss(predicted[mask], target[mask])


def ordinal_loss(
    logits: torch.Tensor, thresholds: torch.Tensor, level: torch.Tensor
) -> torch.Tensor:
    """Cumulative-link (ordinal logistic) loss for integer levels ``0..K-1``.

    ``logits``: (N,) scores; ``thresholds``: (K-1,) increasing cut points; ``level``: (N,)
    long. P(level > k) = sigmoid(score - threshold_k); each cut point is a BCE term.
    """
    if level.dtype not in (torch.int64, torch.int32):
        raise TypeError("ordinal levels must be integer tensors")
    if (level < 0).any() or (level > thresholds.numel()).any():
        raise ValueError(f"levels must lie in 0..{thresholds.numel()}")
    above = (level.unsqueeze(1) > torch.arange(thresholds.numel(), device=level.device)).float()
    return F.binary_cross_entropy_with_logits(logits.unsqueeze(1) - thresholds, above)


def rule_bce_loss(logits: torch.Tensor, verdicts: torch.Tensor) -> torch.Tensor:
    """BCE for rule verdicts (1 = rule violated), ignoring NaN entries (rule not judged)."""
    mask = ~torch.isnan(verdicts)
    if not mask.any():
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[mask], verdicts[mask])

"""The recipe's loss (spec.recipe.Loss) as torch.nn.functional losses, mean reduction."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from netparity.spec.recipe import Loss


def make_loss(loss: Loss) -> tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], str]:
    """The loss function and what it is, for the report.

    huber is F.huber_loss(delta) (HuberLoss); SmoothL1Loss(beta) would be it divided by beta.
    bce on probabilities is F.binary_cross_entropy, which clamps each log at -100."""
    if loss.name == "mse":
        return F.mse_loss, "F.mse_loss"
    if loss.name == "mae":
        return F.l1_loss, "F.l1_loss"
    if loss.name == "huber":
        return partial(F.huber_loss, delta=loss.delta), f"F.huber_loss(delta={loss.delta})"
    if loss.name == "bce":
        if loss.from_logits:
            return F.binary_cross_entropy_with_logits, "F.binary_cross_entropy_with_logits"
        return F.binary_cross_entropy, "F.binary_cross_entropy"
    s = loss.label_smoothing
    if not loss.from_logits:  # probabilities: torch's nll_loss of their log
        return (lambda p, labels: F.nll_loss(torch.log(p), labels)), "F.nll_loss(torch.log(p))"
    return partial(F.cross_entropy, label_smoothing=s), f"F.cross_entropy(label_smoothing={s})"

"""The learning-rate decay policies of the paper's experiment 3 (Adam with per-iteration decay).

With ``t`` the iteration (optimizer step) count and ``a_1`` the initial learning rate
(Hayashi et al., arXiv:1611.01505, section 3.3):

    exponential   a_t = a_1 exp(-g t)
    inverse time  a_t = a_1 / (1 + g t)
    inverse sqrt  a_t = a_1 / sqrt(1 + g t)

The paper chooses ``g`` per policy so that after the whole run (``T`` iterations) the learning
rate is ``a_1 / k``, for ``k`` in :data:`PAPER_DECAY_FACTORS`: ``g = ln(k) / T``,
``(k - 1) / T`` and ``(k**2 - 1) / T`` respectively.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = [
    "DECAY_POLICIES",
    "PAPER_DECAY_FACTORS",
    "decay_multiplier",
    "gamma_for_final_factor",
    "per_iteration_scheduler",
]

DECAY_POLICIES: tuple[str, ...] = ("exponential", "inverse-time", "inverse-sqrt")
PAPER_DECAY_FACTORS: tuple[float, ...] = (1e4, 5e3, 1e3, 5e2, 1e2, 50.0, 10.0, 5.0)
"""The paper's final-lr ratios k: after the run, the learning rate is a_1 / k."""


def _check_policy(policy: str) -> None:
    if policy not in DECAY_POLICIES:
        raise ValueError(
            f"unknown decay policy {policy!r}: choose from {', '.join(DECAY_POLICIES)}"
        )


def gamma_for_final_factor(policy: str, k: float, total_iterations: int) -> float:
    """The decay rate ``g`` that brings the learning rate to ``a_1 / k`` after the run.

    Example:
        >>> round(gamma_for_final_factor("inverse-time", 10.0, 39_100), 10)  # the paper's best
        0.000230179
        >>> round(gamma_for_final_factor("exponential", 50.0, 39_100), 10)
        0.0001000517
    """
    _check_policy(policy)
    if not (k >= 1.0 and math.isfinite(k)):
        raise ValueError(f"Invalid k: {k!r}; the final-lr ratio must be a finite number >= 1.")
    if total_iterations < 1:
        raise ValueError(f"Invalid total_iterations: {total_iterations!r}; it must be >= 1.")
    if policy == "exponential":
        return math.log(k) / total_iterations
    if policy == "inverse-time":
        return (k - 1.0) / total_iterations
    return (k * k - 1.0) / total_iterations


def decay_multiplier(policy: str, gamma: float) -> Callable[[int], float]:
    """``t -> a_t / a_1`` for ``policy`` and decay rate ``gamma`` (``t`` = iterations done).

    Example:
        >>> decay_multiplier("inverse-sqrt", 0.5)(6)
        0.5
    """
    _check_policy(policy)
    if not (gamma >= 0.0 and math.isfinite(gamma)):
        raise ValueError(f"Invalid gamma: {gamma!r}; the decay rate must be a finite number >= 0.")
    if policy == "exponential":
        return lambda t: math.exp(-gamma * t)
    if policy == "inverse-time":
        return lambda t: 1.0 / (1.0 + gamma * t)
    return lambda t: 1.0 / math.sqrt(1.0 + gamma * t)


def per_iteration_scheduler(
    optimizer: torch.optim.Optimizer, policy: str, gamma: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` applying the policy; call its ``step()`` after every optimizer step."""
    import torch

    return torch.optim.lr_scheduler.LambdaLR(optimizer, decay_multiplier(policy, gamma))

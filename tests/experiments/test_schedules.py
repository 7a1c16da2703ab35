"""Experiment 3's decay policies: exact learning rates, and g derived from the final ratio k."""

from __future__ import annotations

import math

import pytest
import torch

from eveopt.experiments.schedules import (
    DECAY_POLICIES,
    PAPER_DECAY_FACTORS,
    decay_multiplier,
    gamma_for_final_factor,
    per_iteration_scheduler,
)


@pytest.mark.parametrize(
    ("policy", "t", "expected"),
    [
        ("exponential", 0, 1.0),
        ("exponential", 10, math.exp(-1.0)),
        ("inverse-time", 10, 0.5),
        ("inverse-time", 30, 0.25),
        ("inverse-sqrt", 30, 0.5),
        ("inverse-sqrt", 150, 0.25),
    ],
)
def test_multiplier_at_chosen_iterations(policy: str, t: int, expected: float) -> None:
    assert decay_multiplier(policy, 0.1)(t) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("policy", DECAY_POLICIES)
@pytest.mark.parametrize("k", PAPER_DECAY_FACTORS)
def test_gamma_brings_the_final_lr_to_a1_over_k(policy: str, k: float) -> None:
    total = 39_100  # 100 epochs of CIFAR-100 at batch 128: 391 iterations each
    gamma = gamma_for_final_factor(policy, k, total)
    assert decay_multiplier(policy, gamma)(total) == pytest.approx(1.0 / k, rel=1e-12)


def test_gamma_matches_the_authors_logged_best_decays() -> None:
    """PAPER.md: best inverse-time g 2.3e-4 (k = 10), best exponential g 1e-4 (k = 50)."""
    assert gamma_for_final_factor("inverse-time", 10.0, 39_100) == pytest.approx(2.3e-4, rel=1e-2)
    assert gamma_for_final_factor("exponential", 50.0, 39_100) == pytest.approx(1e-4, rel=1e-3)


def test_scheduler_steps_the_lr_per_iteration() -> None:
    weight = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([weight], lr=0.1)
    scheduler = per_iteration_scheduler(opt, "inverse-time", 0.5)
    seen = []
    for _ in range(4):
        weight.grad = torch.ones_like(weight)
        opt.step()
        scheduler.step()
        seen.append(opt.param_groups[0]["lr"])
    assert seen == pytest.approx([0.1 / 1.5, 0.1 / 2.0, 0.1 / 2.5, 0.1 / 3.0], rel=1e-15)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: decay_multiplier("linear", 0.1), "unknown decay policy"),
        (lambda: decay_multiplier("exponential", -1.0), "Invalid gamma"),
        (lambda: gamma_for_final_factor("exponential", 0.5, 10), "Invalid k"),
        (lambda: gamma_for_final_factor("exponential", 5.0, 0), "Invalid total_iterations"),
    ],
)
def test_bad_arguments_name_the_argument(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]

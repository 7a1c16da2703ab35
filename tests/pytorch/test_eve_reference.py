"""Eve for PyTorch against independent references: SPEC.md values, NumPy, torch.optim.Adam."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from eveopt import Eve, Eve2016
from numpy_reference import NumpyEve, NumpyEve2016

REL64 = 1e-10
SPEC_LOSSES = [2.0, 1.5, 1.6, 1.2]


def quadratic_run(steps: int, **kwargs: Any) -> tuple[list[float], float]:
    """SPEC.md: f = 0.5 (x^2 + 10 y^2) from (1, 1), lr 0.1, loss fed = f at the current point."""
    point = torch.nn.Parameter(torch.tensor([1.0, 1.0], dtype=torch.float64))
    opt = Eve([point], lr=0.1, **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * (point[0] ** 2 + 10 * point[1] ** 2)
        loss.backward()
        opt.step(loss=loss)
    return point.tolist(), opt.d


def test_quadratic_three_steps_match_spec() -> None:
    point, d_tilde = quadratic_run(3)
    assert point == pytest.approx([0.701362167204, 0.701362164397], rel=REL64)
    assert d_tilde == pytest.approx(0.998499896061, rel=REL64)


def test_quadratic_with_c_one_is_adam_per_spec() -> None:
    point, d_tilde = quadratic_run(3, c=1.0)
    assert point == pytest.approx([0.701586274504, 0.701586271699], rel=REL64)
    assert d_tilde == 1.0


def fixed_gradient_run(
    gradient: float, losses: list[float], lr: float, **kwargs: Any
) -> list[float]:
    theta = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = Eve([theta], lr=lr, **kwargs)
    trajectory = []
    for loss in losses:
        theta.grad = torch.full_like(theta, gradient)
        opt.step(loss=loss)
        trajectory.append(theta.item())
    return trajectory


def test_fixed_gradient_trajectory_matches_spec() -> None:
    trajectory = fixed_gradient_run(1.0, SPEC_LOSSES, lr=1e-3)
    expected = [-0.00099999999, -0.00200066709140093, -0.00300223553758766, -0.00400447161717297]
    assert trajectory == pytest.approx(expected, rel=REL64)


def test_eps_is_added_to_sqrt_v_hat_per_spec() -> None:
    trajectory = fixed_gradient_run(1e-8, [1.0, 0.25], lr=1e-3, beta3=0.5)
    assert trajectory == pytest.approx([-5e-4, -7.5e-4], rel=REL64)


def test_d_tilde_after_each_step_matches_spec_and_reads_as_float() -> None:
    theta = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = Eve([theta])
    assert opt.d == 1.0
    seen = []
    for loss in SPEC_LOSSES:
        theta.grad = torch.ones_like(theta)
        opt.step(loss=loss)
        seen.append(opt.d)
    assert all(isinstance(d, float) for d in seen)
    assert seen == pytest.approx([1, 0.99933333333333, 0.998434, 0.99776889933333], rel=REL64)
    assert opt.effective_lr == pytest.approx([1e-3 / seen[-1]], rel=REL64)


def regression_problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(64, 5))
    targets = features @ rng.normal(size=5) + 0.1 * rng.normal(size=64)
    return features, targets, rng.normal(size=5)


def numpy_loss_and_grad(
    theta: np.ndarray, features: np.ndarray, targets: np.ndarray
) -> tuple[float, np.ndarray]:
    residual = features @ theta - targets
    return float(0.5 * np.mean(residual**2)), features.T @ residual / len(targets)


@pytest.mark.parametrize(
    ("make_torch", "make_numpy"),
    [
        pytest.param(
            lambda p: Eve(p, lr=0.05, beta3=0.99),
            lambda t: NumpyEve(t, lr=0.05, beta3=0.99),
            id="final",
        ),
        pytest.param(
            lambda p: Eve(p, lr=0.05, c=3.0, f_star=0.001),
            lambda t: NumpyEve(t, lr=0.05, c=3.0, f_star=0.001),
            id="final-c3-fstar",
        ),
        pytest.param(
            lambda p: Eve2016(p, lr=0.05), lambda t: NumpyEve2016(t, lr=0.05), id="first-version"
        ),
    ],
)
def test_trajectory_matches_independent_numpy_reference(
    make_torch: Callable[[list[torch.Tensor]], torch.optim.Optimizer],
    make_numpy: Callable[[np.ndarray], NumpyEve],
) -> None:
    features, targets, theta0 = regression_problem()
    reference = make_numpy(theta0)
    theta = torch.nn.Parameter(torch.tensor(theta0))
    opt = make_torch([theta])
    x, y = torch.tensor(features), torch.tensor(targets)
    max_rel_d = 0.0
    for _ in range(200):
        opt.zero_grad()
        loss = 0.5 * torch.mean((x @ theta - y) ** 2)
        loss.backward()
        opt.step(loss=loss)
        ref_loss, ref_grad = numpy_loss_and_grad(reference.theta, features, targets)
        reference.step(ref_loss, ref_grad)
        np.testing.assert_allclose(theta.detach().numpy(), reference.theta, rtol=1e-9, atol=1e-12)
        max_rel_d = max(max_rel_d, abs(opt.d / reference.d - 1))  # type: ignore[attr-defined]
    assert max_rel_d < 1e-10
    assert reference.d != 1.0  # the feedback really moved


def small_mlp(seed: int, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).to(
        dtype
    )


ADAM_OPTIONS = {
    "plain": {},
    "amsgrad": {"amsgrad": True},
    "l2": {"weight_decay": 0.05},
    "decoupled": {"weight_decay": 0.05, "decoupled_weight_decay": True},
    "maximize": {"maximize": True},
}
PATHS = {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


@pytest.mark.parametrize("options", ADAM_OPTIONS.values(), ids=ADAM_OPTIONS.keys())
@pytest.mark.parametrize("path", PATHS.values(), ids=PATHS.keys())
def test_c_one_is_torch_adam_bit_for_bit(options: dict[str, Any], path: dict[str, Any]) -> None:
    eve_model, adam_model = small_mlp(0), small_mlp(0)
    eve = Eve(eve_model.parameters(), lr=1e-2, c=1.0, **options, **path)
    adam = torch.optim.Adam(adam_model.parameters(), lr=1e-2, **options, **path)
    sign = -1.0 if options.get("maximize") else 1.0  # maximise -CE, whose supremum is f_star = 0
    generator = torch.Generator().manual_seed(1)
    for _ in range(50):
        x = torch.randn(32, 6, generator=generator)
        y = torch.randint(0, 3, (32,), generator=generator)
        for model, opt in ((eve_model, eve), (adam_model, adam)):
            opt.zero_grad()
            loss = sign * torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step(loss=loss) if opt is eve else opt.step()
    for p_eve, p_adam in zip(eve_model.parameters(), adam_model.parameters(), strict=True):
        assert torch.equal(p_eve, p_adam)
        for key in adam.state[p_adam]:
            assert torch.equal(eve.state[p_eve][key], adam.state[p_adam][key]), key
    assert eve.d == 1.0


def test_default_c_differs_from_adam() -> None:
    """The property above is not vacuous: with c=10 the trajectories separate."""
    eve_model, adam_model = small_mlp(0), small_mlp(0)
    eve = Eve(eve_model.parameters(), lr=1e-2)
    adam = torch.optim.Adam(adam_model.parameters(), lr=1e-2)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    for _ in range(5):
        for model, opt in ((eve_model, eve), (adam_model, adam)):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step(loss=loss) if opt is eve else opt.step()
    assert not torch.equal(next(eve_model.parameters()), next(adam_model.parameters()))


def test_complex_parameters_follow_adam() -> None:
    torch.manual_seed(0)
    init = torch.randn(4, dtype=torch.complex128)
    eve_param, adam_param = torch.nn.Parameter(init.clone()), torch.nn.Parameter(init.clone())
    eve = Eve([eve_param], lr=1e-2, c=1.0)
    adam = torch.optim.Adam([adam_param], lr=1e-2)
    for _ in range(10):
        for param, opt in ((eve_param, eve), (adam_param, adam)):
            opt.zero_grad()
            loss = (param.abs() ** 2).sum()
            loss.backward()
            opt.step(loss=loss) if opt is eve else opt.step()
    assert torch.equal(eve_param, adam_param)

"""eveopt.optax against independent references: SPEC.md values, NumPy, optax.adam, the authors.

Every run is jitted (``jax.jit`` over ``lax.scan``), in float64 (rel 1e-10) and in float32
(rel 1e-5) through the ``precision`` fixture.
"""

from __future__ import annotations

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from eve_jax_runs import Precision, constant_gradients, minimise, replay

from eveopt.optax import eve, scale_by_loss_feedback
from numpy_reference import NumpyEve

SPEC_LOSSES = [2.0, 1.5, 1.6, 1.2]
SPEC_D_TILDE = [1, 0.99933333333333, 0.998434, 0.99776889933333]
TRACE = Path(__file__).parents[1] / "vectors" / "eve_trace_resnet_first3000.npz"

D_TILDE_CASES = [
    pytest.param(SPEC_LOSSES, {}, SPEC_D_TILDE, id="defaults"),
    pytest.param(
        SPEC_LOSSES, {"b3": 0.9}, [1, 0.93333333333333, 0.85, 0.79833333333333], id="b3=0.9"
    ),
    pytest.param([1.0, 1.0, 1.0], {}, [1, 0.9991, 0.9982009], id="identical-losses"),
    pytest.param([0.0, 0.0], {}, [1, 1.0], id="zero-distance-no-change"),
    pytest.param([1.0, 0.0], {}, [1, 1.009], id="zero-distance-change-gives-c"),
    pytest.param(
        [2.0, 0.5, 0.4], {"f_star": 1.0}, [1, 1.002, 1.0011646666667], id="loss-below-f_star"
    ),
    pytest.param([2.0, math.nan, 1.5], {}, [1, 1, 0.99933333333333], id="nan-skipped"),
    pytest.param(
        [2.0, math.inf, -math.inf, 1.5], {}, [1, 1, 1, 0.99933333333333], id="inf-skipped"
    ),
    pytest.param([100 * loss for loss in SPEC_LOSSES], {}, SPEC_D_TILDE, id="losses-x100"),
    pytest.param(
        [100 + loss for loss in SPEC_LOSSES], {"f_star": 100.0}, SPEC_D_TILDE, id="losses+100"
    ),
]


@pytest.mark.parametrize(("losses", "hyper", "expected"), D_TILDE_CASES)
def test_d_tilde_matches_spec(
    precision: Precision, losses: list[float], hyper: dict[str, float], expected: list[float]
) -> None:
    opt = eve(1e-3, **hyper)
    params0 = jnp.zeros(1, precision.dtype)
    loss_array = jnp.asarray(losses, precision.dtype)
    d_tilde, trajectory = replay(
        opt, params0, loss_array, constant_gradients(losses, precision.dtype)
    )
    assert d_tilde.dtype == precision.dtype
    assert d_tilde.tolist() == pytest.approx(expected, rel=precision.rel)
    assert bool(jnp.all(jnp.isfinite(trajectory)))  # a skipped loss still updates the parameters


def quadratic(point: jax.Array) -> jax.Array:
    """SPEC.md: f = 0.5 (x^2 + 10 y^2)."""
    return 0.5 * (point[0] ** 2 + 10 * point[1] ** 2)


def test_quadratic_three_steps_match_spec(precision: Precision) -> None:
    point, _, d_tilde = minimise(eve(0.1), quadratic, jnp.ones(2, precision.dtype), steps=3)
    assert point.tolist() == pytest.approx([0.701362167204, 0.701362164397], rel=precision.rel)
    assert float(d_tilde[-1]) == pytest.approx(0.998499896061, rel=precision.rel)


def test_quadratic_with_c_one_is_adam_per_spec(precision: Precision) -> None:
    point, _, d_tilde = minimise(eve(0.1, c=1.0), quadratic, jnp.ones(2, precision.dtype), 3)
    assert point.tolist() == pytest.approx([0.701586274504, 0.701586271699], rel=precision.rel)
    assert d_tilde.tolist() == [1.0, 1.0, 1.0]


def test_fixed_gradient_trajectory_matches_spec(precision: Precision) -> None:
    losses = jnp.asarray(SPEC_LOSSES, precision.dtype)
    gradients = constant_gradients(SPEC_LOSSES, precision.dtype)
    _, trajectory = replay(eve(1e-3), jnp.zeros(1, precision.dtype), losses, gradients)
    expected = [-0.00099999999, -0.00200066709140093, -0.00300223553758766, -0.00400447161717297]
    assert trajectory[:, 0].tolist() == pytest.approx(expected, rel=precision.rel)


def test_eps_is_added_to_sqrt_v_hat_per_spec(precision: Precision) -> None:
    losses = [1.0, 0.25]
    gradients = constant_gradients(losses, precision.dtype, gradient=1e-8)
    opt = eve(1e-3, b3=0.5)
    params0 = jnp.zeros(1, precision.dtype)
    _, trajectory = replay(opt, params0, jnp.asarray(losses, precision.dtype), gradients)
    assert trajectory[:, 0].tolist() == pytest.approx([-5e-4, -7.5e-4], rel=precision.rel)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64], ids=["float32", "float64"])
def test_authors_trace_excerpt_is_reproduced(dtype: type) -> None:
    """Their CIFAR-100 ResNet run: their 3,000 logged losses in, their logged d_tilde out."""
    trace = np.load(TRACE)
    losses = trace["batch_losses"]
    with jax.enable_x64(dtype is jnp.float64):
        opt = eve(float(trace["lr"]))
        params0 = jnp.zeros(1, dtype)
        gradients = constant_gradients(losses.tolist(), dtype)
        d_tilde, _ = replay(opt, params0, jnp.asarray(losses, dtype), gradients)
        d_tilde = np.asarray(d_tilde)
    np.testing.assert_allclose(d_tilde, trace["d_tilde"], rtol=1e-4)
    assert d_tilde.min() < 0.9  # the excerpt exercises the feedback, not just d_tilde = 1


def regression_problem(steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A parameter vector, per-step gradients and a noisy decreasing loss curve."""
    rng = np.random.default_rng(seed)
    theta0 = rng.normal(size=5)
    gradients = rng.normal(size=(steps, 5))
    losses = 2.0 * np.exp(-0.05 * np.arange(steps)) * (1 + 0.3 * rng.normal(size=steps)) + 0.1
    return theta0, gradients, losses


@pytest.mark.usefixtures("x64")
def test_c_one_is_optax_adam_bitwise_in_float64() -> None:
    """Same jitted loop for both; ``d_tilde`` stays exactly 1, and dividing by 1 is exact."""
    theta0, gradients, losses = regression_problem(steps=50)
    d_tilde, eve_trajectory = replay(eve(0.05, c=1.0), jnp.asarray(theta0), losses, gradients)
    _, adam_trajectory = replay(optax.adam(0.05), jnp.asarray(theta0), losses, gradients)
    assert np.all(np.asarray(d_tilde) == 1.0)
    np.testing.assert_array_equal(np.asarray(eve_trajectory), np.asarray(adam_trajectory))


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize(
    "hyper",
    [{"lr": 0.05, "beta3": 0.99}, {"lr": 0.05, "c": 3.0, "f_star": 0.05, "beta1": 0.8}],
    ids=["final", "final-c3-f_star"],
)
def test_trajectory_matches_independent_numpy_reference(hyper: dict[str, float]) -> None:
    theta0, gradients, losses = regression_problem(steps=60, seed=1)
    reference = NumpyEve(theta0, **hyper)
    expected_d, expected_theta = [], []
    for loss, gradient in zip(losses.tolist(), gradients, strict=True):
        reference.step(loss, gradient)
        expected_d.append(reference.d)
        expected_theta.append(reference.theta)
    opt = eve(
        hyper["lr"],
        b1=hyper.get("beta1", 0.9),
        b3=hyper.get("beta3", 0.999),
        c=hyper.get("c", 10.0),
        f_star=hyper.get("f_star", 0.0),
    )
    d_tilde, trajectory = replay(opt, jnp.asarray(theta0), losses, gradients)
    np.testing.assert_allclose(np.asarray(d_tilde), expected_d, rtol=1e-10, atol=0)
    np.testing.assert_allclose(np.asarray(trajectory), np.stack(expected_theta), rtol=1e-10)


def test_feedback_after_another_optimizer_divides_its_updates_by_d(precision: Precision) -> None:
    """``scale_by_loss_feedback`` composes with any optax optimizer: here SGD with momentum."""
    gradients = jnp.asarray([[1.0, -2.0], [0.5, 1.0], [2.0, 0.0], [-1.0, 1.0]], precision.dtype)
    losses = jnp.asarray(SPEC_LOSSES, precision.dtype)
    sgd = optax.sgd(0.1, momentum=0.9)
    with_feedback = optax.chain(sgd, scale_by_loss_feedback())
    params = jnp.zeros(2, precision.dtype)
    sgd_state, state = sgd.init(params), with_feedback.init(params)
    for loss, gradient, d_expected in zip(losses, gradients, SPEC_D_TILDE, strict=True):
        sgd_updates, sgd_state = sgd.update(gradient, sgd_state, params)
        updates, state = with_feedback.update(gradient, state, params, value=loss)
        assert updates.dtype == precision.dtype
        assert updates.tolist() == pytest.approx(
            (sgd_updates / d_expected).tolist(), rel=precision.rel
        )

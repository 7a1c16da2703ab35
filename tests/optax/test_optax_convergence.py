"""Eve minimises a quadratic and Rosenbrock's function under ``jit`` and ``lax.scan``.

Each run is checked twice: in float64 against the independent NumPy reference, step by step, and
in float32 against the final loss it reached when these tests were written (thresholds about 10x
above the measured value) with ``d`` inside ``[1/c, c]`` throughout.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from eve_jax_runs import minimise

from eveopt.optax import eve
from numpy_reference import NumpyEve

NumpyObjective = Callable[[np.ndarray], tuple[float, np.ndarray]]


def quadratic(point: jax.Array) -> jax.Array:
    return 0.5 * (point[0] ** 2 + 10 * point[1] ** 2)


def quadratic_numpy(point: np.ndarray) -> tuple[float, np.ndarray]:
    return float(quadratic(point)), np.array([point[0], 10 * point[1]])


def rosenbrock(point: jax.Array) -> jax.Array:
    return (1 - point[0]) ** 2 + 100 * (point[1] - point[0] ** 2) ** 2


def rosenbrock_numpy(point: np.ndarray) -> tuple[float, np.ndarray]:
    x, y = point
    gradient = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
    return float(rosenbrock(point)), gradient


# (objective, its NumPy twin, start, lr, steps, steps compared with NumPy, float32 loss bound).
# Near Rosenbrock's minimum the loss is ~1e-12 and its relative changes are rounding noise, so the
# step-by-step comparison stops before; the quadratic is compared all the way.
PROBLEMS = {
    "quadratic": (quadratic, quadratic_numpy, [1.0, 1.0], 0.1, 300, 300, 1e-12),
    "rosenbrock": (rosenbrock, rosenbrock_numpy, [-1.5, 2.0], 0.01, 3000, 2000, 2e-12),
}


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("name", PROBLEMS)
def test_float64_run_follows_the_numpy_reference_step_by_step(name: str) -> None:
    objective, objective_numpy, start, lr, steps, compared, _ = PROBLEMS[name]
    _, values, d_tilde = minimise(eve(lr), objective, jnp.asarray(start), steps)
    reference = NumpyEve(np.array(start), lr=lr)
    expected_values, expected_d = [], []
    for _ in range(compared):
        value, gradient = objective_numpy(reference.theta)
        reference.step(value, gradient)
        expected_values.append(value)
        expected_d.append(reference.d)
    np.testing.assert_allclose(np.asarray(values[:compared]), expected_values, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(d_tilde[:compared]), expected_d, rtol=1e-10)


@pytest.mark.parametrize("name", PROBLEMS)
def test_float32_run_converges_with_d_inside_its_clip_range(name: str) -> None:
    objective, _, start, lr, steps, _, loss_bound = PROBLEMS[name]
    point, _, d_tilde = minimise(eve(lr), objective, jnp.asarray(start), steps)
    assert point.dtype == jnp.float32
    assert float(objective(point)) < loss_bound
    assert 0.1 <= float(d_tilde.min()) <= float(d_tilde.max()) <= 10.0

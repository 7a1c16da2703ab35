"""eveopt.optax as optax users meet it: errors, state, dtypes, compilation, imports."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from eveopt.optax import (
    MISSING_VALUE_MESSAGE,
    LossFeedbackState,
    eve,
    scale_by_eve,
    scale_by_loss_feedback,
)
from numpy_reference import NumpyEve


def test_missing_value_says_how_to_pass_the_loss() -> None:
    opt = eve(1e-3)
    params = jnp.zeros(2)
    state = opt.init(params)
    with pytest.raises(ValueError, match="value=") as raised:
        opt.update(jnp.ones(2), state, params)
    assert str(raised.value) == MISSING_VALUE_MESSAGE
    assert "jax.value_and_grad" in MISSING_VALUE_MESSAGE
    assert "update(grads, opt_state, params, value=loss)" in MISSING_VALUE_MESSAGE


def test_missing_value_fails_through_wrappers_too() -> None:
    opt = optax.inject_hyperparams(eve)(learning_rate=1e-3)
    params = jnp.zeros(2)
    state = opt.init(params)
    with pytest.raises(ValueError, match=r"jax\.value_and_grad"):
        jax.jit(opt.update)(jnp.ones(2), state, params)


def test_value_must_be_one_element() -> None:
    opt = scale_by_loss_feedback()
    params = jnp.zeros(2)
    state = opt.init(params)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        opt.update(jnp.ones(2), state, params, value=jnp.array([1.0, 2.0]))
    _, state = opt.update(jnp.ones(2), state, params, value=jnp.array([2.0]))
    _, state = opt.update(jnp.ones(2), state, params, value=np.float64(1.5))
    assert float(state.d) == pytest.approx(0.99933333333333, rel=1e-6)


@pytest.mark.parametrize(
    ("factory", "kwargs", "argument"),
    [
        (eve, {"learning_rate": -1.0}, "learning_rate"),
        (eve, {"learning_rate": 1e-3, "b1": 1.0}, "b1"),
        (scale_by_eve, {"b2": -0.1}, "b2"),
        (scale_by_eve, {"eps": -1e-8}, "eps"),
        (scale_by_loss_feedback, {"b3": 1.0}, "b3"),
        (scale_by_loss_feedback, {"c": 0.5}, "c"),
        (scale_by_loss_feedback, {"f_star": float("nan")}, "f_star"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(
    factory: Any, kwargs: dict[str, float], argument: str
) -> None:
    with pytest.raises(ValueError, match=f"Invalid {argument}:"):
        factory(**kwargs)


def test_state_is_a_named_tuple_whose_d_optax_tree_get_finds() -> None:
    opt = eve(1e-3)
    params = {"w": jnp.zeros((2, 3)), "b": jnp.zeros(3)}
    state = opt.init(params)
    feedback_state = state[1]
    assert isinstance(feedback_state, LossFeedbackState)
    assert feedback_state._fields == ("d", "prev_gap", "loss_count")
    assert float(optax.tree.get(state, "d")) == 1.0
    assert int(optax.tree.get(state, "count")) == 0  # Adam's count stays unambiguous
    grads = jax.tree.map(jnp.ones_like, params)
    for loss in [2.0, 1.5]:
        _, state = opt.update(grads, state, params, value=loss)
    assert float(optax.tree.get(state, "d")) == pytest.approx(0.99933333333333, rel=1e-6)
    assert int(optax.tree.get(state, "loss_count")) == 2


def step_function(opt: optax.GradientTransformationExtraArgs, traces: list[int]) -> Any:
    def step(params: Any, state: Any, loss: Any) -> tuple[Any, Any]:
        traces.append(1)  # runs once per trace, not per call
        grads = jax.tree.map(jnp.ones_like, params)
        updates, state = opt.update(grads, state, params, value=loss)
        return optax.apply_updates(params, updates), state

    return jax.jit(step)


def signature(tree: Any) -> Any:
    return jax.tree.map(lambda leaf: (leaf.shape, leaf.dtype, leaf.weak_type), tree)


@pytest.mark.parametrize("as_array", [True, False], ids=["array-loss", "python-float-loss"])
def test_no_recompilation_across_steps(as_array: bool) -> None:
    opt = eve(1e-2)
    params = {"w": jnp.ones(3), "b": jnp.zeros(())}
    state = opt.init(params)
    traces: list[int] = []
    step = step_function(opt, traces)
    initial_signature = signature(state)
    for loss in [2.0, 1.5, float("nan"), 1.6, 1.2, 0.0]:
        params, state = step(params, state, jnp.asarray(loss) if as_array else loss)
    assert len(traces) == 1
    assert signature(state) == initial_signature


def test_bfloat16_params_stay_bfloat16_and_float16_value_works() -> None:
    opt = eve(1e-2)
    params = {"w": jnp.ones(3, jnp.bfloat16), "b": jnp.zeros(2, jnp.float32)}
    state = opt.init(params)
    traces: list[int] = []
    step = step_function(opt, traces)
    losses = jnp.asarray([2.0, 1.5, 1.6, 1.2], jnp.float16)
    for value in losses:
        params, state = step(params, state, value)
    assert params["w"].dtype == jnp.bfloat16
    assert params["b"].dtype == jnp.float32
    d_tilde = optax.tree.get(state, "d")
    assert d_tilde.dtype == jnp.float32
    # d keeps float32 resolution (bfloat16's is 4e-3), computed from the float16 losses.
    reference = NumpyEve(np.zeros(1))
    for loss in losses.tolist():
        reference.coefficient(loss)
    assert float(d_tilde) == pytest.approx(reference.d, rel=1e-6)
    assert len(traces) == 1
    updates, _ = opt.update(jax.tree.map(jnp.ones_like, params), state, params, value=1.0)
    assert jax.tree.map(lambda leaf: leaf.dtype, updates) == {
        "w": jnp.bfloat16,
        "b": jnp.float32,
    }


@pytest.mark.usefixtures("x64")
def test_state_is_float64_with_x64_and_float32_updates_stay_float32() -> None:
    opt = eve(1e-2)
    params = jnp.ones(3, jnp.float32)
    state = opt.init(params)
    assert optax.tree.get(state, "d").dtype == jnp.float64
    updates, state = opt.update(jnp.ones(3, jnp.float32), state, params, value=2.0)
    assert updates.dtype == jnp.float32
    assert optax.tree.get(state, "prev_gap").dtype == jnp.float64


def run_steps(
    opt: optax.GradientTransformationExtraArgs, params: Any, gradients: Any, losses: Any
) -> tuple[list[Any], Any]:
    state = opt.init(params)
    trajectory = []
    update = jax.jit(opt.update)
    for gradient, loss in zip(gradients, losses, strict=True):
        updates, state = update(gradient, state, params, value=loss)
        params = optax.apply_updates(params, updates)
        trajectory.append(params)
    return trajectory, state


def problem(steps: int = 8, seed: int = 0) -> tuple[jax.Array, jax.Array, jax.Array]:
    rng = np.random.default_rng(seed)
    theta0 = jnp.asarray(rng.normal(size=4))
    gradients = jnp.asarray(rng.normal(size=(steps, 4)))
    losses = jnp.asarray(1.0 + np.abs(rng.normal(size=steps)))
    return theta0, gradients, losses


@pytest.mark.usefixtures("x64")
def test_learning_rate_schedule_is_read_at_every_step() -> None:
    theta0, gradients, losses = problem()
    schedule = optax.linear_schedule(0.05, 0.01, transition_steps=len(losses))
    trajectory, _ = run_steps(eve(schedule), theta0, gradients, losses)
    reference = NumpyEve(np.asarray(theta0))
    for step, (gradient, loss) in enumerate(zip(gradients, losses, strict=True)):
        reference.lr = float(schedule(step))
        reference.step(float(loss), np.asarray(gradient))
    # optax evaluates this schedule on its int32 count in float32, hence 1e-6 and not 1e-10; a
    # schedule read one step off is off by more than 1e-2.
    np.testing.assert_allclose(trajectory[-1], reference.theta, rtol=1e-6)


HYPER = {"b1": 0.8, "b2": 0.99, "b3": 0.9, "c": 3.0, "eps": 1e-6, "f_star": 0.5}


@pytest.mark.usefixtures("x64")
def test_inject_hyperparams_gives_the_same_results_bitwise_in_float64() -> None:
    theta0, gradients, losses = problem()
    plain, plain_state = run_steps(eve(0.05, **HYPER), theta0, gradients, losses)
    injected_opt = optax.inject_hyperparams(eve)(learning_rate=0.05, **HYPER)
    injected, injected_state = run_steps(injected_opt, theta0, gradients, losses)
    np.testing.assert_array_equal(np.stack(injected), np.stack(plain))
    assert float(optax.tree.get(injected_state, "d")) == float(optax.tree.get(plain_state, "d"))


def test_inject_hyperparams_gives_the_same_results_in_float32() -> None:
    """In float32 ``1 - b3`` rounds differently as a Python float and as an array, as in Adam."""
    theta0, gradients, losses = (jnp.asarray(x, jnp.float32) for x in problem())
    plain, _ = run_steps(eve(0.05, **HYPER), theta0, gradients, losses)
    injected_opt = optax.inject_hyperparams(eve)(learning_rate=0.05, **HYPER)
    injected, _ = run_steps(injected_opt, theta0, gradients, losses)
    np.testing.assert_allclose(np.stack(injected), np.stack(plain), rtol=1e-6, atol=1e-7)


def test_injected_c_can_be_changed_between_steps() -> None:
    opt = optax.inject_hyperparams(eve)(learning_rate=optax.linear_schedule(0.1, 0.01, 10))
    params = jnp.ones(2)
    state = opt.init(params)
    update = jax.jit(opt.update)
    for loss in [2.0, 1.5, 1.6]:
        _, state = update(jnp.ones(2), state, params, value=loss)
    assert float(optax.tree.get(state, "d")) != 1.0
    state.hyperparams["c"] = jnp.asarray(1.0)  # c = 1 clamps d to 1: Adam from here on
    _, state = update(jnp.ones(2), state, params, value=0.25)
    assert float(optax.tree.get(state, "d")) == 1.0


@pytest.mark.usefixtures("x64")
def test_apply_if_finite_skips_the_whole_step_on_non_finite_gradients() -> None:
    theta0, gradients, losses = problem()
    bad_gradients = gradients.at[3].set(jnp.nan)
    guarded = optax.apply_if_finite(eve(0.05), max_consecutive_errors=3)
    trajectory, state = run_steps(guarded, theta0, bad_gradients, losses)
    assert int(state.notfinite_count) == 0  # reset by the finite steps after the bad one
    keep = np.array([index for index in range(len(losses)) if index != 3])
    expected, expected_state = run_steps(eve(0.05), theta0, gradients[keep], losses[keep])
    np.testing.assert_array_equal(np.stack(trajectory)[keep], np.stack(expected))
    assert float(optax.tree.get(state, "d")) == float(optax.tree.get(expected_state, "d"))


@pytest.mark.usefixtures("x64")
def test_masked_eve_updates_only_the_masked_leaves_with_the_same_d() -> None:
    theta0, gradients, losses = problem()
    params = {"w": theta0, "frozen": jnp.ones(2)}
    grads = [{"w": gradient, "frozen": jnp.ones(2)} for gradient in gradients]
    opt = optax.chain(
        optax.masked(eve(0.05), {"w": True, "frozen": False}),
        optax.masked(optax.set_to_zero(), {"w": False, "frozen": True}),
    )
    trajectory, state = run_steps(opt, params, grads, losses)
    expected, expected_state = run_steps(eve(0.05), theta0, gradients, losses)
    np.testing.assert_array_equal(np.stack([p["w"] for p in trajectory]), np.stack(expected))
    assert trajectory[-1]["frozen"].tolist() == [1.0, 1.0]
    assert float(optax.tree.get(state, "d")) == float(optax.tree.get(expected_state, "d"))


@pytest.mark.usefixtures("x64")
def test_partition_runs_eve_on_its_group_only() -> None:
    theta0, gradients, losses = problem()
    params = {"w": theta0, "b": jnp.zeros(2)}
    grads = [{"w": gradient, "b": jnp.ones(2)} for gradient in gradients]
    opt = optax.partition({"eve": eve(0.05), "sgd": optax.sgd(0.1)}, {"w": "eve", "b": "sgd"})
    trajectory, _ = run_steps(opt, params, grads, losses)
    expected, _ = run_steps(eve(0.05), theta0, gradients, losses)
    np.testing.assert_array_equal(np.stack([p["w"] for p in trajectory]), np.stack(expected))
    assert trajectory[-1]["b"].tolist() == pytest.approx([-0.1 * len(losses)] * 2, rel=1e-12)


@pytest.mark.usefixtures("x64")
def test_multi_steps_with_the_mean_micro_batch_loss_is_eve_on_mean_gradients() -> None:
    theta0, gradients, losses = problem(steps=8)
    accumulated = optax.MultiSteps(eve(0.05), every_k_schedule=2)
    update = jax.jit(accumulated.update)
    params, state = theta0, accumulated.init(theta0)
    for index in range(0, len(losses), 2):
        window = losses[index : index + 2]
        for micro_step in range(2):
            # The mean loss of the micro-batches seen so far; the inner update uses the last one.
            value = jnp.mean(window[: micro_step + 1])
            updates, state = update(gradients[index + micro_step], state, params, value=value)
            params = optax.apply_updates(params, updates)
    mean_gradients = gradients.reshape(4, 2, 4).mean(axis=1)
    mean_losses = losses.reshape(4, 2).mean(axis=1)
    expected, expected_state = run_steps(eve(0.05), theta0, mean_gradients, mean_losses)
    assert float(optax.tree.get(state, "d")) == float(optax.tree.get(expected_state, "d"))
    # MultiSteps' running mean of the gradients differs from a plain mean in the last bits,
    # which Adam's step amplifies to ~1e-8 (the same with optax.adam).
    np.testing.assert_allclose(params, expected[-1], rtol=1e-7)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_import_eveopt_imports_no_framework() -> None:
    result = run_python(
        "import sys, eveopt; "
        "print(sorted(m for m in ('jax', 'optax', 'torch') if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_import_without_jax_names_the_extra() -> None:
    result = run_python("import sys; sys.modules['jax'] = None; import eveopt.optax")
    assert result.returncode != 0
    assert "ImportError: eveopt.optax needs JAX and optax" in result.stderr
    assert "pip install 'eveopt[jax]'" in result.stderr

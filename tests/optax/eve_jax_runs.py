"""Jitted training loops shared by the optax tests: replay given inputs, or minimise a function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class Precision(NamedTuple):
    """The float dtype a test runs in and the relative tolerance of SPEC.md values in it."""

    dtype: jnp.dtype
    rel: float


FLOAT64 = Precision(jnp.dtype(jnp.float64), 1e-10)
# Without x64, optax's bias correction and Eve's state run in float32.
FLOAT32 = Precision(jnp.dtype(jnp.float32), 1e-5)


def replay(
    opt: optax.GradientTransformationExtraArgs, params0: Any, losses: Any, gradients: Any
) -> tuple[jax.Array, Any]:
    """Feed ``losses[t]`` and ``gradients[t]`` at step t under ``jit`` and ``lax.scan``.

    Returns ``d_tilde`` and the parameters after every step.
    """

    @jax.jit
    def run(params0: Any, losses: Any, gradients: Any) -> tuple[jax.Array, Any]:
        def step(carry: Any, inputs: Any) -> tuple[Any, Any]:
            params, state = carry
            loss, gradient = inputs
            updates, state = opt.update(gradient, state, params, value=loss)
            params = optax.apply_updates(params, updates)
            return (params, state), (optax.tree.get(state, "d"), params)

        carry = (params0, opt.init(params0))
        _, (d_tilde, trajectory) = jax.lax.scan(step, carry, (losses, gradients))
        return d_tilde, trajectory

    return run(params0, losses, gradients)


def minimise(
    opt: optax.GradientTransformationExtraArgs,
    objective: Callable[[jax.Array], jax.Array],
    params0: jax.Array,
    steps: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Minimise ``objective`` feeding it its own value, under ``jit`` and ``lax.scan``.

    Returns the final parameters, the loss fed at every step and ``d_tilde`` after every step.
    """

    @jax.jit
    def run(params0: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        def step(carry: Any, _: None) -> tuple[Any, Any]:
            params, state = carry
            value, grad = jax.value_and_grad(objective)(params)
            updates, state = opt.update(grad, state, params, value=value)
            params = optax.apply_updates(params, updates)
            return (params, state), (value, optax.tree.get(state, "d"))

        (params, _), (values, d_tilde) = jax.lax.scan(
            step, (params0, opt.init(params0)), length=steps
        )
        return params, values, d_tilde

    return run(params0)


def constant_gradients(losses: list[float], dtype: Any, gradient: float = 1.0) -> jax.Array:
    """One parameter's gradient, the same at every step."""
    return jnp.full((len(losses), 1), gradient, dtype)

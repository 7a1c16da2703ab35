"""The shared branch-free rule itself under jax.jit, with f_star as a traced argument."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from eveopt.feedback import final_update_arrays


def test_rule_accepts_a_traced_f_star_and_reproduces_spec_values() -> None:
    """SPEC.md: f* = 1, losses [2.0, 0.5, 0.4] -> d_tilde = [1, 1.002, 1.0011646666667]."""

    @jax.jit
    def feed(losses: jax.Array, f_star: jax.Array) -> jax.Array:
        def step(
            carry: tuple[jax.Array, ...], loss: jax.Array
        ) -> tuple[tuple[jax.Array, ...], jax.Array]:
            d, prev, steps = final_update_arrays(
                *carry,
                loss,
                beta3=0.999,
                c=10.0,
                f_star=f_star,
                xp=jnp,  # type: ignore[arg-type]
            )
            return (d, prev, steps), d

        initial = (jnp.float32(1.0), jnp.float32(0.0), jnp.int32(0))
        return jax.lax.scan(step, initial, losses)[1]

    d_tilde = feed(jnp.array([2.0, 0.5, 0.4], jnp.float32), jnp.float32(1.0))
    assert [float(d) for d in d_tilde] == pytest.approx([1.0, 1.002, 1.0011646666667], rel=1e-6)

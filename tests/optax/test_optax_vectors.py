"""eveopt.optax replays the shared vectors (tests/vectors/eve_vectors.json), as PyTorch Eve does.

The same file is read by tests/pytorch/test_eve_vectors.py, so the two ports cannot drift apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest
from eve_jax_runs import Precision, replay

from eveopt.optax import eve

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "eve_vectors.json").read_text())


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[case["name"] for case in VECTORS["cases"]])
def test_optax_eve_replays_the_shared_vectors(precision: Precision, case: dict[str, Any]) -> None:
    hyper = case["hyperparameters"]
    opt = eve(
        hyper["lr"],
        b1=hyper["beta1"],
        b2=hyper["beta2"],
        b3=hyper["beta3"],
        c=hyper["c"],
        eps=hyper["eps"],
        f_star=hyper["f_star"],
    )
    d_tilde, trajectory = replay(
        opt,
        jnp.asarray(case["theta0"], precision.dtype),
        jnp.asarray(case["losses"], precision.dtype),
        jnp.asarray(case["gradients"], precision.dtype),
    )
    rel = VECTORS["float64_rel_tolerance"] if precision.dtype == jnp.float64 else precision.rel
    expected = case["expected"]
    np.testing.assert_allclose(np.asarray(d_tilde), expected["d_tilde"], rtol=rel, atol=0)
    np.testing.assert_allclose(np.asarray(trajectory), expected["theta"], rtol=rel, atol=0)

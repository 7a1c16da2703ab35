"""Write tests/vectors/eve_vectors.json: Eve's expected trajectories, from the NumPy reference.

The PyTorch and the optax tests both read the JSON, so the two ports are held to one set of
numbers. Each case gives the hyperparameters, the initial parameters, the loss and the gradient
fed at every step (the gradients are given, not computed, so any port can replay them), and the
expected ``d_tilde`` and parameters after every step, computed in float64 by
``tests/numpy_reference.py`` (written from the paper, not from eveopt).

Deterministic: the inputs come from fixed seeds and are rounded to 6 decimals, so running it again
rewrites the same file (a test checks this)::

    python tests/vectors/make_eve_vectors.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))
from numpy_reference import NumpyEve

VECTORS_FILE = Path(__file__).with_name("eve_vectors.json")
DIMENSION = 3
STEPS = 16


def noisy_decreasing_losses(rng: np.random.Generator, start: float, floor: float) -> list[float]:
    """A loss curve that decays towards ``floor`` with mini-batch noise, sometimes going up."""
    steps = np.arange(STEPS)
    curve = floor + (start - floor) * np.exp(-0.15 * steps) * (1 + 0.3 * rng.normal(size=STEPS))
    return np.round(curve, 6).tolist()


def case(
    name: str,
    rng: np.random.Generator,
    losses: list[float],
    hyperparameters: dict[str, float],
    loss_below_f_star: bool = False,
) -> dict[str, Any]:
    """Replay ``losses`` and random gradients through the reference; record every step."""
    hyperparameters = {
        "lr": 1e-3,
        "beta1": 0.9,
        "beta2": 0.999,
        "beta3": 0.999,
        "c": 10.0,
        "eps": 1e-8,
        "f_star": 0.0,
        **hyperparameters,
    }
    theta0 = np.round(rng.normal(size=DIMENSION), 6)
    gradients = np.round(rng.normal(size=(len(losses), DIMENSION)), 6)
    reference = NumpyEve(theta0, **hyperparameters)
    d_tilde, theta = [], []
    for loss, gradient in zip(losses, gradients, strict=True):
        reference.step(loss, gradient)
        d_tilde.append(float(reference.d))
        theta.append(reference.theta.tolist())
    assert loss_below_f_star == any(loss < hyperparameters["f_star"] for loss in losses)
    return {
        "name": name,
        "hyperparameters": hyperparameters,
        "loss_below_f_star": loss_below_f_star,
        "theta0": theta0.tolist(),
        "losses": losses,
        "gradients": gradients.tolist(),
        "expected": {"d_tilde": d_tilde, "theta": theta},
    }


def build_vectors() -> dict[str, Any]:
    """Every case, in a fixed order, from fixed seeds."""
    rng = np.random.default_rng(20161104)  # the paper's arXiv submission date
    cases = [
        case("defaults", rng, noisy_decreasing_losses(rng, 2.3, 0.1), {}),
        case(
            "fast-feedback-large-lr",
            rng,
            noisy_decreasing_losses(rng, 2.3, 0.1),
            {"lr": 0.05, "beta3": 0.9},
        ),
        case(
            "c3-f_star-below-and-repeated",
            rng,
            [1.2, 0.9, 0.9, 0.7, 0.55, 0.45, 0.5, 0.5, 0.48, 0.52, 0.47, 0.6, 0.49, 0.51],
            {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "beta3": 0.5, "c": 3.0, "f_star": 0.5},
            loss_below_f_star=True,
        ),
        case(
            "zero-distance-at-f_star",
            rng,
            [0.5, 0.0, 0.0, 0.3, 0.3, 0.0, 0.2, 0.1, 0.1, 0.0],
            {"lr": 0.02, "beta3": 0.7},
        ),
        case("c1-is-adam", rng, noisy_decreasing_losses(rng, 5.0, 1.0), {"lr": 0.1, "c": 1.0}),
        case(
            "large-eps-offset-losses",
            rng,
            (100.0 + np.array(noisy_decreasing_losses(rng, 2.0, 0.0))).round(6).tolist(),
            {"lr": 0.01, "beta3": 0.8, "eps": 0.1, "f_star": 100.0},
        ),
    ]
    return {
        "description": (
            "Eve (final version) trajectories for the shared PyTorch/optax tests: at step t the "
            "port receives losses[t] and gradients[t] and must then hold d_tilde[t] and "
            "theta[t] (float64)."
        ),
        "generator": "tests/vectors/make_eve_vectors.py",
        "reference": "tests/numpy_reference.py:NumpyEve",
        "float64_rel_tolerance": 1e-10,
        "cases": cases,
    }


def render(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=1) + "\n"


if __name__ == "__main__":
    VECTORS_FILE.write_text(render(build_vectors()))
    print(f"wrote {VECTORS_FILE}")

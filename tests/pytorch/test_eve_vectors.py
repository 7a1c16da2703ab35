"""PyTorch Eve replays the shared vectors (tests/vectors/eve_vectors.json), as the optax port does.

The same file is read by tests/optax/test_optax_vectors.py, so the two ports cannot drift apart.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from eveopt import Eve, EveWarning

VECTORS_DIR = Path(__file__).parents[1] / "vectors"
VECTORS = json.loads((VECTORS_DIR / "eve_vectors.json").read_text())
REL = VECTORS["float64_rel_tolerance"]


def test_vectors_file_is_what_the_generator_writes_from_the_numpy_reference() -> None:
    spec = importlib.util.spec_from_file_location(
        "make_eve_vectors", VECTORS_DIR / "make_eve_vectors.py"
    )
    assert spec is not None
    assert spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    rendered = generator.render(generator.build_vectors())
    assert rendered == (VECTORS_DIR / "eve_vectors.json").read_text()


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[case["name"] for case in VECTORS["cases"]])
def test_torch_eve_replays_the_shared_vectors(case: dict[str, Any]) -> None:
    hyper = case["hyperparameters"]
    theta = torch.nn.Parameter(torch.tensor(case["theta0"], dtype=torch.float64))
    opt = Eve(
        [theta],
        lr=hyper["lr"],
        betas=(hyper["beta1"], hyper["beta2"]),
        eps=hyper["eps"],
        beta3=hyper["beta3"],
        c=hyper["c"],
        f_star=hyper["f_star"],
    )
    expects_warning = (
        pytest.warns(EveWarning, match="f_star")
        if case["loss_below_f_star"]
        else contextlib.nullcontext()
    )
    d_tilde, trajectory = [], []
    with expects_warning:
        for loss, gradient in zip(case["losses"], case["gradients"], strict=True):
            theta.grad = torch.tensor(gradient, dtype=torch.float64)
            opt.step(loss=loss)
            d_tilde.append(opt.d)
            trajectory.append(theta.detach().tolist())
    expected = case["expected"]
    np.testing.assert_allclose(d_tilde, expected["d_tilde"], rtol=REL, atol=0)
    np.testing.assert_allclose(trajectory, expected["theta"], rtol=REL, atol=0)

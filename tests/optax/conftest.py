"""Fixtures for the optax tests: float64 (``jax_enable_x64``) scoped to one test, never leaked."""

from __future__ import annotations

from collections.abc import Iterator

import jax
import pytest
from eve_jax_runs import FLOAT32, FLOAT64, Precision


@pytest.fixture
def x64() -> Iterator[None]:
    """Enable float64 for one test; the context manager restores the setting afterwards."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(params=[FLOAT64, FLOAT32], ids=["float64", "float32"])
def precision(request: pytest.FixtureRequest) -> Iterator[Precision]:
    """Run the test once in float64 (x64 on, rel 1e-10) and once in float32 (rel 1e-5)."""
    if request.param is FLOAT64:
        with jax.enable_x64(True):
            yield FLOAT64
    else:
        yield FLOAT32

"""A task for the tests: a 1-D linear regression that SGD at a huge lr drives to inf/NaN loss.

At lr 1e3 each step multiplies the error by about 600, so the float32 loss overflows within
the first epochs; at lr 1e-2 the same task trains normally.
"""

from __future__ import annotations

import torch

from eveopt.experiments import Task


def _make_model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.Flatten(start_dim=0))


def make_task() -> Task:
    """64 points of y = 3x on [-1, 1], squared error, f* = 0."""
    inputs = torch.linspace(-1.0, 1.0, 64).reshape(64, 1)
    return Task(
        inputs=inputs,
        targets=3.0 * inputs[:, 0],
        make_model=_make_model,
        loss=torch.nn.MSELoss(),
        f_star=0.0,
        name="exploding-line",
    )

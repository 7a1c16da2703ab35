"""Learning-rate grids: the paper's 13-value search and a quick 3-value one per optimizer."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["GRID_NAMES", "PAPER_LRS", "QUICK_LRS", "grid_lrs"]

PAPER_LRS: tuple[float, ...] = (
    1e-6,
    5e-6,
    1e-5,
    5e-5,
    1e-4,
    5e-4,
    1e-3,
    5e-3,
    1e-2,
    5e-2,
    1e-1,
    0.5,
    1.0,
)
"""The lrs of the authors' logged commands: the paper's 11 values plus 0.5 and 1.0."""

_PAPER_EXTRA: Mapping[str, tuple[float, ...]] = MappingProxyType({"adamax": (2e-3,)})

QUICK_LRS: Mapping[str, tuple[float, ...]] = MappingProxyType(
    {
        # Each optimizer's best lr on digits-cnn with the paper grid (40 epochs, batch 128, seed 0)
        # and its two neighbours in that grid; Adadelta's best, 1.0, is the grid's largest.
        "eve": (5e-3, 1e-2, 5e-2),
        "adam": (1e-3, 5e-3, 1e-2),
        "adamax": (5e-3, 1e-2, 5e-2),
        "rmsprop": (1e-3, 5e-3, 1e-2),
        "adagrad": (1e-2, 5e-2, 1e-1),
        "adadelta": (0.1, 0.5, 1.0),
        "sgd-nesterov": (1e-2, 5e-2, 1e-1),
    }
)
"""Three lrs of the paper grid per optimizer, centred on its best on digits-cnn."""

GRID_NAMES: tuple[str, ...] = ("quick", "paper")


def grid_lrs(grid: str, optimizer: str) -> tuple[float, ...]:
    """The learning rates that grid ``grid`` searches for ``optimizer``, ascending.

    ``paper``: the 13 values of :data:`PAPER_LRS`, plus 2e-3 (its default) for Adamax, as in the
    authors' commands. ``quick``: :data:`QUICK_LRS`. An optimizer without a quick entry gets the
    paper grid.

    Example:
        >>> grid_lrs("paper", "adamax")[6:9]
        (0.001, 0.002, 0.005)
    """
    if grid == "paper":
        return tuple(sorted(PAPER_LRS + _PAPER_EXTRA.get(optimizer, ())))
    if grid == "quick":
        return tuple(sorted(QUICK_LRS.get(optimizer, PAPER_LRS)))
    raise ValueError(f"unknown lr grid {grid!r}: choose from {', '.join(GRID_NAMES)}")

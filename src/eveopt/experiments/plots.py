"""The figures of a comparison, drawn with matplotlib's Agg backend (no display needed).

``loss.png``: the full training loss per epoch of each optimizer's best run, log scale, one fixed
colour per optimizer. ``eve.png``: Eve's coefficient d~ and its effective lr (lr / d~) per step,
for every Eve run of the comparison, the best one drawn bold. Figures are built on
``matplotlib.figure.Figure`` directly, so pyplot's global state (and the user's backend) is never
touched, and written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eveopt.experiments.optimizers import OPTIMIZERS
from eveopt.experiments.report import rank_optimizers
from eveopt.experiments.store import atomic_path

__all__ = ["DPI", "EVE_FIGURE_SIZE", "LOSS_FIGURE_SIZE", "plot_eve", "plot_losses"]

Run = Mapping[str, Any]

DPI = 100
LOSS_FIGURE_SIZE = (8.0, 5.0)
"""Inches; at :data:`DPI` loss.png is 800 x 500 pixels."""
EVE_FIGURE_SIZE = (8.0, 6.0)
"""Inches; at :data:`DPI` eve.png is 800 x 600 pixels."""


def _floats(values: Sequence[Any]) -> list[float]:
    """JSON numbers to floats; ``null`` (a non-finite value in the store) becomes NaN (a gap)."""
    return [float(value) if value is not None else math.nan for value in values]


def _save(figure: Any, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    with atomic_path(path) as temp_path:
        figure.savefig(temp_path, format="png", dpi=DPI)


def _color(optimizer: str) -> str:
    spec = OPTIMIZERS.get(optimizer)
    return spec.color if spec is not None else "black"


def _label(optimizer: str) -> str:
    spec = OPTIMIZERS.get(optimizer)
    return spec.label if spec is not None else optimizer


def plot_losses(path: Path, best: Mapping[str, Run | None], title: str) -> None:
    """Draw loss.png: each optimizer's best run, full training loss per epoch (0 = initial).

    Optimizers are listed in the legend best first; those whose runs all diverged are named in
    a note instead of a curve.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=LOSS_FIGURE_SIZE, layout="constrained")
    axes = figure.add_subplot()
    diverged = []
    for name, run in rank_optimizers(best):
        if run is None:
            diverged.append(_label(name))
            continue
        losses = _floats([run["initial_loss"], *run["epoch_losses"]])
        axes.plot(
            range(len(losses)),
            losses,
            color=_color(name),
            linewidth=1.8,
            label=f"{_label(name)} (lr {float(run['lr']):g}): {float(run['final_loss']):.4g}",
        )
    axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("full training loss (eval mode)")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    if diverged:
        axes.text(
            0.01,
            0.01,
            "diverged at every lr: " + ", ".join(diverged),
            transform=axes.transAxes,
            fontsize=8,
            color="dimgray",
        )
    if axes.lines:
        axes.legend(title="best lr: final loss", fontsize=8, title_fontsize=8)
    _save(figure, path)


def plot_eve(path: Path, eve_runs: Sequence[Run], best_run_id: str | None, title: str) -> None:
    """Draw eve.png: d~ (top) and the effective lr lr/d~ (bottom) after each step, per Eve run."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    figure = Figure(figsize=EVE_FIGURE_SIZE, layout="constrained")
    d_axes, lr_axes = figure.subplots(2, 1, sharex=True)
    others = [run for run in eve_runs if run["run_id"] != best_run_id]
    shades = colormaps["Greys"]
    ordered = sorted(others, key=lambda run: float(run["lr"]))
    ordered += [run for run in eve_runs if run["run_id"] == best_run_id]
    for index, run in enumerate(ordered):
        is_best = run["run_id"] == best_run_id
        color = _color("eve") if is_best else shades(0.4 + 0.4 * index / max(1, len(others)))
        label = f"lr {float(run['lr']):g}" + (" (best)" if is_best else "")
        if run.get("diverged"):
            label += " (diverged)"
        steps = range(1, len(run.get("d", [])) + 1)
        style = {"color": color, "linewidth": 1.6 if is_best else 0.9, "label": label}
        if len(steps) == 1:  # a line of one point draws nothing
            style["marker"] = "o"
        d_axes.plot(steps, _floats(run.get("d", [])), **style)
        lr_axes.plot(steps, _floats(run.get("effective_lr", [])), **style)
    d_values = [value for run in eve_runs for value in _floats(run.get("d", [])) if value > 0]
    # d~ often stays within a factor of a few of 1, where a log axis would show no tick labels.
    if d_values and max(d_values) / min(d_values) > 10:
        d_axes.set_yscale("log")
    d_axes.set_ylabel(r"$\tilde{d}$ (Eve's coefficient)")
    d_axes.set_title(title)
    lr_axes.set_yscale("log")
    lr_axes.set_ylabel(r"effective lr = lr / $\tilde{d}$")
    steps_per_epoch = next((run.get("steps_per_epoch") for run in eve_runs), None)
    per_epoch = f" ({steps_per_epoch} per epoch)" if steps_per_epoch else ""
    lr_axes.set_xlabel(f"step{per_epoch}")
    for axes in (d_axes, lr_axes):
        axes.grid(True, which="both", alpha=0.3)
    if d_axes.lines:
        d_axes.legend(fontsize=8, ncols=2)
    _save(figure, path)

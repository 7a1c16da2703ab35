"""The figures of experiments 3 and 4 (Hayashi et al., arXiv 1611.01505, figures 3 and 4).

``compsched.png``: left, the full training loss per epoch of Eve, constant-lr Adam and the best
run of each decay policy (over its k and lr); right, Adam's final loss against the decay
strength k per policy (each point at its best lr), with Eve's and constant Adam's as lines.

``hypsearch.png``: one panel per c with the loss curve of every beta3 (each at its best lr),
Eve's defaults (beta3 0.999, c 10) in bold and Adam's best dashed for reference; a last panel
maps the final loss over the beta3 x c grid.

Drawn with matplotlib's Agg backend on ``Figure`` objects (pyplot's state is never touched)
and written atomically, as the comparison's figures are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eveopt.experiments.optimizers import OPTIMIZERS
from eveopt.experiments.plots import DPI, _floats
from eveopt.experiments.store import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["POLICY_COLORS", "plot_compsched", "plot_hypsearch"]

Run = Mapping[str, Any]

POLICY_COLORS: Mapping[str, str] = {
    "exponential": "#2ca02c",
    "inverse-time": "#9467bd",
    "inverse-sqrt": "#ff7f0e",
}
_POLICY_LABELS = {
    "exponential": "exp(-g t)",
    "inverse-time": "1/(1+g t)",
    "inverse-sqrt": "1/sqrt(1+g t)",
}


def _save(figure: Any, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    with atomic_path(path) as temp_path:
        figure.savefig(temp_path, format="png", dpi=DPI)


def _curve(run: Run) -> list[float]:
    return _floats([run["initial_loss"], *run["epoch_losses"]])


def _final(run: Run | None) -> float:
    if run is None or run.get("final_loss") is None:
        return math.nan
    return float(run["final_loss"])


def _finish_log_axes(axes: Any) -> None:
    if any(value > 0 for line in axes.lines for value in line.get_ydata() if math.isfinite(value)):
        axes.set_yscale("log")
    axes.grid(True, which="both", alpha=0.3)


def plot_compsched(
    path: Path, runs: Sequence[Run], best: Mapping[str, Run | None], title: str
) -> Figure:
    """Draw compsched.png from experiment 3's runs and each variant's best run; return it."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13.0, 5.0), layout="constrained")
    curves, strengths = figure.subplots(1, 2)
    by_policy: dict[str, dict[float, Run | None]] = {}
    for run in runs:
        schedule = run.get("schedule")
        if schedule is not None:
            # One point per k: its best run, None when every lr diverged (a gap in the line).
            by_k = by_policy.setdefault(str(schedule["policy"]), {})
            by_k[float(schedule["k"])] = best.get(str(run.get("variant")))
    for name, color in (("eve", OPTIMIZERS["eve"].color), ("adam", OPTIMIZERS["adam"].color)):
        reference = best.get(name)
        if reference is not None:
            label = f"{OPTIMIZERS[name].label}{'' if name == 'eve' else ' (constant lr)'}"
            curves.plot(
                _curve(reference),
                color=color,
                linewidth=2.2 if name == "eve" else 1.5,
                label=f"{label}, lr {float(reference['lr']):g}: {_final(reference):.4g}",
            )
            strengths.axhline(
                _final(reference),
                color=color,
                linestyle="--" if name == "eve" else ":",
                label=f"{label}: {_final(reference):.4g}",
            )
    for policy, by_k in by_policy.items():
        color = POLICY_COLORS.get(policy, "black")
        entries = list(by_k.items())
        finished = [(k, run) for k, run in entries if run is not None]
        if finished:
            k, run = min(finished, key=lambda item: _final(item[1]))
            curves.plot(
                _curve(run),
                color=color,
                linewidth=1.5,
                label=(
                    f"Adam {_POLICY_LABELS.get(policy, policy)}, k {k:g}, lr {float(run['lr']):g}: "
                    f"{_final(run):.4g}"
                ),
            )
        ordered = sorted(entries, key=lambda item: item[0])
        strengths.plot(
            [k for k, _ in ordered],
            [_final(run) for _, run in ordered],
            marker="o",
            color=color,
            label=f"Adam {_POLICY_LABELS.get(policy, policy)}",
        )
    curves.set_xlabel("epoch")
    curves.set_ylabel("full training loss (eval mode)")
    curves.set_title("best run of each")
    strengths.set_xscale("log")
    strengths.set_xlabel("k (the lr decays to lr / k by the last iteration)")
    strengths.set_ylabel("final training loss at the best lr")
    strengths.set_title("Adam across decay strengths")
    for axes in (curves, strengths):
        _finish_log_axes(axes)
        if axes.lines:
            axes.legend(fontsize=7)
    figure.suptitle(f"Eve against lr decay: {title}")
    _save(figure, path)
    return figure


def plot_hypsearch(
    path: Path,
    runs: Sequence[Run],
    best: Mapping[str, Run | None],
    default_pair: tuple[float, float],
    title: str,
) -> Figure:
    """Draw hypsearch.png from experiment 4's runs and each (beta3, c) pair's best run; return it.

    The figure's axes are one per c (ascending), then the grid map.
    """
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    pairs: dict[tuple[float, float], Run | None] = {}
    for run in runs:
        hyperparameters = run.get("hyperparameters") or {}
        if run["optimizer"] == "eve" and run.get("variant"):
            pair = (float(hyperparameters["beta3"]), float(hyperparameters["c"]))
            pairs[pair] = best.get(str(run["variant"]))
    beta3s = sorted({beta3 for beta3, _ in pairs})
    cs = sorted({c for _, c in pairs})
    panels = len(cs) + 1
    columns = min(4, panels)
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(4.0 * columns, 3.4 * rows), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False)
    axes_list = [axes for row in grid for axes in row]
    adam = best.get("adam")
    shades = colormaps["viridis"]
    for axes, c in zip(axes_list, cs, strict=False):
        for index, beta3 in enumerate(beta3s):
            pair_run = pairs.get((beta3, c))
            if pair_run is None:
                continue
            is_default = (beta3, c) == default_pair
            axes.plot(
                _curve(pair_run),
                color=OPTIMIZERS["eve"].color
                if is_default
                else shades(index / max(1, len(beta3s) - 1)),
                linewidth=2.6 if is_default else 1.0,
                label=f"beta3 {beta3:g}" + (" (default)" if is_default else ""),
                zorder=3 if is_default else 2,
            )
        if adam is not None:
            axes.plot(
                _curve(adam),
                color="black",
                linestyle="--",
                linewidth=1.2,
                label=f"Adam lr {float(adam['lr']):g}",
            )
        axes.set_title(f"c = {c:g}", fontsize=10)
        axes.set_xlabel("epoch")
        axes.set_ylabel("full training loss")
        _finish_log_axes(axes)
        if axes.lines:
            axes.legend(fontsize=6, ncols=2)
    heat = axes_list[len(cs)]
    values = [[_final(pairs.get((beta3, c))) for c in cs] for beta3 in beta3s]
    finite = [value for row in values for value in row if math.isfinite(value) and value > 0]
    if finite:
        norm = LogNorm(vmin=min(finite), vmax=max(finite)) if max(finite) > min(finite) else None
        image = heat.imshow(
            [
                [value if math.isfinite(value) and value > 0 else math.nan for value in row]
                for row in values
            ],
            aspect="auto",
            cmap="viridis_r",
            norm=norm,
        )
        figure.colorbar(image, ax=heat, label="final loss (best lr)")
        for row, beta3 in enumerate(beta3s):
            for column, c in enumerate(cs):
                value = values[row][column]
                text = "div" if not math.isfinite(value) else f"{value:.2g}"
                weight = "bold" if (beta3, c) == default_pair else "normal"
                # viridis_r is light (yellow) at low losses: dark text there, white elsewhere.
                shade = image.norm(value) if math.isfinite(value) and value > 0 else 1.0
                heat.text(
                    column,
                    row,
                    text,
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="black" if shade < 0.5 else "white",
                    fontweight=weight,
                )
    heat.set_xticks(range(len(cs)), [f"{c:g}" for c in cs])
    heat.set_yticks(range(len(beta3s)), [f"{beta3:g}" for beta3 in beta3s])
    heat.set_xlabel("c")
    heat.set_ylabel("beta3")
    adam_text = "" if adam is None else f"; Adam's best: {_final(adam):.4g}"
    heat.set_title(f"final loss per (beta3, c){adam_text}", fontsize=9)
    for axes in axes_list[panels:]:
        axes.set_visible(False)
    figure.suptitle(f"Eve's sensitivity to beta3 and c: {title}")
    _save(figure, path)
    return figure

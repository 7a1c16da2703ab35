"""The report of a comparison: best lr per optimizer, results.json, results.csv, the ranked table.

The best learning rate of an optimizer is the one whose run ends with the lowest full training
loss (the paper's rule); diverged runs are never chosen. Ties go to the smaller lr.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from eveopt.experiments.optimizers import OPTIMIZERS
from eveopt.experiments.store import atomic_path, write_json_atomic

__all__ = [
    "Ranking",
    "count_text",
    "format_table",
    "rank_optimizers",
    "results_document",
    "run_variant",
    "select_best",
    "write_results_csv",
    "write_results_json",
]

Run = Mapping[str, Any]
Ranking = list[tuple[str, Run | None]]
"""Optimizers best first, each with its best run (``None`` when every run diverged)."""


def _usable_final_loss(run: Run) -> float | None:
    final_loss = run.get("final_loss")
    if run.get("diverged") or not isinstance(final_loss, (int, float)):
        return None
    return float(final_loss) if math.isfinite(final_loss) else None


def _optimizer(run: Run) -> str:
    return str(run["optimizer"])


def run_variant(run: Run) -> str:
    """The group a run belongs to in a report: its variant, else its optimizer's name."""
    return str(run.get("variant") or run["optimizer"])


def count_text(number: int, noun: str) -> str:
    """``number`` and ``noun``, plural unless the number is 1.

    Example:
        >>> count_text(1, "epoch"), count_text(20, "epoch")
        ('1 epoch', '20 epochs')
    """
    return f"{number} {noun}{'' if number == 1 else 's'}"


def select_best(
    runs: Sequence[Run], key: Callable[[Run], str] = _optimizer
) -> dict[str, Run | None]:
    """Each optimizer's best run: the lowest final full training loss, diverged runs excluded.

    Optimizers keep the order of their first run in ``runs``; an optimizer whose runs all
    diverged maps to ``None``. ``key`` groups runs otherwise (by variant: one best run per
    decay setting or per (beta3, c)).

    Example:
        >>> runs = [
        ...     {"optimizer": "adam", "lr": 1e-3, "final_loss": 0.2, "diverged": False},
        ...     {"optimizer": "adam", "lr": 1e-2, "final_loss": None, "diverged": True},
        ...     {"optimizer": "adam", "lr": 1e-4, "final_loss": 0.5, "diverged": False},
        ... ]
        >>> select_best(runs)["adam"]["lr"]
        0.001
    """
    best: dict[str, Run | None] = {}
    for run in runs:
        optimizer = key(run)
        best.setdefault(optimizer, None)
        final_loss = _usable_final_loss(run)
        if final_loss is None:
            continue
        current = best[optimizer]
        if current is None or (final_loss, float(run["lr"])) < (
            float(current["final_loss"]),
            float(current["lr"]),
        ):
            best[optimizer] = run
    return best


def rank_optimizers(best: Mapping[str, Run | None]) -> Ranking:
    """Optimizers ordered by their best final loss, lowest first; all-diverged ones last."""
    finished = [(name, run) for name, run in best.items() if run is not None]
    finished.sort(key=lambda item: float(item[1]["final_loss"]))
    return [*finished, *((name, run) for name, run in best.items() if run is None)]


def results_document(
    runs: Sequence[Run], best: Mapping[str, Run | None], comparison: Mapping[str, Any]
) -> dict[str, Any]:
    """The content of results.json: ``{"comparison": ..., "runs": [...], "best": {...}}``.

    ``best`` maps each optimizer to ``{"lr", "final_loss", "run_id", "wall_time_s", "rank"}``,
    or to ``None`` when all its runs diverged.
    """
    ranks = {name: rank for rank, (name, _) in enumerate(rank_optimizers(best), start=1)}
    best_entries: dict[str, Any] = {}
    for name, run in best.items():
        best_entries[name] = (
            None
            if run is None
            else {
                "rank": ranks[name],
                "lr": run["lr"],
                "final_loss": run["final_loss"],
                "run_id": run["run_id"],
                "wall_time_s": run["wall_time_s"],
            }
        )
    return {"comparison": dict(comparison), "runs": list(runs), "best": best_entries}


def write_results_json(path: Path, document: Mapping[str, Any]) -> None:
    """Write results.json atomically, as strict JSON (non-finite numbers become ``null``)."""
    write_json_atomic(path, document)


_CSV_COLUMNS = (
    "run_id",
    "task",
    "optimizer",
    "variant",
    "lr",
    "seed",
    "epochs",
    "batch_size",
    "diverged",
    "best",
    "initial_loss",
    "final_loss",
    "wall_time_s",
)


def _csv_number(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return "" if value is None else str(value)


def write_results_csv(path: Path, runs: Sequence[Run], best: Mapping[str, Run | None]) -> None:
    """Write results.csv atomically: one row per run, then one column per epoch's full loss.

    Diverged runs have an empty ``final_loss`` and empty cells after the epoch they diverged in.
    """
    best_ids = {run["run_id"] for run in best.values() if run is not None}
    max_epochs = max((len(run.get("epoch_losses", [])) for run in runs), default=0)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*_CSV_COLUMNS, *(f"loss_epoch_{epoch}" for epoch in range(1, max_epochs + 1))])
    for run in runs:
        cells = {column: _csv_number(run.get(column)) for column in _CSV_COLUMNS}
        cells["diverged"] = str(bool(run.get("diverged"))).lower()
        cells["best"] = str(run["run_id"] in best_ids).lower()
        row = [cells[column] for column in _CSV_COLUMNS]
        epoch_losses = list(run.get("epoch_losses", []))
        row.extend(_csv_number(loss) for loss in epoch_losses)
        row.extend("" for _ in range(max_epochs - len(epoch_losses)))
        writer.writerow(row)
    with atomic_path(path) as temp_path:
        temp_path.write_text(buffer.getvalue(), encoding="utf-8")


def _label(name: str) -> str:
    spec = OPTIMIZERS.get(name)
    return spec.label if spec is not None else name


def format_table(
    runs: Sequence[Run], best: Mapping[str, Run | None], key: Callable[[Run], str] = _optimizer
) -> str:
    """The ranked terminal table: rank, optimizer, best lr, final loss, time, diverged runs.

    Example:
        >>> runs = [{"optimizer": "adam", "lr": 1e-3, "final_loss": 0.25, "diverged": False,
        ...          "run_id": "a", "wall_time_s": 1.5}]
        >>> print(format_table(runs, select_best(runs)))
        rank  optimizer     best lr  final loss     time  diverged
           1  Adam            0.001   2.500e-01    1.5 s       0/1
    """
    width = max([12, *(len(_label(name)) for name in best)])
    header = (
        f"{'rank':>4}  {'optimizer':<{width}}  {'best lr':>7}  {'final loss':>10}  {'time':>7}"
        "  diverged"
    )
    lines = [header]
    for rank, (name, run) in enumerate(rank_optimizers(best), start=1):
        own = [item for item in runs if key(item) == name]
        diverged = f"{sum(1 for item in own if item.get('diverged'))}/{len(own)}"
        if run is None:
            lines.append(
                f"{'-':>4}  {_label(name):<{width}}  {'-':>7}  {'diverged':>10}  {'-':>7}"
                f"  {diverged:>8}"
            )
            continue
        lines.append(
            f"{rank:>4}  {_label(name):<{width}}  {float(run['lr']):>7g}  "
            f"{float(run['final_loss']):>10.3e}  {_format_seconds(float(run['wall_time_s'])):>7}"
            f"  {diverged:>8}"
        )
    return "\n".join(lines)


def _format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"

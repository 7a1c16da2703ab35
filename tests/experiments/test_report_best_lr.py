"""Best-lr selection, ranking, results.json/CSV and the table, on synthetic runs."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from eveopt.experiments.report import (
    format_table,
    rank_optimizers,
    results_document,
    select_best,
    write_results_csv,
    write_results_json,
)


def _run(optimizer: str, lr: float, curve: list[float], diverged: bool = False) -> dict[str, Any]:
    """A synthetic run whose full training loss per epoch is ``curve``."""
    return {
        "run_id": f"{optimizer}-lr{lr:g}",
        "optimizer": optimizer,
        "lr": lr,
        "initial_loss": 2.3,
        "epoch_losses": curve,
        "final_loss": None if diverged else curve[-1],
        "diverged": diverged,
        "wall_time_s": 1.0,
    }


def _synthetic_runs() -> list[dict[str, Any]]:
    return [
        # adam: the middle lr ends lowest although the large one is lower at epoch 2.
        _run("adam", 1e-4, [2.0, 1.5, 1.2]),
        _run("adam", 1e-3, [1.0, 0.5, 0.1]),
        _run("adam", 1e-2, [0.5, 0.05, 0.3]),
        # eve: the lowest number belongs to a diverged run (its last finite epoch): excluded.
        _run("eve", 5e-3, [0.001, 0.0001], diverged=True),
        _run("eve", 1e-3, [0.9, 0.4, 0.05]),
        # rmsprop: a tie goes to the smaller lr.
        _run("rmsprop", 1e-3, [0.5, 0.2]),
        _run("rmsprop", 1e-4, [0.6, 0.2]),
        # adadelta: every run diverged.
        _run("adadelta", 1.0, [math.nan], diverged=True),
        _run("adadelta", 0.5, [3.0], diverged=True),
    ]


def test_best_lr_is_lowest_final_loss_and_never_a_diverged_run() -> None:
    best = select_best(_synthetic_runs())
    assert {name: None if run is None else run["lr"] for name, run in best.items()} == {
        "adam": 1e-3,
        "eve": 1e-3,
        "rmsprop": 1e-4,
        "adadelta": None,
    }


def test_a_run_marked_diverged_is_excluded_even_with_a_final_loss() -> None:
    tampered = _run("sgd-nesterov", 0.1, [0.01])
    tampered["diverged"] = True
    runs = [tampered, _run("sgd-nesterov", 0.01, [0.5])]
    assert select_best(runs)["sgd-nesterov"] is runs[1]


def test_ranking_orders_by_best_final_loss_with_all_diverged_last() -> None:
    ranking = rank_optimizers(select_best(_synthetic_runs()))
    assert [name for name, _ in ranking] == ["eve", "adam", "rmsprop", "adadelta"]


def test_results_json_is_strict_and_names_each_best(tmp_path: Path) -> None:
    runs = _synthetic_runs()
    best = select_best(runs)
    path = tmp_path / "results.json"
    write_results_json(path, results_document(runs, best, {"task": "synthetic"}))

    def reject(constant: str) -> None:
        raise AssertionError(f"non-strict JSON constant {constant}")

    document = json.loads(path.read_text(), parse_constant=reject)
    assert set(document) == {"comparison", "runs", "best"}
    assert len(document["runs"]) == len(runs)
    assert document["best"]["eve"] == {
        "rank": 1,
        "lr": 1e-3,
        "final_loss": 0.05,
        "run_id": "eve-lr0.001",
        "wall_time_s": 1.0,
    }
    assert document["best"]["adadelta"] is None
    assert document["runs"][7]["epoch_losses"] == [None]


def test_results_csv_has_one_row_per_run_with_epoch_columns(tmp_path: Path) -> None:
    runs = _synthetic_runs()
    path = tmp_path / "results.csv"
    write_results_csv(path, runs, select_best(runs))
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == len(runs)
    by_id = {row["run_id"]: row for row in rows}
    assert by_id["adam-lr0.001"]["best"] == "true"
    assert by_id["adam-lr0.01"]["best"] == "false"
    assert float(by_id["adam-lr0.001"]["final_loss"]) == 0.1
    assert by_id["adam-lr0.001"]["loss_epoch_3"] == "0.1"
    assert by_id["eve-lr0.005"]["diverged"] == "true"
    assert by_id["eve-lr0.005"]["final_loss"] == ""
    assert by_id["eve-lr0.005"]["loss_epoch_3"] == ""
    assert by_id["adadelta-lr1"]["loss_epoch_1"] == ""


def test_table_lists_optimizers_in_rank_order_with_their_best_lr() -> None:
    runs = _synthetic_runs()
    lines = format_table(runs, select_best(runs)).splitlines()
    assert lines[0].split() == [
        "rank",
        "optimizer",
        "best",
        "lr",
        "final",
        "loss",
        "time",
        "diverged",
    ]
    assert lines[1].split() == ["1", "Eve", "0.001", "5.000e-02", "1.0", "s", "1/2"]
    assert lines[2].split()[:3] == ["2", "Adam", "0.001"]
    assert lines[3].split()[:3] == ["3", "RMSprop", "0.0001"]
    assert lines[4].split() == ["-", "Adadelta", "-", "diverged", "-", "2/2"]

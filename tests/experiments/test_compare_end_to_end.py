"""End to end: ``eveopt compare --optimizers eve adam --lrs 1e-3 1e-2 --epochs 2 --out TMP``."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import struct
from pathlib import Path
from statistics import fmean
from typing import Any

import pytest

from eveopt.cli import main
from eveopt.experiments.plots import DPI, EVE_FIGURE_SIZE, LOSS_FIGURE_SIZE
from eveopt.experiments.runner import RunSpec, execute_run
from eveopt.experiments.tasks import resolve_task

ISSUE_COMMAND = ["compare", "--optimizers", "eve", "adam", "--lrs", "1e-3", "1e-2", "--epochs", "2"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert data[-8:-4] == b"IEND", f"{path} is truncated"
    return width, height


def strict_json(path: Path) -> Any:
    """Parse ``path``, failing on NaN or Infinity (not JSON)."""

    def reject(constant: str) -> None:
        raise AssertionError(f"{path} holds the non-JSON constant {constant}")

    return json.loads(path.read_text(), parse_constant=reject)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """The issue's command, run once (default --jobs: worker processes on a multi-core machine)."""
    out = tmp_path_factory.mktemp("compare") / "out"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main([*ISSUE_COMMAND, "--out", str(out)])
    assert code == 0, stderr.getvalue()
    return out, stdout.getvalue(), stderr.getvalue()


def test_writes_every_output(comparison: tuple[Path, str, str]) -> None:
    out, stdout, _ = comparison
    names = sorted(path.name for path in out.iterdir())
    assert names == ["eve.png", "loss.png", "results.csv", "results.json", "runs"]
    assert len(list((out / "runs").glob("*.json"))) == 4
    assert png_size(out / "loss.png") == tuple(round(inches * DPI) for inches in LOSS_FIGURE_SIZE)
    assert png_size(out / "eve.png") == tuple(round(inches * DPI) for inches in EVE_FIGURE_SIZE)
    for name in ("results.json", "results.csv", "loss.png", "eve.png"):
        assert f"wrote {out / name}" in stdout


def test_results_json_holds_each_run_with_finite_decreasing_losses(
    comparison: tuple[Path, str, str],
) -> None:
    out, _, _ = comparison
    document = strict_json(out / "results.json")
    runs = document["runs"]
    assert [(run["optimizer"], run["lr"]) for run in runs] == [
        ("eve", 1e-3),
        ("eve", 1e-2),
        ("adam", 1e-3),
        ("adam", 1e-2),
    ]
    steps = 2 * math.ceil(1797 / 128)
    for run in runs:
        assert run["seed"] == 0
        assert run["epochs"] == 2
        assert run["diverged"] is False
        assert len(run["epoch_losses"]) == 2
        assert run["final_loss"] == run["epoch_losses"][-1]
        assert run["wall_time_s"] > 0
        losses = run["batch_losses"]
        assert len(losses) == steps
        assert all(math.isfinite(loss) for loss in losses)
        assert fmean(losses[steps // 2 :]) < fmean(losses[: steps // 2])
        assert run["final_loss"] < run["epoch_losses"][0] < run["initial_loss"]
        if run["optimizer"] == "eve":
            assert len(run["d"]) == len(run["effective_lr"]) == steps
        else:
            assert "d" not in run
        assert strict_json(out / "runs" / f"{run['run_id']}.json") == run
    for name, best in document["best"].items():
        own = [run for run in runs if run["optimizer"] == name]
        assert best["final_loss"] == min(run["final_loss"] for run in own)


def test_results_csv_and_the_table_agree_with_results_json(
    comparison: tuple[Path, str, str],
) -> None:
    out, stdout, _ = comparison
    document = strict_json(out / "results.json")
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [row["run_id"] for row in rows] == [run["run_id"] for run in document["runs"]]
    for row, run in zip(rows, document["runs"], strict=True):
        assert float(row["final_loss"]) == run["final_loss"]
    ranked = sorted(document["best"].items(), key=lambda item: item[1]["rank"])
    table_rows = [line.split() for line in stdout.splitlines() if line[:4].strip().isdigit()]
    assert [(row[0], row[1]) for row in table_rows] == [
        (str(best["rank"]), {"eve": "Eve", "adam": "Adam"}[name]) for name, best in ranked
    ]
    assert [float(row[2]) for row in table_rows] == [best["lr"] for _, best in ranked]


def test_progress_went_to_stderr(comparison: tuple[Path, str, str]) -> None:
    _, _, stderr = comparison
    assert "4 runs, 4 to compute" in stderr
    assert "[4/4] " in stderr


def test_runs_computed_by_workers_equal_the_same_runs_computed_here(
    comparison: tuple[Path, str, str],
) -> None:
    out, _, _ = comparison
    task = resolve_task("digits-cnn")
    for run in strict_json(out / "results.json")["runs"][1::2]:
        identity = run["identity"]
        spec = RunSpec(
            task=identity["task"],
            task_fingerprint=identity["task_fingerprint"],
            optimizer=run["optimizer"],
            lr=run["lr"],
            epochs=run["epochs"],
            batch_size=run["batch_size"],
            seed=run["seed"],
            versions=identity["versions"],
        )
        assert spec.run_id == run["run_id"]
        here = execute_run(spec, task)
        # Workers and this process may use other thread counts: float rounding may differ.
        for key in ("batch_losses", "epoch_losses", *(("d",) if "d" in run else ())):
            assert here[key] == pytest.approx(run[key], rel=1e-4), key

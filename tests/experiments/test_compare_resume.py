"""Resume: finished runs are reused, never recomputed; Ctrl-C loses at most the run in progress."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eveopt.cli import main
from eveopt.experiments import execution as execution_module
from eveopt.experiments.compare import CompareConfig, run_compare

BASE = ["--task", "digits-logreg", "--optimizers", "eve", "adam", "--epochs", "2", "--jobs", "1"]
FULL = [*BASE, "--lrs", "1e-3", "1e-2"]

# Measurements, not results: they differ between two computations of the same run.
TIMING_KEYS = frozenset({"wall_time_s", "epoch_wall_s"})


def _without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _without_timings(item) for key, item in value.items() if key not in TIMING_KEYS
        }
    if isinstance(value, list):
        return [_without_timings(item) for item in value]
    return value


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The run ids actually computed (not loaded from disk), in order."""
    computed: list[str] = []
    original = execution_module.execute_run

    def counting(spec: Any, task: Any, callbacks: Any = None) -> dict[str, Any]:
        computed.append(spec.run_id)
        return original(spec, task, callbacks)

    monkeypatch.setattr(execution_module, "execute_run", counting)
    return computed


def _compare(arguments: list[str], out: Path) -> None:
    assert main(["compare", *arguments, "--quiet", "--out", str(out)]) == 0


def test_a_resumed_comparison_equals_an_uninterrupted_one(
    tmp_path: Path, executed: list[str]
) -> None:
    uninterrupted, resumed = tmp_path / "uninterrupted", tmp_path / "resumed"
    _compare(FULL, uninterrupted)
    assert len(executed) == 4
    executed.clear()

    _compare([*BASE, "--lrs", "1e-3"], resumed)  # "interrupted" after the first 2 runs
    first_two = list(executed)
    assert len(first_two) == 2
    saved = {path.name: path.stat().st_mtime_ns for path in (resumed / "runs").iterdir()}
    executed.clear()

    _compare(FULL, resumed)
    assert len(executed) == 2
    assert not set(executed) & set(first_two)
    for name, mtime in saved.items():
        assert (resumed / "runs" / name).stat().st_mtime_ns == mtime
    expected = json.loads((uninterrupted / "results.json").read_text())
    actual = json.loads((resumed / "results.json").read_text())
    assert _without_timings(actual) == _without_timings(expected)
    assert (
        actual["runs"][0]["wall_time_s"]
        == json.loads((resumed / "runs" / f"{actual['runs'][0]['run_id']}.json").read_text())[
            "wall_time_s"
        ]
    )
    executed.clear()

    _compare(FULL, resumed)  # everything finished: only the report is recomputed
    assert executed == []
    assert json.loads((resumed / "results.json").read_text()) == actual


@pytest.mark.parametrize(
    "change", [["--epochs", "3"], ["--batch-size", "64"], ["--seed", "1"]], ids=str
)
def test_a_changed_setting_never_reuses_a_stale_run(
    tmp_path: Path, executed: list[str], change: list[str]
) -> None:
    arguments = ["--task", "digits-logreg", "--optimizers", "adam", "--lrs", "1e-2"]
    _compare([*arguments, "--epochs", "2", "--jobs", "1"], tmp_path)
    _compare([*arguments, "--epochs", "2", "--jobs", "1", *change], tmp_path)
    assert len(executed) == 2
    assert executed[0] != executed[1]
    assert len(list((tmp_path / "runs").iterdir())) == 2


def test_threads_change_the_id_and_jobs_do_not(tmp_path: Path, executed: list[str]) -> None:
    arguments = ["--task", "digits-logreg", "--optimizers", "adam", "--lrs", "1e-2"]
    _compare([*arguments, "--epochs", "2", "--jobs", "1"], tmp_path)
    _compare([*arguments, "--epochs", "2", "--jobs", "2"], tmp_path)
    assert len(executed) == 1  # --jobs changes no number: the run is reused
    _compare([*arguments, "--epochs", "2", "--jobs", "1", "--threads", "2"], tmp_path)
    assert len(executed) == 2
    assert executed[0] != executed[1]
    record = json.loads((tmp_path / "runs" / f"{executed[1]}.json").read_text())
    assert record["torch_threads"] == 2
    assert json.loads((tmp_path / "results.json").read_text())["comparison"]["threads"] == 2


def test_a_stored_run_computed_on_another_thread_count_is_computed_again(
    tmp_path: Path, executed: list[str]
) -> None:
    # Records written before runs fixed their threads hold whatever count the process had.
    arguments = ["--task", "digits-logreg", "--optimizers", "adam", "--lrs", "1e-2"]
    arguments += ["--epochs", "1", "--jobs", "1"]
    _compare(arguments, tmp_path)
    (path,) = (tmp_path / "runs").iterdir()
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "torch_threads": 2}))
    _compare(arguments, tmp_path)
    assert executed == [record["run_id"]] * 2
    assert json.loads(path.read_text())["torch_threads"] == 1


# A user's task in two modules, as in the trial that found stale reuse: the model's forward
# picks its activation by a module constant, the loss scales by one, a layer lives elsewhere.
EDITED_TASK = """
import torch

from eveopt.experiments import Task
from edited_layers import Shift

ACTIVATION = "relu"
SCALE = 1.0


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)
        self.shift = Shift()

    def forward(self, x):
        return self.shift(getattr(torch, ACTIVATION)(self.linear(x))).flatten()


def loss(outputs, targets):
    return SCALE * torch.nn.functional.mse_loss(outputs, targets)


def make_task():
    inputs = torch.linspace(-1.0, 1.0, 32).reshape(16, 2)
    return Task(inputs, inputs.sum(dim=1), Net, loss)
"""
EDITED_LAYERS = """
import torch

OFFSET = 0.0


class Shift(torch.nn.Module):
    def forward(self, x):
        return x + OFFSET
"""
EDITED_MODULES = ("edited_task", "edited_layers")


@pytest.fixture
def edited_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path holding the two modules of a user task; they are unloaded after."""
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "edited_task.py").write_text(EDITED_TASK)
    (folder / "edited_layers.py").write_text(EDITED_LAYERS)
    monkeypatch.syspath_prepend(str(folder))
    # An edit within the second of the first import could otherwise load a stale .pyc.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    yield folder
    for name in EDITED_MODULES:
        sys.modules.pop(name, None)


@pytest.mark.parametrize(
    ("filename", "old", "new"),
    [
        ("edited_task.py", 'ACTIVATION = "relu"', 'ACTIVATION = "tanh"'),
        ("edited_task.py", "SCALE = 1.0", "SCALE = 2.0"),
        ("edited_layers.py", "OFFSET = 0.0", "OFFSET = 1.0"),
    ],
    ids=["forward", "loss", "layer-module"],
)
def test_editing_the_tasks_code_never_reuses_a_stale_run(
    tmp_path: Path, edited_task: Path, executed: list[str], filename: str, old: str, new: str
) -> None:
    arguments = ["--task", "edited_task:make_task", "--optimizers", "adam", "--lrs", "1e-2"]
    arguments += ["--epochs", "1", "--jobs", "1"]

    def compare_as_a_new_command() -> None:
        for name in EDITED_MODULES:  # a new process imports the task's modules afresh
            sys.modules.pop(name, None)
        importlib.invalidate_caches()
        _compare(arguments, tmp_path / "out")

    compare_as_a_new_command()
    compare_as_a_new_command()
    assert len(executed) == 1  # the same code: the run is reused
    edited = edited_task / filename
    edited.write_text(edited.read_text().replace(old, new))
    compare_as_a_new_command()
    assert len(executed) == 2
    assert executed[1] != executed[0]
    compare_as_a_new_command()
    assert len(executed) == 2


def test_ctrl_c_keeps_finished_runs_and_rerunning_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    original = execution_module.execute_run
    calls: list[str] = []

    def interrupted_on_second(spec: Any, task: Any, callbacks: Any = None) -> dict[str, Any]:
        calls.append(spec.run_id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(spec, task, callbacks)

    monkeypatch.setattr(execution_module, "execute_run", interrupted_on_second)
    out = tmp_path / "out"
    assert main(["compare", *FULL, "--quiet", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert err == (
        f"eveopt compare: interrupted; 1 of 4 runs are saved in {out}; "
        "run the same command again to resume\n"
    )
    assert [path.name for path in (out / "runs").iterdir()] == [f"{calls[0]}.json"]
    assert sorted(path.name for path in out.iterdir()) == ["runs"]

    monkeypatch.setattr(execution_module, "execute_run", original)
    result = run_compare(
        CompareConfig(
            task="digits-logreg",
            optimizers=("eve", "adam"),
            lrs=(1e-3, 1e-2),
            epochs=2,
            jobs=1,
            quiet=True,
            out=out,
        )
    )
    assert result.reused == [calls[0]]
    assert len(result.computed) == 3


def test_a_diverged_run_is_recorded_and_the_comparison_goes_on(
    tmp_path: Path, exploding_task_spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--task", exploding_task_spec, "--optimizers", "sgd-nesterov", "adam"]
    arguments += ["--lrs", "1e-2", "1e3", "--epochs", "20", "--batch-size", "16", "--jobs", "1"]
    _compare(arguments, tmp_path)
    document = json.loads((tmp_path / "results.json").read_text())
    by_key = {(run["optimizer"], run["lr"]): run for run in document["runs"]}
    assert by_key[("sgd-nesterov", 1e3)]["diverged"] is True
    assert by_key[("sgd-nesterov", 1e3)]["final_loss"] is None
    assert by_key[("sgd-nesterov", 1e-2)]["diverged"] is False
    assert document["best"]["sgd-nesterov"]["lr"] == 1e-2
    assert "eve.png" not in {path.name for path in tmp_path.iterdir()}
    table = capsys.readouterr().out
    assert "1/2" in table


def test_a_run_that_raises_stops_the_comparison_with_its_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "broken_model.py"
    source.write_text(
        "import torch\n"
        "class Broken(torch.nn.Linear):\n"
        "    def forward(self, x):\n"
        "        raise ValueError('shapes do not match')\n"
        "def make():\n"
        "    return (torch.zeros(8, 2), torch.zeros(8, dtype=torch.long),\n"
        "            lambda: Broken(2, 2), torch.nn.CrossEntropyLoss())\n"
    )
    out = tmp_path / "out"
    arguments = ["--task", f"{source}:make", "--optimizers", "adam", "--lrs", "0.01"]
    assert main(["compare", *arguments, "--jobs", "1", "--quiet", "--out", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "Traceback (most recent call last):"
    assert err[-1] == (
        "eveopt compare: error: run Adam lr=0.01 failed: ValueError: shapes do not match"
    )
    assert not (out / "runs").exists()

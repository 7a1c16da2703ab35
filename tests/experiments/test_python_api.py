"""The Python API of ``eveopt compare``: CompareConfig's checks, and run_compare from a script."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from eveopt.experiments.compare import MAX_SEED, CompareConfig, ConfigError
from eveopt.experiments.grids import grid_lrs

REPO = Path(__file__).resolve().parents[2]


class _PathLike:
    def __init__(self, path: str) -> None:
        self.path = path

    def __fspath__(self) -> str:
        return self.path


@pytest.mark.parametrize("given", ["some/dir", Path("some/dir"), _PathLike("some/dir")], ids=repr)
def test_out_may_be_a_str_or_any_path_like(
    given: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = CompareConfig(out=given)  # type: ignore[arg-type]
    config.validate()
    assert config.out == Path("some/dir")
    assert config.out_dir == Path("some/dir")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"out": ""}, "--out must not be empty"),
        ({"out": b"some/dir"}, "--out must be a folder path"),
        ({"lrs": (1e-3,), "lr_grid": "paper"}, "lrs and lr_grid exclude each other"),
        ({"lrs": (1e-3,), "lr_grid": "quick"}, "lrs and lr_grid exclude each other"),
        ({"seed": MAX_SEED + 1}, "seed must be at most 2**63 - 1"),
        ({"seed": 99999999999999999999999}, "seed must be at most 2**63 - 1"),
        ({"threads": 0}, "threads must be a positive integer, got 0"),
        ({"optimizers": "eve"}, "optimizers must be a tuple or list of values, got 'eve'"),
        ({"lrs": 1e-2}, "lrs must be a tuple or list of values, got 0.01: write lrs=(0.01,)"),
        ({"threads": True}, "threads must be a positive integer, got True"),
    ],
    ids=str,
)
def test_invalid_settings_raise_config_error(
    settings: dict[str, object], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=re.escape(message)):
        CompareConfig(**settings).validate()  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_the_lr_grid_is_quick_unless_lrs_or_another_grid_is_given() -> None:
    assert CompareConfig().lrs_for("adam") == grid_lrs("quick", "adam")
    assert CompareConfig().description()["lr_grid"] == "quick"
    assert CompareConfig(lr_grid="paper").lrs_for("adam") == grid_lrs("paper", "adam")
    only_lrs = CompareConfig(lrs=(1e-2, 1e-3))
    assert only_lrs.lrs_for("adam") == (1e-3, 1e-2)
    assert only_lrs.description()["lr_grid"] is None
    CompareConfig(seed=MAX_SEED, out=Path(".")).validate()


def _python_example(markdown: str) -> str:
    section = markdown.split("## From Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


def test_the_docs_python_example_runs_the_comparison_only_as_the_main_script() -> None:
    example = _python_example((REPO / "docs" / "compare.md").read_text())
    module = ast.parse(example)
    for statement in module.body:
        if isinstance(statement, ast.If):
            assert ast.unparse(statement.test) == "__name__ == '__main__'"
        else:  # imports and definitions only: no call runs when a worker imports the script
            assert isinstance(statement, (ast.Import, ast.ImportFrom, ast.FunctionDef))
    assert "run_compare(" in ast.unparse(module)


def test_an_unguarded_script_stops_with_a_message_naming_the_main_guard(
    tmp_path: Path, exploding_task_spec: str
) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from eveopt.experiments import CompareConfig, run_compare\n"
        f"config = CompareConfig(task={exploding_task_spec!r}, optimizers=('adam', 'eve'),\n"
        "                       lrs=(1e-2,), epochs=1, jobs=2, quiet=True, out='out')\n"
        "run_compare(config)\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("eveopt.experiments.execution.RunFailed: a worker process exited while")
    assert 'if __name__ == "__main__":' in last
    # Each worker stopped at once, before reading or writing anything.
    assert "RuntimeError: run_compare called while a worker process was starting" in result.stderr
    assert list((tmp_path / "out").iterdir()) == []

"""The ``eveopt`` command line: help, cheap import, every bad input (exit 2, nothing written)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from eveopt import __version__
from eveopt.cli import main
from eveopt.experiments.optimizers import OPTIMIZERS

REPO = Path(__file__).resolve().parents[1]


def test_compare_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--help"]) == 0
    text = capsys.readouterr().out
    for option in (
        "--task",
        "--optimizers",
        "--lrs",
        "--lr-grid",
        "--epochs",
        "--batch-size",
        "--seed",
        "--jobs",
        "--out",
        "--quiet",
    ):
        assert f"  {option}" in text, option
    for name in (*OPTIMIZERS, "digits-cnn", "digits-logreg", "quick", "paper", "module:function"):
        assert name in text, name


def test_import_and_help_load_no_framework() -> None:
    code = (
        "import sys, contextlib, io\n"
        "import eveopt, eveopt.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert eveopt.cli.main(['compare', '--help']) == 0\n"
        "frameworks = ('torch', 'numpy', 'sklearn', 'matplotlib')\n"
        "print(sorted(name for name in frameworks if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_python_m_eveopt_is_the_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "eveopt", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == f"eveopt {__version__}"


# A quick comparison: a bad input that were accepted would end the test in seconds, not hours.
_QUICK = ["--task", "digits-logreg", "--optimizers", "adam", "--lrs", "1", "--epochs", "1"]


def _bad_inputs(tmp_path: Path) -> list[tuple[list[str], list[str]]]:
    a_file = tmp_path / "a-file"
    return [
        (["--task", "digits-mlp"], ["unknown task 'digits-mlp'", "digits-cnn, digits-logreg"]),
        (["--task", "not a spec:f"], ["malformed task"]),
        (["--task", "no_such_module_4f2a:make_task"], ["cannot import task module"]),
        (["--task", "json:no_such_function"], ["has no function 'no_such_function'"]),
        (["--optimizers", "eve", "adamw"], ["invalid choice: 'adamw'", "'sgd-nesterov'"]),
        (["--lr-grid", "fast"], ["invalid choice: 'fast'", "'quick', 'paper'"]),
        (["--frobnicate", "3"], ["unrecognized arguments: --frobnicate 3", "--lr-grid"]),
        (["--lrs", "0"], ["--lrs", "positive"]),
        (["--lrs", "1e-3", "-1e-3"], ["--lrs", "positive"]),
        (["--lrs", "nan"], ["--lrs", "positive and finite"]),
        (["--lrs", "fast"], ["--lrs", "'fast' is not a number"]),
        (["--lrs", "1e-3", "--lr-grid", "paper"], ["not allowed with argument --lrs"]),
        (["--epochs", "0"], ["--epochs", "positive integer"]),
        (["--epochs", "-3"], ["--epochs", "positive integer"]),
        (["--epochs", "2.5"], ["--epochs", "not an integer"]),
        (["--batch-size", "0"], ["--batch-size", "positive integer"]),
        (["--seed", "-1"], ["--seed", "non-negative integer"]),
        ([*_QUICK, "--seed", "99999999999999999999999"], ["--seed", "at most 2**63 - 1"]),
        ([*_QUICK, "--seed", str(2**63)], ["--seed", "at most 2**63 - 1"]),
        ([*_QUICK, "--out", ""], ["--out", "must not be empty"]),
        (["--jobs", "0"], ["--jobs", "positive integer"]),
        (["--threads", "0"], ["--threads", "positive integer"]),
        (["--out", str(a_file / "out")], ["cannot create --out", "is not a directory"]),
        (["--out", str(a_file)], ["exists and is not a directory"]),
    ]


@pytest.mark.parametrize("case", range(24))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    case: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cases = _bad_inputs(tmp_path)
    assert len(cases) == 24
    arguments, expected = cases[case]
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.chdir(tmp_path)
    assert main(["compare", *arguments]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("eveopt compare: error: ")
    for fragment in expected:
        assert fragment in lines[0]
    assert [item.name for item in tmp_path.iterdir()] == ["a-file"]


def test_a_missing_command_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert capsys.readouterr().err.strip() == (
        "eveopt: error: a command is required: choose from compare, reproduce (see eveopt --help)"
    )


def test_a_read_only_out_folder_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    probe = read_only / "probe"
    try:
        probe.mkdir()
    except PermissionError:
        pass
    else:
        probe.rmdir()
        pytest.skip("permissions are not enforced for this user (root)")
    assert main(["compare", "--out", str(read_only / "out")]) == 2
    assert "permission denied" in capsys.readouterr().err
    assert list(read_only.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_out_folder_on_a_read_only_file_system_is_bad_input(
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = Path("/proc/eveopt-compare-out")
    assert main(["compare", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("eveopt compare: error: cannot write to --out /proc/eveopt-compare-out")
    assert not target.exists()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def make_task(:\n    pass\n", ["failed while importing: SyntaxError", "line 1"]),
        ("raise RuntimeError('no GPU here')\n", ["failed while importing: RuntimeError: no GPU"]),
    ],
    ids=["syntax-error", "raises"],
)
def test_a_task_file_that_does_not_import_is_one_line_exit_2(
    source: str, expected: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task_file = tmp_path / "broken_task.py"
    task_file.write_text(source)
    out = tmp_path / "out"
    arguments = ["compare", "--task", f"{task_file}:make_task", "--out", str(out)]
    assert main(arguments) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    for fragment in expected:
        assert fragment in lines[0]
    assert not out.exists()

"""The examples run as users run them, and print what their docstrings promise."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"
TIMEOUT_S = 180


def run(*args: str) -> str:
    completed = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        cwd=EXAMPLES.parent,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


@pytest.mark.parametrize("name", ["train_digits", "amp", "accumulation", "bare_step"])
def test_single_process_examples_train_and_move_d_tilde(name: str) -> None:
    output = run(str(EXAMPLES / f"{name}.py"), "--epochs", "2")
    values = [float(v) for v in re.findall(r"d_tilde (\d+\.\d+)", output)]
    assert len(values) == 2
    assert all(0.1 <= value <= 10.0 for value in values)
    assert values[-1] != 1.0


def test_ddp_example_prints_the_same_checksum_on_both_ranks() -> None:
    output = run(
        "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        str(EXAMPLES / "ddp.py"), "--epochs", "1",
    )  # fmt: skip
    checksums = dict(re.findall(r"rank (\d): final parameters checksum (\S+)", output))
    assert set(checksums) == {"0", "1"}
    assert checksums["0"] == checksums["1"]

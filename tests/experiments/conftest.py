"""Fixtures of the experiment-harness tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent


@pytest.fixture
def exploding_task_spec() -> str:
    """The spec of a task that diverges under SGD at lr 1e3 (a file path spec)."""
    return f"{HERE / 'exploding_task.py'}:make_task"


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Train in-process runs on one thread, as each --jobs worker does on a 2-core machine.

    The harness's models are small: a second thread does not speed them up, and on a shared
    machine OpenMP's spinning threads can slow them down many times over.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

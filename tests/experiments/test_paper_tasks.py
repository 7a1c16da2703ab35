"""The built-in tasks of the paper's datasets: their specs, data folders, and sample limits."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from eveopt.experiments.compare import CompareConfig, ConfigError
from eveopt.experiments.execution import task_fingerprint
from eveopt.experiments.models import count_parameters
from eveopt.experiments.tasks import (
    TaskError,
    file_backed_tasks,
    resolve_task,
    subset_task,
    task_needs_data,
    validate_task_data,
    validate_task_spec,
)


def test_task_names() -> None:
    assert file_backed_tasks() == (
        "cifar100-resnet", "cifar10-cnn", "mnist-logreg", "ptb-char-gru", "babi-gru",
    )  # fmt: skip
    assert task_needs_data("babi-gru-q6")
    assert not task_needs_data("text-char-gru")
    validate_task_spec("babi-gru-q20")
    with pytest.raises(TaskError, match="unknown task 'babi-gru-q21'"):
        validate_task_spec("babi-gru-q21")


def test_data_dir_is_required_exactly_by_file_backed_tasks(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match=r"give --data-dir DIR, a folder holding the four MNIST"):
        validate_task_data("mnist-logreg", None)
    with pytest.raises(TaskError, match="has its data built in: leave out --data-dir"):
        validate_task_data("digits-cnn", tmp_path)
    with pytest.raises(TaskError, match="is not a folder"):
        validate_task_data("mnist-logreg", tmp_path / "absent")
    with pytest.raises(ConfigError, match="task ptb-char-gru reads its data from files"):
        CompareConfig(task="ptb-char-gru").validate()


def test_text_char_gru_is_the_embedded_prose() -> None:
    task = resolve_task("text-char-gru")
    assert (task.num_samples, tuple(task.inputs.shape[1:])) == (999, (100,))
    assert torch.equal(task.inputs[:, 1:], task.targets[:, :-1])  # next-character targets
    model = task.make_model()
    vocabulary = int(task.inputs.max()) + 1
    logits = model(task.inputs[:2])
    assert logits.shape[:2] == (2, 100)
    assert logits.shape[2] >= vocabulary
    loss = task.loss(logits, task.targets[:2]).detach()
    assert loss.dim() == 0
    assert float(loss) == pytest.approx(np.log(logits.shape[2]), rel=0.1)


def test_ptb_char_gru_reads_the_character_files(tmp_path: Path) -> None:
    sentence = " ".join("the_cat_sat_on_the_mat") + "\n"
    (tmp_path / "ptb.char.train.txt").write_text(sentence * 40)
    task = resolve_task("ptb-char-gru", data_dir=tmp_path)
    # 22 characters and an end of line per sentence: 920 symbols, 9 windows of 100 + target.
    assert task.inputs.shape == (9, 100)
    model = task.make_model()
    assert count_parameters(model) > 600_000  # 2 x GRU(256) over the file's few characters


def idx(array: np.ndarray, magic: int) -> bytes:
    sizes = b"".join(struct.pack(">I", size) for size in array.shape)
    return struct.pack(">I", magic) + sizes + array.tobytes()


def test_mnist_logreg_on_idx_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 12), ("t10k", 3)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, count).astype(np.uint8)
        (tmp_path / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx(images, 2051)))
        (tmp_path / f"{prefix}-labels-idx1-ubyte").write_bytes(idx(labels, 2049))
    task = resolve_task("mnist-logreg", data_dir=tmp_path)
    assert task.inputs.shape == (12, 1, 28, 28)
    assert task.targets.dtype == torch.int64
    assert count_parameters(task.make_model()) == 7_850


def test_max_samples_is_a_seeded_subset_in_the_run_identity() -> None:
    full = resolve_task("digits-logreg")
    first = subset_task(full, 100, seed=0)
    assert first.num_samples == 100
    assert torch.equal(first.inputs, subset_task(full, 100, seed=0).inputs)
    assert not torch.equal(first.inputs, subset_task(full, 100, seed=1).inputs)
    assert subset_task(full, 5000, seed=0) is full  # at least all: the task as it is
    with pytest.raises(TaskError, match="max_samples must be a positive integer"):
        subset_task(full, 0, seed=0)
    assert task_fingerprint(first, 0)["data"] != task_fingerprint(full, 0)["data"]
    plain = CompareConfig(task="digits-logreg", lrs=(1e-3,), optimizers=("adam",))
    limited = CompareConfig(
        task="digits-logreg", lrs=(1e-3,), optimizers=("adam",), max_samples=100
    )
    fingerprint = task_fingerprint(full, 0)
    (plain_spec,) = plain.run_specs(fingerprint)
    (limited_spec,) = limited.run_specs(fingerprint)
    assert "max_samples" not in plain_spec.identity()  # unchanged ids for plain runs
    assert limited_spec.identity()["max_samples"] == 100
    assert plain_spec.run_id != limited_spec.run_id

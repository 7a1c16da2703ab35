"""The run protocol: same seed => same initial weights and batches; divergence; Eve's trace."""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace
from typing import Any

import pytest
import torch

from eveopt.experiments.runner import EVAL_BATCH_SIZE, RunSpec, evaluate_loss, execute_run
from eveopt.experiments.tasks import Task, digits_cnn, resolve_task


class _Recorder:
    """Captures what a run actually used: its initial weights and every batch's indices."""

    def __init__(self) -> None:
        self.initial_state: dict[str, torch.Tensor] = {}
        self.batches: list[torch.Tensor] = []
        self.epochs: list[float] = []

    def on_start(self, spec: RunSpec, model: torch.nn.Module) -> None:
        self.initial_state = {name: t.detach().clone() for name, t in model.state_dict().items()}

    def on_step(self, spec: RunSpec, step: int, indices: torch.Tensor, loss: float) -> None:
        self.batches.append(indices.clone())

    def on_epoch(self, spec: RunSpec, epoch: int, full_loss: float) -> None:
        self.epochs.append(full_loss)


def _spec(optimizer: str, lr: float, seed: int = 7, epochs: int = 2) -> RunSpec:
    return RunSpec(
        task="digits-cnn",
        task_fingerprint={},
        optimizer=optimizer,
        lr=lr,
        epochs=epochs,
        batch_size=256,
        seed=seed,
    )


@pytest.fixture(scope="module")
def cnn_task() -> Task:
    return digits_cnn()


def _record(task: Task, spec: RunSpec) -> tuple[_Recorder, dict[str, Any]]:
    recorder = _Recorder()
    record = execute_run(spec, task, recorder)
    return recorder, record


def test_same_seed_gives_every_optimizer_the_same_initial_weights_and_batches(
    cnn_task: Task,
) -> None:
    runs = [
        _record(cnn_task, _spec(name, lr))
        for name, lr in (("eve", 1e-3), ("adam", 1e-2), ("sgd-nesterov", 0.1), ("adadelta", 1.0))
    ]
    reference, _ = runs[0]
    steps_per_epoch = math.ceil(1797 / 256)
    assert len(reference.batches) == 2 * steps_per_epoch
    for epoch in range(2):
        epoch_indices = torch.cat(
            reference.batches[epoch * steps_per_epoch : (epoch + 1) * steps_per_epoch]
        )
        assert torch.equal(epoch_indices.sort().values, torch.arange(1797))
    for recorder, _ in runs[1:]:
        assert recorder.initial_state.keys() == reference.initial_state.keys()
        for name, tensor in reference.initial_state.items():
            assert torch.equal(recorder.initial_state[name], tensor), name
        assert len(recorder.batches) == len(reference.batches)
        for mine, theirs in zip(recorder.batches, reference.batches, strict=True):
            assert torch.equal(mine, theirs)
    # The runs did train differently, from the same start.
    assert len({tuple(recorder.epochs) for recorder, _ in runs}) == len(runs)


def test_another_seed_gives_other_initial_weights_and_batches(cnn_task: Task) -> None:
    first, _ = _record(cnn_task, _spec("adam", 1e-3, seed=7, epochs=1))
    second, _ = _record(cnn_task, _spec("adam", 1e-3, seed=8, epochs=1))
    assert not torch.equal(first.initial_state["0.weight"], second.initial_state["0.weight"])
    assert not torch.equal(first.batches[0], second.batches[0])


def test_a_run_repeats_exactly_and_leaves_the_callers_rng_alone(cnn_task: Task) -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    _, first = _record(cnn_task, _spec("eve", 1e-3, epochs=1))
    assert torch.equal(torch.rand(3), expected_next)
    _, second = _record(cnn_task, _spec("eve", 1e-3, epochs=1))
    for key in ("batch_losses", "epoch_losses", "d", "effective_lr", "initial_loss"):
        assert first[key] == second[key], key


RESULT_KEYS = ("batch_losses", "epoch_losses", "d", "effective_lr", "initial_loss", "final_loss")


def _with_caller_threads(task: Task, spec: RunSpec, threads: int) -> dict[str, Any]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        record = execute_run(spec, task)
        assert torch.get_num_threads() == threads  # the caller's count is restored
    finally:
        torch.set_num_threads(previous)
    return record


def test_a_runs_numbers_do_not_depend_on_the_callers_thread_count(cnn_task: Task) -> None:
    # A --jobs 1 comparison runs in the main process with torch's default threads (one per
    # CPU), a --jobs 2 one in workers: both must compute every run alike.
    spec = _spec("eve", 1e-2, epochs=3)
    one, two = (_with_caller_threads(cnn_task, spec, threads) for threads in (1, 2))
    for key in RESULT_KEYS:
        assert one[key] == two[key], key
    assert one["torch_threads"] == two["torch_threads"] == 1


def test_the_thread_count_changes_the_rounding_so_it_is_part_of_the_identity(
    cnn_task: Task,
) -> None:
    spec = _spec("eve", 1e-2, epochs=3)
    two_threads = replace(spec, threads=2)
    assert "threads" not in spec.identity()
    assert two_threads.identity()["threads"] == 2
    assert two_threads.run_id != spec.run_id
    one, two = execute_run(spec, cnn_task), execute_run(two_threads, cnn_task)
    assert two["torch_threads"] == 2
    if one["batch_losses"] == two["batch_losses"]:
        pytest.skip("this machine's kernels round alike on 1 and 2 threads for this run")
    assert one["batch_losses"][0] == two["batch_losses"][0]  # same weights, same first batch


def test_the_initial_weights_are_glorot_uniform_with_zero_biases(cnn_task: Task) -> None:
    recorder, _ = _record(cnn_task, _spec("adam", 1e-3, epochs=1))
    state = recorder.initial_state
    # conv 3x3 1->32, conv 3x3 32->64, dense 256->128, dense 128->10 (Keras' fans).
    for name, fan_in, fan_out in (
        ("0", 9, 288),
        ("2", 288, 576),
        ("7", 256, 128),
        ("10", 128, 10),
    ):
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        weight = state[f"{name}.weight"]
        assert float(weight.abs().max()) <= bound
        assert float(weight.abs().max()) > 0.9 * bound
        assert float(weight.std()) == pytest.approx(bound / math.sqrt(3.0), rel=0.1)
        assert torch.count_nonzero(state[f"{name}.bias"]) == 0


def test_eve_records_d_and_effective_lr_after_every_step(cnn_task: Task) -> None:
    _, record = _record(cnn_task, _spec("eve", 5e-3))
    steps = len(record["batch_losses"])
    assert steps == 2 * math.ceil(1797 / 256)
    assert len(record["d"]) == len(record["effective_lr"]) == steps
    for d_tilde, effective_lr in zip(record["d"], record["effective_lr"], strict=True):
        assert effective_lr == pytest.approx(5e-3 / d_tilde, rel=1e-12)
    assert record["d"][0] == 1.0
    assert record["d"] != [1.0] * steps
    _, adam_record = _record(cnn_task, _spec("adam", 5e-3, epochs=1))
    assert "d" not in adam_record


def test_a_diverging_run_stops_and_is_recorded_as_diverged(exploding_task_spec: str) -> None:
    task = resolve_task(exploding_task_spec)
    spec = RunSpec(exploding_task_spec, {}, "sgd-nesterov", 1e3, 20, 16, 0)
    record = execute_run(spec, task)
    assert record["diverged"] is True
    assert record["final_loss"] is None
    diverged_at = record["diverged_at"]
    assert diverged_at["epoch"] < 20
    assert not math.isfinite(record["batch_losses"][-1])
    assert all(math.isfinite(loss) for loss in record["batch_losses"][:-1])
    assert len(record["epoch_losses"]) == diverged_at["epoch"] - 1
    healthy = execute_run(replace(spec, lr=1e-2), task)
    assert healthy["diverged"] is False
    assert healthy["final_loss"] < healthy["initial_loss"]


def test_full_loss_is_the_sample_mean_in_eval_mode() -> None:
    generator = torch.Generator().manual_seed(0)
    samples = EVAL_BATCH_SIZE * 2 + 37
    inputs = torch.randn(samples, 5, generator=generator)
    targets = torch.randint(0, 3, (samples,), generator=generator)
    task = Task(
        inputs=inputs,
        targets=targets,
        make_model=lambda: torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(5, 3)),
        loss=torch.nn.CrossEntropyLoss(),
    )
    model = task.make_model()
    model.train()
    with torch.no_grad():
        expected = float(torch.nn.functional.cross_entropy(model[1](inputs), targets))
    assert evaluate_loss(model, task) == pytest.approx(expected, rel=1e-6)
    assert model.training


# In a fresh process (this one has built optimizers already): record, each time a run reads its
# clock, whether torch._dynamo, which the process's first optimizer imports (~2 s), is loaded.
FIRST_RUN_CLOCK = """
import sys, time
import torch
from eveopt.experiments import runner
from eveopt.experiments.tasks import Task

loaded_when_timed = []

class Clock:
    @staticmethod
    def perf_counter():
        loaded_when_timed.append("torch._dynamo" in sys.modules)
        return time.perf_counter()

print("torch._dynamo" in sys.modules)
runner.time = Clock
task = Task(torch.zeros(4, 2), torch.zeros(4), lambda: torch.nn.Linear(2, 1), torch.nn.MSELoss())
runner.execute_run(runner.RunSpec("line", {}, "sgd-nesterov", 0.1, 1, 4, 0), task)
print(all(loaded_when_timed), len(loaded_when_timed))
"""


def test_a_process_first_run_is_timed_after_the_one_time_start_up_cost() -> None:
    result = subprocess.run(
        [sys.executable, "-c", FIRST_RUN_CLOCK], capture_output=True, text=True, check=True
    )
    loaded_before, loaded_when_timed, clock_reads = result.stdout.split()
    if loaded_before == "True":
        pytest.skip("this torch imports torch._dynamo with torch: no first-optimizer cost")
    assert loaded_when_timed == "True"
    assert int(clock_reads) >= 2  # the start, and the end of the epoch at least

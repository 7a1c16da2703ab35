"""One run of a comparison: train a task's model with one optimizer at one lr, record everything.

The protocol is the paper's: the model is built right after seeding torch, so every optimizer of
a comparison starts from the same weights; the mini-batch order comes from a generator seeded
with the same seed, and dropout draws from torch's global generator, which is seeded too, so
every optimizer sees the same batches and the same dropout masks. Per step the batch loss is
recorded (and, for Eve, d~ and the effective lr after the step); after each epoch the loss over
the whole training set in eval mode and the wall time. A non-finite batch or full loss ends the
run as diverged.

A run computes with a fixed number of torch threads (:attr:`RunSpec.threads`, default 1), set
for the run and restored after it: CPU kernels split their sums by thread count, so two thread
counts round differently, and training amplifies that rounding within a few epochs into
different final losses (measured: Eve at lr 1e-2 on ``digits-cnn`` ends 20 epochs at 0.00462
on one thread and at 0.00168 on two). With the count fixed, a run's numbers do not depend on
``--jobs`` or on how many runs were left to compute, and a run repeated on the same machine is
bitwise identical.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

from eveopt.experiments.optimizers import OPTIMIZERS
from eveopt.experiments.schedules import per_iteration_scheduler
from eveopt.experiments.store import make_run_id

if TYPE_CHECKING:
    import torch

    from eveopt.experiments.tasks import Task

__all__ = [
    "EVAL_BATCH_SIZE",
    "RECORD_FORMAT",
    "RunCallbacks",
    "RunSpec",
    "code_fingerprint",
    "evaluate_loss",
    "execute_run",
    "installed_versions",
    "model_fingerprint",
    "warm_up",
]

RECORD_FORMAT = 1
"""Version of the run record layout; part of every run's identity."""

EVAL_BATCH_SIZE = 1024
"""Samples per forward pass when evaluating the full training loss (does not change results)."""


def installed_versions() -> dict[str, str]:
    """The versions of eveopt and torch installed here (part of every run's identity)."""
    import torch

    import eveopt

    return {"eveopt": eveopt.__version__, "torch": torch.__version__}


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines one run (and so its id).

    Args:
        task: the task spec (``digits-cnn`` or ``module:function``).
        task_fingerprint: hashes of the task's data, initial model, loss and source code, plus
            its f* (from :func:`model_fingerprint`, :func:`code_fingerprint` and
            :class:`~eveopt.experiments.tasks.Task`).
        optimizer: a registry name of :data:`~eveopt.experiments.optimizers.OPTIMIZERS`.
        lr: the learning rate.
        epochs: passes over the training set.
        batch_size: samples per mini-batch (the last batch of an epoch may be smaller).
        seed: seeds the initial weights, the batch order and dropout.
        versions: the eveopt and torch versions that implement the optimizers (by default the
            installed ones), so an upgrade never reuses a run computed by older code.
        max_samples: the task was cut to this many training samples (``None``: all).
        hyperparameters: overrides of the registered optimizer's hyperparameters (Eve's
            ``beta3`` and ``c`` in the sensitivity study).
        schedule: a per-iteration lr decay, ``{"policy", "k", "gamma"}``
            (:mod:`~eveopt.experiments.schedules`); ``None``: a constant lr.
        variant: a display name for runs that differ from the registered optimizer
            (``adam-exponential-k10``); it prefixes the run id but is not hashed.
        threads: the torch threads the run computes with (see the module docstring).

    The identity holds ``max_samples``, ``hyperparameters``, ``schedule`` and ``threads`` only
    when they differ from their defaults, so a plain run keeps the id it always had.
    """

    task: str
    task_fingerprint: Mapping[str, Any]
    optimizer: str
    lr: float
    epochs: int
    batch_size: int
    seed: int
    versions: Mapping[str, str] = field(default_factory=installed_versions)
    max_samples: int | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    schedule: Mapping[str, Any] | None = None
    variant: str = ""
    threads: int = 1

    def optimizer_identity(self) -> dict[str, Any]:
        """The optimizer's identity with this run's hyperparameter overrides applied."""
        identity = OPTIMIZERS[self.optimizer].identity()
        for key, value in sorted(self.hyperparameters.items()):
            identity["hyperparameters"][key] = list(value) if isinstance(value, tuple) else value
        return identity

    def identity(self) -> dict[str, Any]:
        """The run's identity as plain JSON data: what the run id hashes."""
        identity: dict[str, Any] = {
            "format": RECORD_FORMAT,
            "task": self.task,
            "task_fingerprint": dict(self.task_fingerprint),
            "optimizer": self.optimizer_identity(),
            "lr": float(self.lr),
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "versions": dict(self.versions),
        }
        if self.max_samples is not None:
            identity["max_samples"] = self.max_samples
        if self.schedule is not None:
            identity["schedule"] = dict(self.schedule)
        if self.threads != 1:
            identity["threads"] = self.threads
        return identity

    @property
    def label(self) -> str:
        """The variant, or the optimizer's registry name."""
        return self.variant or self.optimizer

    @property
    def run_id(self) -> str:
        """The run's id: ``<variant or optimizer>-lr<lr>-<hash of the identity>``."""
        return make_run_id(self.identity(), label=self.label)


class RunCallbacks(Protocol):
    """Observers of a run in progress (progress display, tests). All methods are optional."""

    def on_start(self, spec: RunSpec, model: torch.nn.Module) -> None:
        """Called once with the freshly initialised model, before the first step."""

    def on_step(self, spec: RunSpec, step: int, indices: torch.Tensor, loss: float) -> None:
        """Called after each step with the sample indices of its batch and its batch loss."""

    def on_epoch(self, spec: RunSpec, epoch: int, full_loss: float) -> None:
        """Called after each epoch (1-based) with the full training loss."""


class _TakesLoss(Protocol):
    """An optimizer fed the loss at every step, exposing its coefficient (Eve's interface)."""

    @property
    def d(self) -> float: ...

    @property
    def effective_lr(self) -> list[float]: ...

    def step(self, closure: None = None, *, loss: torch.Tensor) -> object: ...


def _seeded_model(task: Task, seed: int) -> torch.nn.Module:
    import torch

    torch.manual_seed(seed)
    model = task.make_model()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"the task's make_model returned {type(model).__name__}, not a Module")
    return model


def model_fingerprint(task: Task, seed: int) -> str:
    """SHA-256 of the task's model as built under ``seed``: its structure and initial weights.

    The global torch RNG state of the caller is left as it was.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        model = _seeded_model(task, seed)
    digest = hashlib.sha256(repr(model).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def code_fingerprint(task: Task, seed: int) -> str:
    """SHA-256 of the source code that defines ``task`` and its model as built under ``seed``.

    See :meth:`~eveopt.experiments.tasks.Task.code_fingerprint`. The global torch RNG state of
    the caller is left as it was.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        model = _seeded_model(task, seed)
    return task.code_fingerprint(model)


@functools.cache
def warm_up() -> None:
    """Pay a process's one-time start-up costs of the optimizers, once, before any run is timed.

    A process's first optimizer costs seconds (torch imports ``torch._dynamo`` when the first
    one is built) and importing Eve takes a while too; without this, whichever run came first
    in a process would have that cost in its ``wall_time_s``. Builds each registered optimizer
    on a throwaway parameter and steps a throwaway Adam (Eve is not stepped: under
    torch.distributed its step talks to the other ranks). Later calls do nothing.
    """
    import torch

    parameter = torch.nn.Parameter(torch.zeros(1))
    parameter.grad = torch.zeros(1)
    for spec in OPTIMIZERS.values():
        spec.build([parameter], 1e-3)
    torch.optim.Adam([parameter]).step()


def evaluate_loss(model: torch.nn.Module, task: Task) -> float:
    """The mean loss over the whole training set, in eval mode (dropout off), without gradients.

    The task's loss is a batch mean, so chunks are weighted by their size.
    """
    import torch

    was_training = model.training
    model.eval()
    total = 0.0
    try:
        with torch.no_grad():
            for start in range(0, task.num_samples, EVAL_BATCH_SIZE):
                inputs = task.inputs[start : start + EVAL_BATCH_SIZE]
                targets = task.targets[start : start + EVAL_BATCH_SIZE]
                total += float(task.loss(model(inputs), targets)) * int(inputs.shape[0])
    finally:
        model.train(was_training)
    return total / task.num_samples


def execute_run(spec: RunSpec, task: Task, callbacks: RunCallbacks | None = None) -> dict[str, Any]:
    """Train ``task``'s model with ``spec``'s optimizer and lr; return the run's record.

    The record holds the identity fields, ``initial_loss`` (full training loss before the first
    step), ``epoch_losses`` and ``epoch_wall_s`` (per epoch), ``final_loss`` (``None`` when
    diverged), ``diverged`` and ``diverged_at`` (``{"epoch", "step"}``), ``wall_time_s``,
    ``batch_losses`` (per step, before the step), and for optimizers that take the loss ``d``
    and ``effective_lr`` (after each step). Non-finite values stay floats here; the store writes
    them as ``null``. The caller's global torch RNG state and thread count are restored
    afterwards. The times start after :func:`warm_up`, so a process's first run is timed like
    the others.
    """
    import torch

    caller_threads = torch.get_num_threads()
    torch.set_num_threads(spec.threads)
    try:
        return _train(spec, task, callbacks)
    finally:
        torch.set_num_threads(caller_threads)


def _train(spec: RunSpec, task: Task, callbacks: RunCallbacks | None) -> dict[str, Any]:
    """The body of :func:`execute_run`, run with ``spec.threads`` torch threads."""
    import torch

    optimizer_spec = OPTIMIZERS[spec.optimizer]
    warm_up()  # the process's one-time costs stay out of the run's time
    started = time.perf_counter()
    batch_losses: list[float] = []
    d_trace: list[float] = []
    effective_lr_trace: list[float] = []
    epoch_losses: list[float] = []
    epoch_wall_s: list[float] = []
    diverged_at: dict[str, int] | None = None

    with torch.random.fork_rng(devices=[]):
        model = _seeded_model(task, spec.seed)
        # Dropout draws from the global generator from here on, identically in every run.
        torch.manual_seed(spec.seed)
        batch_order = torch.Generator().manual_seed(spec.seed)
        optimizer = optimizer_spec.build(
            model.parameters(), spec.lr, f_star=task.f_star, **spec.hyperparameters
        )
        scheduler = (
            None
            if spec.schedule is None
            else per_iteration_scheduler(
                optimizer, str(spec.schedule["policy"]), float(spec.schedule["gamma"])
            )
        )
        if callbacks is not None:
            callbacks.on_start(spec, model)
        initial_loss = evaluate_loss(model, task)
        model.train()
        step = 0
        for epoch in range(1, spec.epochs + 1):
            permutation = torch.randperm(task.num_samples, generator=batch_order)
            for start in range(0, task.num_samples, spec.batch_size):
                indices = permutation[start : start + spec.batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = task.loss(model(task.inputs[indices]), task.targets[indices])
                loss_value = float(loss.detach())
                batch_losses.append(loss_value)
                if not math.isfinite(loss_value):
                    diverged_at = {"epoch": epoch, "step": step}
                    break
                torch.autograd.backward(loss)
                if optimizer_spec.needs_loss:
                    loss_fed = cast(_TakesLoss, optimizer)
                    loss_fed.step(loss=loss)
                    d_trace.append(float(loss_fed.d))
                    effective_lr_trace.append(float(loss_fed.effective_lr[0]))
                else:
                    optimizer.step()
                if scheduler is not None:
                    scheduler.step()  # the paper's decay counts iterations, not epochs
                step += 1
                if callbacks is not None:
                    callbacks.on_step(spec, step, indices, loss_value)
            if diverged_at is not None:
                break
            full_loss = evaluate_loss(model, task)
            epoch_losses.append(full_loss)
            epoch_wall_s.append(time.perf_counter() - started)
            if callbacks is not None:
                callbacks.on_epoch(spec, epoch, full_loss)
            if not math.isfinite(full_loss):
                diverged_at = {"epoch": epoch, "step": step}
                break

    record: dict[str, Any] = {
        "run_id": spec.run_id,
        "task": spec.task,
        "optimizer": spec.optimizer,
        "lr": float(spec.lr),
        "seed": spec.seed,
        "epochs": spec.epochs,
        "batch_size": spec.batch_size,
        "f_star": task.f_star,
        "variant": spec.variant,
        "hyperparameters": spec.optimizer_identity()["hyperparameters"],
        "max_samples": spec.max_samples,
        "schedule": None if spec.schedule is None else dict(spec.schedule),
        "diverged": diverged_at is not None,
        "diverged_at": diverged_at,
        "initial_loss": initial_loss,
        "final_loss": None if diverged_at is not None or not epoch_losses else epoch_losses[-1],
        "epoch_losses": epoch_losses,
        "epoch_wall_s": epoch_wall_s,
        "wall_time_s": time.perf_counter() - started,
        "steps_per_epoch": math.ceil(task.num_samples / spec.batch_size),
        "batch_losses": batch_losses,
        "identity": spec.identity(),
        "versions": dict(spec.versions),
        "torch_threads": torch.get_num_threads(),
    }
    if optimizer_spec.needs_loss:
        record["d"] = d_trace
        record["effective_lr"] = effective_lr_trace
    return record

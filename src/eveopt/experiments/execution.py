"""Computing a set of runs: in this process or in worker processes, each saved as it ends.

:func:`compute_runs` is the engine under ``eveopt compare`` and ``eveopt reproduce``: given the
task (and the :class:`TaskSource` that rebuilds it in a worker process) and the runs' specs, it
loads the runs already in the store, computes the others (in ``jobs`` processes started with
``spawn``, each run on its own fixed number of torch threads), saves each the moment it ends,
and shows progress. Ctrl-C raises :class:`Interrupted` with every finished run saved; a run that
raises an exception raises :class:`RunFailed` with its traceback.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import traceback
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from eveopt.experiments.optimizers import OPTIMIZERS
from eveopt.experiments.progress import Progress
from eveopt.experiments.runner import RunSpec, code_fingerprint, execute_run, model_fingerprint
from eveopt.experiments.store import RunStore
from eveopt.experiments.tasks import TaskError, resolve_task

if TYPE_CHECKING:
    import torch

    from eveopt.experiments.tasks import Task

__all__ = [
    "MAIN_GUARD_HINT",
    "Interrupted",
    "RunBatch",
    "RunFailed",
    "TaskSource",
    "available_cpus",
    "compute_runs",
    "task_fingerprint",
]

MAIN_GUARD_HINT = (
    "worker processes import the main script again, so a script must call run_compare "
    'under `if __name__ == "__main__":` (or use jobs=1)'
)


class Interrupted(Exception):
    """The comparison was stopped by Ctrl-C; every run finished before it is saved."""

    def __init__(self, saved: int, total: int, out_dir: Path) -> None:
        super().__init__(f"interrupted: {saved} of {total} runs are saved in {out_dir}")
        self.saved = saved
        self.total = total
        self.out_dir = out_dir


class RunFailed(RuntimeError):
    """A run raised an exception (a bug, not a divergence); ``details`` holds its traceback."""

    def __init__(self, message: str, details: str) -> None:
        super().__init__(message)
        self.details = details


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class _EpochCallbacks:
    """Run callbacks that report epochs only (steps are too frequent to show)."""

    def on_start(self, spec: RunSpec, model: torch.nn.Module) -> None:
        """Nothing to show before the first epoch."""

    def on_step(self, spec: RunSpec, step: int, indices: torch.Tensor, loss: float) -> None:
        """Nothing to show per step."""

    def on_epoch(self, spec: RunSpec, epoch: int, full_loss: float) -> None:
        """Report an epoch's full training loss."""


class _ProgressCallbacks(_EpochCallbacks):
    """Feeds a run's epochs to the progress display (in-process runs)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def on_epoch(self, spec: RunSpec, epoch: int, full_loss: float) -> None:
        """Show the epoch and its full training loss."""
        self.progress.epoch_finished(spec.run_id, epoch, full_loss)


class _QueueCallbacks(_EpochCallbacks):
    """Sends a worker's epochs to the main process, which owns the progress display."""

    def __init__(self, events: Any) -> None:
        self.events = events

    def on_epoch(self, spec: RunSpec, epoch: int, full_loss: float) -> None:
        """Send the epoch and its full training loss to the main process."""
        self.events.put(("epoch", spec.run_id, epoch, full_loss))


def task_fingerprint(task: Task, seed: int) -> dict[str, Any]:
    """What identifies a task's effect on a run: data, initial model, loss, f*, source code."""
    return {
        "data": task.data_fingerprint(),
        "model": model_fingerprint(task, seed),
        "loss": task.loss_description(),
        "f_star": task.f_star,
        "code": code_fingerprint(task, seed),
    }


def _worker(
    index: int,
    source: TaskSource,
    fingerprint: dict[str, Any],
    out_dir: str,
    todo: Any,
    events: Any,
) -> None:
    """A worker process: build the task, then compute and save runs from ``todo`` until ``None``."""
    # Ctrl-C reaches the whole process group; the main process decides what happens.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Started: the main script, imported again by multiprocessing, did not stop this process.
    events.put(("ready", index))
    try:
        task = source.build()
        if task_fingerprint(task, source.seed) != fingerprint:
            raise TaskError(
                f"task {source.spec!r} built in a worker process differs from the main process's "
                f"(random data, a model not seeded from torch's global generator, or its code "
                f"edited since the comparison started?); use --jobs 1"
            )
    except Exception as error:
        events.put(("failed", None, f"{type(error).__name__}: {error}", traceback.format_exc()))
        return
    store = RunStore(Path(out_dir))
    callbacks = _QueueCallbacks(events)
    while (spec := todo.get()) is not None:
        events.put(("started", spec.run_id))
        try:
            record = execute_run(spec, task, callbacks)
            store.save(record)
        except Exception as error:
            events.put(
                ("failed", spec.run_id, f"{type(error).__name__}: {error}", traceback.format_exc())
            )
            return
        events.put(("finished", spec.run_id, record))


@contextmanager
def _sigint_ignored_in_children() -> Iterator[None]:
    """Start child processes with SIGINT ignored from their first instruction."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _describe(spec: RunSpec) -> str:
    label = spec.variant or OPTIMIZERS[spec.optimizer].label
    return f"{label} lr={spec.lr:g}"


def _compute_in_process(
    pending: Sequence[RunSpec], task: Task, store: RunStore, progress: Progress
) -> Generator[dict[str, Any], None, None]:
    callbacks = _ProgressCallbacks(progress)
    for spec in pending:
        progress.run_started(spec.run_id, spec.optimizer, spec.lr, spec.epochs, spec.variant)
        try:
            record = execute_run(spec, task, callbacks)
        except Exception as error:
            raise RunFailed(
                f"run {_describe(spec)} failed: {type(error).__name__}: {error}",
                traceback.format_exc(),
            ) from error
        store.save(record)
        progress.run_finished(spec.run_id, record)
        yield record


def _compute_in_workers(
    pending: Sequence[RunSpec],
    source: TaskSource,
    fingerprint: dict[str, Any],
    jobs: int,
    store: RunStore,
    progress: Progress,
) -> Generator[dict[str, Any], None, None]:
    context = multiprocessing.get_context("spawn")
    todo = context.Queue()
    events = context.Queue()
    for spec in pending:
        todo.put(spec)
    for _ in range(jobs):
        todo.put(None)
    by_id = {spec.run_id: spec for spec in pending}
    workers = [
        context.Process(
            target=_worker,
            args=(
                index,
                source,
                fingerprint,
                str(store.out_dir),
                todo,
                events,
            ),
            name=f"eveopt-compare-{index}",
            daemon=True,
        )
        for index in range(jobs)
    ]
    with _sigint_ignored_in_children():
        for worker in workers:
            worker.start()
    remaining = set(by_id)
    ready: set[int] = set()
    completed = False
    try:
        while remaining:
            try:
                event = events.get(timeout=0.5)
            except queue.Empty:
                event = None
            if event is None:
                _check_workers(workers, ready, len(remaining))
                continue
            kind, run_id = event[0], event[1]
            if kind == "ready":
                ready.add(run_id)
            elif kind == "started":
                spec = by_id[run_id]
                progress.run_started(run_id, spec.optimizer, spec.lr, spec.epochs, spec.variant)
            elif kind == "epoch":
                progress.epoch_finished(run_id, event[2], event[3])
            elif kind == "finished":
                remaining.discard(run_id)
                progress.run_finished(run_id, event[2])
                yield event[2]
            else:
                where = "building the task" if run_id is None else f"run {_describe(by_id[run_id])}"
                raise RunFailed(f"{where} failed in a worker process: {event[2]}", event[3])
        completed = True
    finally:
        if completed:
            for worker in workers:
                worker.join()
        else:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.join()
            todo.cancel_join_thread()
            events.cancel_join_thread()
        todo.close()
        events.close()


def _check_workers(workers: Sequence[Any], ready: set[int], remaining: int) -> None:
    """Raise :class:`RunFailed` when a worker died, or every worker ended, with runs left."""
    dead = [index for index, worker in enumerate(workers) if worker.exitcode not in (None, 0)]
    if not dead and any(worker.is_alive() for worker in workers):
        return
    code = workers[dead[0]].exitcode if dead else 0
    if any(index not in ready for index in dead):
        # It never reached _worker: it died while multiprocessing bootstrapped it, which runs
        # the main script again (as __mp_main__); its traceback is on stderr above.
        raise RunFailed(
            f"a worker process exited while starting (exit code {code}; its error is above): "
            f"{MAIN_GUARD_HINT}; {remaining} runs not computed",
            "",
        )
    raise RunFailed(
        f"a worker process exited unexpectedly (exit code {code}); {remaining} runs not computed",
        "",
    )


@dataclass(frozen=True)
class TaskSource:
    """How to build a task in any process: its spec, data folder, sample limit and seed.

    Args:
        spec: a built-in task name or ``module:function`` / ``file.py:function``.
        data_dir: the data folder of a file-backed task (``None`` for the others).
        max_samples: keep this many training samples after a seeded shuffle (``None``: all).
        seed: the shuffle's seed (the comparison's seed).
    """

    spec: str
    data_dir: str | None = None
    max_samples: int | None = None
    seed: int = 0

    def build(self) -> Task:
        """Build the task (see :func:`~eveopt.experiments.tasks.resolve_task`)."""
        return resolve_task(
            self.spec, data_dir=self.data_dir, max_samples=self.max_samples, seed=self.seed
        )


@dataclass
class RunBatch:
    """What :func:`compute_runs` produced: every spec's record, in the order of the specs."""

    records: list[dict[str, Any]]
    computed: list[str]
    reused: list[str]
    store: RunStore


def compute_runs(
    source: TaskSource,
    task: Task,
    fingerprint: dict[str, Any],
    specs: Sequence[RunSpec],
    out_dir: Path,
    *,
    jobs: int | None = None,
    quiet: bool = False,
    stderr: TextIO,
) -> RunBatch:
    """Load or compute every run of ``specs``, saving each in ``<out_dir>/runs/`` as it ends.

    ``task`` is ``source.build()`` with ``fingerprint`` its :func:`task_fingerprint` under the
    runs' seed (worker processes rebuild it from ``source`` and check the fingerprint).
    Duplicate specs are computed once. A stored run is reused only when it was computed with
    the spec's thread count (records of older versions may hold another); the others are
    computed again. ``jobs`` defaults to the CPUs divided by the runs' threads. Raises
    :class:`Interrupted` on Ctrl-C, :class:`RunFailed` when a run raises.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    store = RunStore(out_dir)
    store.remove_stale_temporaries()
    unique = list({spec.run_id: spec for spec in specs}.values())
    records: dict[str, dict[str, Any]] = {}
    for spec in unique:
        stored = store.load(spec.run_id)
        if stored is not None and stored.get("torch_threads") == spec.threads:
            records[spec.run_id] = stored
    reused = list(records)
    pending = [spec for spec in unique if spec.run_id not in records]
    if jobs is None:
        threads = max((spec.threads for spec in pending), default=1)
        jobs = max(1, available_cpus() // threads)
    jobs = min(jobs, max(1, len(pending)))
    progress = Progress(len(unique), stderr, quiet=quiet)
    progress.start(len(reused), len(pending), sum(spec.epochs for spec in pending), jobs)
    computed: list[str] = []
    try:
        computations = (
            _compute_in_process(pending, task, store, progress)
            if jobs == 1
            else _compute_in_workers(pending, source, fingerprint, jobs, store, progress)
        )
        with closing(computations):
            for record in computations:
                records[record["run_id"]] = record
                computed.append(record["run_id"])
    except KeyboardInterrupt:
        progress.close()
        saved = sum(1 for spec in unique if store.path_for(spec.run_id).exists())
        raise Interrupted(saved, len(unique), out_dir) from None
    finally:
        progress.close()
    return RunBatch([records[spec.run_id] for spec in specs], computed, reused, store)

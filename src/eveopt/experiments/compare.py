"""``eveopt compare``: the paper's optimizer comparison, run by run, resumable, then reported.

:func:`run_compare` validates a :class:`CompareConfig` (nothing is written when it is invalid),
builds the task once, derives one :class:`~eveopt.experiments.runner.RunSpec` per (optimizer, lr),
skips the runs already stored in ``<out>/runs/``, computes the others (in this process, or in
``jobs`` worker processes with torch's threads divided between them), saving each the moment it
ends, then writes results.json, results.csv, loss.png and eve.png and returns the ranked table.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from eveopt.experiments.grids import GRID_NAMES, grid_lrs
from eveopt.experiments.optimizers import OPTIMIZERS, optimizer_names
from eveopt.experiments.plots import plot_eve, plot_losses
from eveopt.experiments.progress import Progress
from eveopt.experiments.report import (
    format_table,
    results_document,
    select_best,
    write_results_csv,
    write_results_json,
)
from eveopt.experiments.runner import RunSpec, code_fingerprint, execute_run, model_fingerprint
from eveopt.experiments.store import RunStore, strict_json_value
from eveopt.experiments.tasks import (
    TaskError,
    resolve_task,
    task_slug,
    validate_task_spec,
)

if TYPE_CHECKING:
    import torch

    from eveopt.experiments.tasks import Task

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_EPOCHS",
    "DEFAULT_LR_GRID",
    "DEFAULT_SEED",
    "DEFAULT_TASK",
    "MAX_SEED",
    "CompareConfig",
    "CompareResult",
    "ConfigError",
    "Interrupted",
    "RunFailed",
    "available_cpus",
    "run_compare",
]

DEFAULT_TASK = "digits-cnn"
DEFAULT_EPOCHS = 40
DEFAULT_BATCH_SIZE = 128
DEFAULT_SEED = 0
DEFAULT_LR_GRID = "quick"
MAX_SEED = 2**63 - 1
"""The largest seed: torch seeds its generators with 64-bit integers."""

_MAIN_GUARD_HINT = (
    "worker processes import the main script again, so a script must call run_compare "
    'under `if __name__ == "__main__":` (or use jobs=1)'
)


class ConfigError(ValueError):
    """An invalid comparison setting; the message is one line naming it and the valid choices."""


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


def _check_output_dir(path: Path) -> None:
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"--out {path} exists and is not a directory")
        probe = path
    else:
        probe = path.parent
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            raise ConfigError(f"cannot create --out {path}: {probe} is not a directory")
    problem = None if os.access(probe, os.W_OK | os.X_OK) else "permission denied"
    if problem is None:
        try:
            # os.access says yes to root on a read-only file system: really try (and clean up).
            with tempfile.TemporaryFile(dir=probe):
                pass
        except OSError as error:
            problem = error.strerror or str(error)
    if problem is not None:
        raise ConfigError(f"cannot write to --out {path}: {problem} in {probe}")


@dataclass(frozen=True)
class CompareConfig:
    """The settings of one comparison (the options of ``eveopt compare``).

    Args:
        task: a built-in task name or ``package.module:function`` / ``file.py:function``.
        optimizers: registry names, in the order they are run and listed.
        lrs: learning rates for every optimizer, replacing the grid; ``None`` uses ``lr_grid``.
        lr_grid: ``quick`` (3 lrs per optimizer) or ``paper`` (the paper's 13, Adamax 14);
            ``None``: ``quick`` unless ``lrs`` is given. Giving both is a :class:`ConfigError`.
        epochs: passes over the training set per run.
        batch_size: samples per mini-batch.
        seed: seeds initial weights, batch order and dropout, identically for every run;
            0 to :data:`MAX_SEED`.
        jobs: runs computed in parallel processes; ``None``: one per available CPU.
        out: output folder (a ``Path``, or a ``str`` or other path-like, made a ``Path``);
            ``None``: ``runs/compare-<task>`` in the working directory.
        quiet: no progress display (the table is still printed).

    Example:
        >>> config = CompareConfig(optimizers=("eve", "adam"), lrs=(1e-3,), epochs=1)
        >>> config.validate()
        >>> config.lrs_for("adam"), str(config.out_dir)
        ((0.001,), 'runs/compare-digits-cnn')
    """

    task: str = DEFAULT_TASK
    optimizers: tuple[str, ...] = field(default_factory=optimizer_names)
    lrs: tuple[float, ...] | None = None
    lr_grid: str | None = None
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    seed: int = DEFAULT_SEED
    jobs: int | None = None
    out: str | os.PathLike[str] | None = None
    quiet: bool = False

    def __post_init__(self) -> None:
        out = os.fspath(self.out) if isinstance(self.out, os.PathLike) else self.out
        if isinstance(out, str):
            # The dataclass is frozen for users; normalising the field is the one exception.
            # An empty path stays "" (Path would make it "."): validate() rejects it.
            object.__setattr__(self, "out", Path(out) if out else "")

    @property
    def out_dir(self) -> Path:
        """The output folder: ``out`` or ``runs/compare-<task>``."""
        if self.out is None:
            return Path("runs") / f"compare-{task_slug(self.task)}"
        return Path(self.out)

    @property
    def grid(self) -> str | None:
        """The lr grid run: ``lr_grid``, or ``quick`` when neither it nor ``lrs`` is given."""
        if self.lr_grid is None and self.lrs is None:
            return DEFAULT_LR_GRID
        return self.lr_grid

    def lrs_for(self, optimizer: str) -> tuple[float, ...]:
        """The learning rates run for ``optimizer``, ascending, without duplicates."""
        if self.lrs is not None:
            return tuple(sorted(set(self.lrs)))
        return grid_lrs(self.grid or DEFAULT_LR_GRID, optimizer)

    def validate(self) -> None:
        """Raise :class:`ConfigError` (one line, with the valid choices) on any invalid setting.

        Checks everything that can be checked without importing the task, including that the
        output folder can be created and written; writes nothing.
        """
        try:
            validate_task_spec(self.task)
        except TaskError as error:
            raise ConfigError(str(error)) from None
        if not self.optimizers:
            raise ConfigError(f"no optimizer given: choose from {', '.join(OPTIMIZERS)}")
        for name in self.optimizers:
            if name not in OPTIMIZERS:
                raise ConfigError(
                    f"unknown optimizer {name!r}: choose from {', '.join(OPTIMIZERS)}"
                )
        if self.lrs is not None and self.lr_grid is not None:
            raise ConfigError(
                f"lrs and lr_grid exclude each other (lrs replaces the grid): got lrs "
                f"{tuple(self.lrs)!r} and lr_grid {self.lr_grid!r}"
            )
        if self.lrs is not None:
            if not self.lrs:
                raise ConfigError("no learning rate given: --lrs needs at least one value")
            for lr in self.lrs:
                if not (isinstance(lr, (int, float)) and 0 < lr < float("inf")):
                    raise ConfigError(f"learning rates must be positive and finite, got {lr!r}")
        elif self.grid not in GRID_NAMES:
            raise ConfigError(
                f"unknown lr grid {self.lr_grid!r}: choose from {', '.join(GRID_NAMES)}"
            )
        for option, value, minimum in (
            ("epochs", self.epochs, 1),
            ("batch size", self.batch_size, 1),
            ("seed", self.seed, 0),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                kind = "a positive" if minimum == 1 else "a non-negative"
                raise ConfigError(f"{option} must be {kind} integer, got {value!r}")
        if self.seed > MAX_SEED:
            raise ConfigError(f"seed must be at most 2**63 - 1 = {MAX_SEED}, got {self.seed}")
        if self.jobs is not None and (not isinstance(self.jobs, int) or self.jobs < 1):
            raise ConfigError(f"jobs must be a positive integer, got {self.jobs!r}")
        if self.out == "":
            raise ConfigError("--out must not be empty (give . for the working directory)")
        if self.out is not None and not isinstance(self.out, Path):
            raise ConfigError(f"--out must be a folder path, got {self.out!r}")
        _check_output_dir(self.out_dir)

    def description(self) -> dict[str, Any]:
        """The settings as JSON data (results.json's ``comparison``); ``jobs`` is left out."""
        return {
            "task": self.task,
            "optimizers": list(dict.fromkeys(self.optimizers)),
            "lr_grid": self.grid,
            "lrs": {name: list(self.lrs_for(name)) for name in dict.fromkeys(self.optimizers)},
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "seed": self.seed,
        }


@dataclass
class CompareResult:
    """What :func:`run_compare` produced."""

    out_dir: Path
    runs: list[dict[str, Any]]
    best: dict[str, dict[str, Any] | None]
    computed: list[str]
    reused: list[str]
    paths: dict[str, Path]
    table: str


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
    task_spec: str,
    fingerprint: dict[str, Any],
    seed: int,
    threads: int,
    out_dir: str,
    todo: Any,
    events: Any,
) -> None:
    """A worker process: build the task, then compute and save runs from ``todo`` until ``None``."""
    # Ctrl-C reaches the whole process group; the main process decides what happens.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Started: the main script, imported again by multiprocessing, did not stop this process.
    events.put(("ready", index))
    import torch

    torch.set_num_threads(threads)
    try:
        task = resolve_task(task_spec)
        if task_fingerprint(task, seed) != fingerprint:
            raise TaskError(
                f"task {task_spec!r} built in a worker process differs from the main process's "
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
    return f"{OPTIMIZERS[spec.optimizer].label} lr={spec.lr:g}"


def _compute_in_process(
    pending: Sequence[RunSpec], task: Task, store: RunStore, progress: Progress
) -> Generator[dict[str, Any], None, None]:
    callbacks = _ProgressCallbacks(progress)
    for spec in pending:
        progress.run_started(spec.run_id, spec.optimizer, spec.lr, spec.epochs)
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
    config: CompareConfig,
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
    threads = max(1, available_cpus() // jobs)
    by_id = {spec.run_id: spec for spec in pending}
    workers = [
        context.Process(
            target=_worker,
            args=(
                index,
                config.task,
                fingerprint,
                config.seed,
                threads,
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
                progress.run_started(run_id, spec.optimizer, spec.lr, spec.epochs)
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
            f"{_MAIN_GUARD_HINT}; {remaining} runs not computed",
            "",
        )
    raise RunFailed(
        f"a worker process exited unexpectedly (exit code {code}); {remaining} runs not computed",
        "",
    )


def _output_paths(out_dir: Path) -> dict[str, Path]:
    return {
        "results.json": out_dir / "results.json",
        "results.csv": out_dir / "results.csv",
        "loss.png": out_dir / "loss.png",
        "eve.png": out_dir / "eve.png",
    }


def _write_report(
    config: CompareConfig,
    task: Task,
    fingerprint: dict[str, Any],
    specs: Sequence[RunSpec],
    records: dict[str, dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Path], str]:
    out_dir = config.out_dir
    runs: list[dict[str, Any]] = [strict_json_value(records[spec.run_id]) for spec in specs]
    best = select_best(runs)
    description = {**config.description(), "task_name": task.name, "task_fingerprint": fingerprint}
    paths = _output_paths(out_dir)
    write_results_json(paths["results.json"], results_document(runs, best, description))
    write_results_csv(paths["results.csv"], runs, best)
    setting = f"{config.epochs} epochs, batch {config.batch_size}, seed {config.seed}"
    plot_losses(paths["loss.png"], best, f"{task.name}: best lr per optimizer ({setting})")
    if "eve" in config.optimizers:
        eve_runs = [run for run in runs if run["optimizer"] == "eve"]
        best_eve = best.get("eve")
        plot_eve(
            paths["eve.png"],
            eve_runs,
            None if best_eve is None else str(best_eve["run_id"]),
            f"{task.name}: Eve's coefficient per step ({setting})",
        )
    else:
        # A figure left by an earlier comparison in this folder would not describe this one.
        paths.pop("eve.png").unlink(missing_ok=True)
    return runs, best, paths, format_table(runs, best)


def run_compare(
    config: CompareConfig, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> CompareResult:
    """Run (or resume) a comparison and write its report; print the table and the paths.

    Raises :class:`ConfigError` or :class:`~eveopt.experiments.tasks.TaskError` before writing
    anything when the configuration or the task is invalid, :class:`Interrupted` on Ctrl-C
    (finished runs are saved), and :class:`RunFailed` when a run raises an exception. A run whose
    loss becomes NaN or infinite is not a failure: it is recorded as diverged.

    With ``jobs`` above 1 the runs are computed in worker processes started by
    ``multiprocessing``'s spawn method, which import the main script again: a script must call
    ``run_compare`` under ``if __name__ == "__main__":``. Called while a worker starts, it
    raises ``RuntimeError`` at once, and the comparison stops with a :class:`RunFailed` that
    says so.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # multiprocessing is importing the main script again in a new worker process (spawn):
        # stop before the script's comparison reads or writes anything in this process.
        raise RuntimeError(
            f"run_compare called while a worker process was starting: {_MAIN_GUARD_HINT}"
        )
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    config.validate()
    task = resolve_task(config.task)
    fingerprint = task_fingerprint(task, config.seed)
    specs = [
        RunSpec(
            task=config.task,
            task_fingerprint=fingerprint,
            optimizer=name,
            lr=float(lr),
            epochs=config.epochs,
            batch_size=config.batch_size,
            seed=config.seed,
        )
        for name in dict.fromkeys(config.optimizers)
        for lr in config.lrs_for(name)
    ]
    out_dir = config.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    store = RunStore(out_dir)
    store.remove_stale_temporaries()
    records: dict[str, dict[str, Any]] = {}
    for spec in specs:
        stored = store.load(spec.run_id)
        if stored is not None:
            records[spec.run_id] = stored
    reused = list(records)
    pending = [spec for spec in specs if spec.run_id not in records]
    jobs = min(config.jobs or available_cpus(), max(1, len(pending)))
    progress = Progress(len(specs), stderr, quiet=config.quiet)
    progress.start(len(reused), len(pending), sum(spec.epochs for spec in pending), jobs)
    computed: list[str] = []
    try:
        computations = (
            _compute_in_process(pending, task, store, progress)
            if jobs == 1
            else _compute_in_workers(pending, config, fingerprint, jobs, store, progress)
        )
        with closing(computations):
            for record in computations:
                records[record["run_id"]] = record
                computed.append(record["run_id"])
        progress.close()
        runs, best, paths, table = _write_report(config, task, fingerprint, specs, records)
    except KeyboardInterrupt:
        progress.close()
        saved = sum(1 for spec in specs if store.path_for(spec.run_id).exists())
        raise Interrupted(saved, len(specs), out_dir) from None
    except BaseException:
        progress.close()
        raise
    _print_summary(stdout, config, task, table, paths, store, len(computed), len(reused))
    return CompareResult(out_dir, runs, best, computed, reused, paths, table)


def _print_summary(
    stdout: TextIO,
    config: CompareConfig,
    task: Task,
    table: str,
    paths: dict[str, Path],
    store: RunStore,
    computed: int,
    reused: int,
) -> None:
    lines = [
        f"{task.name}: {task.num_samples} training samples, {config.epochs} epochs, "
        f"batch {config.batch_size}, seed {config.seed}; "
        "best lr = lowest final full training loss",
        table,
        "",
        *(f"wrote {path}" for path in paths.values()),
        f"runs in {store.runs_dir}/ ({computed} computed now, {reused} reused)",
    ]
    stdout.write("\n".join(lines) + "\n")
    stdout.flush()

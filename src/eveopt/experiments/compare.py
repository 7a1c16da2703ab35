"""``eveopt compare``: the paper's optimizer comparison, run by run, resumable, then reported.

:func:`run_compare` validates a :class:`CompareConfig` (nothing is written when it is invalid),
builds the task once, derives one :class:`~eveopt.experiments.runner.RunSpec` per (optimizer, lr),
skips the runs already stored in ``<out>/runs/``, computes the others (in this process, or in
``jobs`` worker processes, each run on ``threads`` torch threads), saving each the moment it
ends, then writes results.json, results.csv, loss.png and eve.png and returns the ranked table.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from eveopt.experiments.execution import (
    MAIN_GUARD_HINT,
    Interrupted,
    RunFailed,
    TaskSource,
    available_cpus,
    compute_runs,
    task_fingerprint,
)
from eveopt.experiments.grids import GRID_NAMES, grid_lrs
from eveopt.experiments.optimizers import OPTIMIZERS, optimizer_names
from eveopt.experiments.plots import plot_eve, plot_losses
from eveopt.experiments.report import (
    count_text,
    format_table,
    results_document,
    select_best,
    write_results_csv,
    write_results_json,
)
from eveopt.experiments.runner import RunSpec
from eveopt.experiments.store import RunStore, strict_json_value
from eveopt.experiments.tasks import TaskError, task_slug, validate_task_data

if TYPE_CHECKING:
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
    "check_output_dir",
    "check_value_list",
    "run_compare",
    "task_fingerprint",
]

DEFAULT_TASK = "digits-cnn"
DEFAULT_EPOCHS = 40
DEFAULT_BATCH_SIZE = 128
DEFAULT_SEED = 0
DEFAULT_LR_GRID = "quick"
MAX_SEED = 2**63 - 1
"""The largest seed: torch seeds its generators with 64-bit integers."""


class ConfigError(ValueError):
    """An invalid comparison setting; the message is one line naming it and the valid choices."""


def check_value_list(name: str, value: object) -> None:
    """Raise :class:`ConfigError` unless ``value`` is ``None`` or a tuple or list of values.

    A lone string or number given where a sequence belongs (``optimizers="eve"``,
    ``lrs=1e-2``) would otherwise be iterated letter by letter or fail with a ``TypeError``.

    Example:
        >>> check_value_list("lrs", (1e-3, 1e-2))
        >>> check_value_list("lrs", 1e-2)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        eveopt.experiments.compare.ConfigError: lrs must be a tuple or list of values, got 0.01...
    """
    if value is not None and not isinstance(value, (tuple, list)):
        raise ConfigError(
            f"{name} must be a tuple or list of values, got {value!r}: write {name}=({value!r},)"
        )


def check_output_dir(path: Path) -> None:
    """Raise :class:`ConfigError` unless ``path`` can be created and written; writes nothing."""
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
        jobs: runs computed in parallel processes; ``None``: the available CPUs divided by
            ``threads``. Not part of a run's identity: it does not change any number.
        threads: torch threads per run (default 1). Part of a run's identity: another thread
            count rounds differently, and training amplifies the rounding (see
            :mod:`~eveopt.experiments.runner`).
        data_dir: the data folder of a file-backed task (``cifar100-resnet`` ...), required
            by those and refused by the others.
        max_samples: train on this many samples, the first after a seeded shuffle (``None``:
            all); part of every run's identity.
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
    data_dir: str | os.PathLike[str] | None = None
    max_samples: int | None = None
    threads: int = 1

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
        check_value_list("optimizers", self.optimizers)
        check_value_list("lrs", self.lrs)
        try:
            validate_task_data(self.task, self.data_dir)
        except TaskError as error:
            raise ConfigError(str(error)) from None
        if self.max_samples is not None and (
            not isinstance(self.max_samples, int)
            or isinstance(self.max_samples, bool)
            or self.max_samples < 1
        ):
            raise ConfigError(f"max samples must be a positive integer, got {self.max_samples!r}")
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
        for option, count in (("jobs", self.jobs), ("threads", self.threads)):
            if count is not None and (
                not isinstance(count, int) or isinstance(count, bool) or count < 1
            ):
                raise ConfigError(f"{option} must be a positive integer, got {count!r}")
        if self.out == "":
            raise ConfigError("--out must not be empty (give . for the working directory)")
        if self.out is not None and not isinstance(self.out, Path):
            raise ConfigError(f"--out must be a folder path, got {self.out!r}")
        check_output_dir(self.out_dir)

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
            "max_samples": self.max_samples,
            "data_dir": None if self.data_dir is None else os.fspath(self.data_dir),
            "threads": self.threads,
        }

    def task_source(self) -> TaskSource:
        """How every process builds this comparison's task."""
        data_dir = None if self.data_dir is None else os.fspath(self.data_dir)
        return TaskSource(self.task, data_dir, self.max_samples, self.seed)

    def run_specs(self, fingerprint: dict[str, Any]) -> list[RunSpec]:
        """One run per (optimizer, lr), optimizers in the given order, lrs ascending."""
        return [
            RunSpec(
                task=self.task,
                task_fingerprint=fingerprint,
                optimizer=name,
                lr=float(lr),
                epochs=self.epochs,
                batch_size=self.batch_size,
                seed=self.seed,
                max_samples=self.max_samples,
                threads=self.threads,
            )
            for name in dict.fromkeys(self.optimizers)
            for lr in self.lrs_for(name)
        ]


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
    task: Task | None = None
    """The task the runs trained (as built for this comparison)."""


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
            f"run_compare called while a worker process was starting: {MAIN_GUARD_HINT}"
        )
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    config.validate()
    source = config.task_source()
    task = source.build()
    fingerprint = task_fingerprint(task, config.seed)
    specs = config.run_specs(fingerprint)
    out_dir = config.out_dir
    batch = compute_runs(
        source,
        task,
        fingerprint,
        specs,
        out_dir,
        jobs=config.jobs,
        quiet=config.quiet,
        stderr=stderr,
    )
    records = {record["run_id"]: record for record in batch.records}
    try:
        runs, best, paths, table = _write_report(config, task, fingerprint, specs, records)
    except KeyboardInterrupt:
        raise Interrupted(len(specs), len(specs), out_dir) from None
    _print_summary(
        stdout, config, task, table, paths, batch.store, len(batch.computed), len(batch.reused)
    )
    return CompareResult(out_dir, runs, best, batch.computed, batch.reused, paths, table, task)


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
        f"{task.name}: {task.num_samples} training samples, {count_text(config.epochs, 'epoch')}, "
        f"batch {config.batch_size}, seed {config.seed}; "
        "best lr = lowest final full training loss",
        table,
        "",
        *(f"wrote {path}" for path in paths.values()),
        f"runs in {store.runs_dir}/ ({computed} computed now, {reused} reused)",
    ]
    stdout.write("\n".join(lines) + "\n")
    stdout.flush()

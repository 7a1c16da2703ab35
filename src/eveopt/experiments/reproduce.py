"""``eveopt reproduce``: the paper's experiments as commands, with figures and a report.

Hayashi, Koushik, Neubig, arXiv 1611.01505 (``../shared/PAPER.md``):

- ``trloss`` (experiments 1 and 2): the optimizer comparison, each optimizer's lr searched;
  it is ``eveopt compare`` with the paper's defaults (lr grid ``paper``, 100 epochs).
- ``compsched`` (experiment 3): Adam with a per-iteration decay of its lr (exponential, 1/t,
  1/sqrt(t)), the decay rate chosen so that the final lr is ``lr / k`` for each ``k``, each
  (policy, k) with its lr searched; Eve and constant-lr Adam with theirs.
- ``hypsearch`` (experiment 4): Eve over a beta3 x c grid, the best lr per pair, and Adam.

Every run is a :class:`~eveopt.experiments.runner.RunSpec` computed by
:func:`~eveopt.experiments.execution.compute_runs` and stored under ``<out>/runs/``, so an
experiment resumes where it stopped. After the runs: ``results.json``, ``results.csv``, the
figures, and ``report.md`` (:mod:`~eveopt.experiments.reproduce_report`), which sets our
numbers beside the paper's and says, claim by claim, whether this run supports it.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from eveopt.experiments.claims import EVE_DEFAULTS
from eveopt.experiments.compare import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_SEED,
    CompareConfig,
    ConfigError,
    check_value_list,
    run_compare,
)
from eveopt.experiments.execution import (
    MAIN_GUARD_HINT,
    Interrupted,
    compute_runs,
    task_fingerprint,
)
from eveopt.experiments.grids import GRID_NAMES
from eveopt.experiments.optimizers import optimizer_names
from eveopt.experiments.report import (
    count_text,
    format_table,
    results_document,
    run_variant,
    select_best,
    write_results_csv,
    write_results_json,
)
from eveopt.experiments.reproduce_plots import plot_compsched, plot_hypsearch
from eveopt.experiments.reproduce_report import write_report
from eveopt.experiments.runner import RunSpec
from eveopt.experiments.schedules import DECAY_POLICIES, PAPER_DECAY_FACTORS, gamma_for_final_factor
from eveopt.experiments.store import strict_json_value
from eveopt.experiments.tasks import task_slug

if TYPE_CHECKING:
    from eveopt.experiments.tasks import Task

__all__ = [
    "EXPERIMENTS",
    "PAPER_BETA3S",
    "PAPER_CS",
    "PAPER_EPOCHS",
    "ReproduceConfig",
    "ReproduceResult",
    "run_reproduce",
]

EXPERIMENTS: Mapping[str, str] = {
    "trloss": "experiments 1-2: training loss of each optimizer at its best lr",
    "compsched": "experiment 3: Eve against Adam with per-iteration lr decay",
    "hypsearch": "experiment 4: Eve's sensitivity to beta3 and c",
}
PAPER_EPOCHS = 100
PAPER_LR_GRID = "paper"
PAPER_BETA3S: tuple[float, ...] = (
    0.0,
    1e-5,
    1e-4,
    1e-3,
    1e-2,
    0.1,
    0.3,
    0.5,
    0.7,
    0.9,
    0.99,
    0.999,
    0.9999,
    0.99999,
)
"""Experiment 4's beta3 values."""
PAPER_CS: tuple[float, ...] = (2.0, 5.0, 10.0, 15.0, 20.0, 50.0, 100.0)
"""Experiment 4's c values (the authors' logs hold no c = 15)."""
DEFAULT_TASK = "digits-cnn"


def _number_text(value: float) -> str:
    """``value`` in its shortest exact form: ``%g`` where that loses nothing, else ``repr``.

    Example:
        >>> _number_text(0.001), _number_text(10.0), _number_text(0.9999994)
        ('0.001', '10', '0.9999994')
    """
    value = float(value)
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


@dataclass(frozen=True)
class ReproduceConfig:
    """The settings of one ``eveopt reproduce`` experiment.

    Args:
        experiment: ``trloss``, ``compsched`` or ``hypsearch``.
        task: a built-in task name (``cifar100-resnet``, ``digits-cnn``, ...) or
            ``module:function``.
        data_dir: the data folder of a file-backed task.
        epochs: passes over the training set per run (the paper: 100).
        batch_size: samples per mini-batch (the paper: 128).
        max_samples: train on this many samples (a seeded subset); ``None``: all.
        optimizers: ``trloss`` only: the optimizers compared (default: all seven).
        lrs: the learning rates of every searched optimizer, replacing the grid.
        lr_grid: ``paper`` (default unless ``lrs``) or ``quick``.
        decay_factors: ``compsched`` only: the final-lr ratios k (the paper's eight).
        policies: ``compsched`` only: the decay policies (all three).
        beta3s: ``hypsearch`` only: Eve's beta3 values (the paper's fourteen).
        cs: ``hypsearch`` only: Eve's c values (the paper's seven).
        seed: seeds weights, batch order, dropout and the ``max_samples`` subset.
        jobs: parallel worker processes (``None``: the CPUs divided by ``threads``).
        threads: torch threads per run (part of each run's identity; default 1).
        out: output folder (``None``: ``runs/<experiment>-<task>``).
        quiet: no progress display.
    """

    experiment: str
    task: str = DEFAULT_TASK
    data_dir: str | os.PathLike[str] | None = None
    epochs: int = PAPER_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    max_samples: int | None = None
    optimizers: tuple[str, ...] | None = None
    lrs: tuple[float, ...] | None = None
    lr_grid: str | None = None
    decay_factors: tuple[float, ...] | None = None
    policies: tuple[str, ...] | None = None
    beta3s: tuple[float, ...] | None = None
    cs: tuple[float, ...] | None = None
    seed: int = DEFAULT_SEED
    jobs: int | None = None
    out: str | os.PathLike[str] | None = None
    quiet: bool = False
    threads: int = 1

    @property
    def out_dir(self) -> Path:
        """The output folder: ``out`` or ``runs/<experiment>-<task>``."""
        if self.out is None:
            return Path("runs") / f"{self.experiment}-{task_slug(self.task)}"
        return Path(os.fspath(self.out))

    @property
    def grid(self) -> str | None:
        """The lr grid: ``lr_grid``, else ``paper`` unless ``lrs`` is given."""
        if self.lr_grid is None and self.lrs is None:
            return PAPER_LR_GRID
        return self.lr_grid

    @property
    def ks(self) -> tuple[float, ...]:
        """The final-lr ratios of ``compsched``, largest first."""
        return tuple(sorted(set(self.decay_factors or PAPER_DECAY_FACTORS), reverse=True))

    @property
    def decay_policies(self) -> tuple[str, ...]:
        """The decay policies of ``compsched``."""
        return tuple(dict.fromkeys(self.policies or DECAY_POLICIES))

    @property
    def beta3_values(self) -> tuple[float, ...]:
        """The beta3 values of ``hypsearch``, ascending."""
        return tuple(sorted(set(self.beta3s or PAPER_BETA3S)))

    @property
    def c_values(self) -> tuple[float, ...]:
        """The c values of ``hypsearch``, ascending."""
        return tuple(sorted(set(self.cs or PAPER_CS)))

    def grid_description(self) -> dict[str, Any]:
        """The experiment's own grid as JSON data (results.json's ``comparison``)."""
        if self.experiment == "compsched":
            return {"policies": list(self.decay_policies), "ks": list(self.ks)}
        if self.experiment == "hypsearch":
            return {"beta3s": list(self.beta3_values), "cs": list(self.c_values)}
        return {}

    def compare_config(self) -> CompareConfig:
        """The comparison behind this experiment's runs (its optimizers' lr grids and data)."""
        optimizers = self.optimizers
        if optimizers is None:
            optimizers = optimizer_names() if self.experiment == "trloss" else ("eve", "adam")
        return CompareConfig(
            task=self.task,
            optimizers=optimizers,
            lrs=self.lrs,
            lr_grid=self.grid if self.lrs is None else None,
            epochs=self.epochs,
            batch_size=self.batch_size,
            seed=self.seed,
            jobs=self.jobs,
            out=self.out_dir,
            quiet=self.quiet,
            data_dir=self.data_dir,
            max_samples=self.max_samples,
            threads=self.threads,
        )

    def validate(self) -> None:
        """Raise :class:`ConfigError` (one line) on any invalid setting; writes nothing."""
        if self.experiment not in EXPERIMENTS:
            raise ConfigError(
                f"unknown experiment {self.experiment!r}: choose from {', '.join(EXPERIMENTS)}"
            )
        if self.out == "":
            raise ConfigError("--out must not be empty (give . for the working directory)")
        for name in ("optimizers", "lrs", "decay_factors", "policies", "beta3s", "cs"):
            check_value_list(name, getattr(self, name))
        scoped = {
            "optimizers": ("trloss", self.optimizers),
            "decay_factors": ("compsched", self.decay_factors),
            "policies": ("compsched", self.policies),
            "beta3s": ("hypsearch", self.beta3s),
            "cs": ("hypsearch", self.cs),
        }
        for name, (owner, value) in scoped.items():
            if value is not None and self.experiment != owner:
                raise ConfigError(f"{name} applies to {owner} only, not {self.experiment}")
            if value is not None and not value:
                raise ConfigError(f"{name} must not be empty")
        for policy in self.policies or ():
            if policy not in DECAY_POLICIES:
                raise ConfigError(
                    f"unknown decay policy {policy!r}: choose from {', '.join(DECAY_POLICIES)}"
                )
        for k in self.decay_factors or ():
            if not (_is_number(k) and 1.0 <= k < math.inf):
                raise ConfigError(f"decay factors k must be finite numbers >= 1, got {k!r}")
        for beta3 in self.beta3s or ():
            if not (_is_number(beta3) and 0.0 <= beta3 < 1.0):
                raise ConfigError(f"beta3 values must be in [0, 1), got {beta3!r}")
        for c in self.cs or ():
            if not (_is_number(c) and 1.0 <= c < math.inf):
                raise ConfigError(f"c values must be finite numbers >= 1, got {c!r}")
        if self.lrs is not None and self.lr_grid is not None:
            raise ConfigError(
                f"lrs and lr_grid exclude each other (lrs replaces the grid): got lrs "
                f"{tuple(self.lrs)!r} and lr_grid {self.lr_grid!r}"
            )
        if self.lr_grid is not None and self.lr_grid not in GRID_NAMES:
            raise ConfigError(
                f"unknown lr grid {self.lr_grid!r}: choose from {', '.join(GRID_NAMES)}"
            )
        self.compare_config().validate()

    def command(self) -> str:
        """The ``eveopt reproduce`` command line that runs this experiment (for the report)."""
        words = ["eveopt", "reproduce", self.experiment, "--task", self.task]
        if self.data_dir is not None:
            words += ["--data-dir", os.fspath(self.data_dir)]
        if self.epochs != PAPER_EPOCHS:
            words += ["--epochs", str(self.epochs)]
        if self.batch_size != DEFAULT_BATCH_SIZE:
            words += ["--batch-size", str(self.batch_size)]
        if self.max_samples is not None:
            words += ["--max-samples", str(self.max_samples)]
        if self.optimizers is not None:
            words += ["--optimizers", *self.optimizers]
        if self.lrs is not None:
            words += ["--lrs", *map(_number_text, self.lrs)]
        elif self.lr_grid is not None and self.lr_grid != PAPER_LR_GRID:
            words += ["--lr-grid", self.lr_grid]
        for option, values in (
            ("--policies", self.policies),
            ("--ks", self.decay_factors),
            ("--beta3s", self.beta3s),
            ("--cs", self.cs),
        ):
            if values is not None:
                words.append(option)
                if option == "--policies":
                    words += [str(value) for value in values]
                else:
                    words += [_number_text(float(value)) for value in values]
        if self.seed != DEFAULT_SEED:
            words += ["--seed", str(self.seed)]
        if self.threads != 1:
            words += ["--threads", str(self.threads)]
        if self.out is not None:
            words += ["--out", os.fspath(self.out)]
        return shlex.join(words)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class ReproduceResult:
    """What :func:`run_reproduce` produced."""

    out_dir: Path
    runs: list[dict[str, Any]]
    best: Mapping[str, Mapping[str, Any] | None]
    computed: list[str]
    reused: list[str]
    paths: dict[str, Path] = field(default_factory=dict)
    table: str = ""
    """The ranked table of each group's best run, as printed."""


def _steps_per_epoch(task: Task, batch_size: int) -> int:
    return math.ceil(task.num_samples / batch_size)


def _compsched_specs(
    config: ReproduceConfig, base: CompareConfig, task: Task, fingerprint: dict[str, Any]
) -> list[RunSpec]:
    """Eve and constant Adam at their lrs, then Adam per (policy, k) at Adam's lrs."""
    plain = base.run_specs(fingerprint)
    iterations = config.epochs * _steps_per_epoch(task, config.batch_size)
    adam = [spec for spec in plain if spec.optimizer == "adam"]
    decayed = [
        replace(
            spec,
            schedule={
                "policy": policy,
                "k": float(k),
                "gamma": gamma_for_final_factor(policy, float(k), iterations),
            },
            variant=f"adam-{policy}-k{_number_text(k)}",
        )
        for policy in config.decay_policies
        for k in config.ks
        for spec in adam
    ]
    return plain + decayed


def _hypsearch_specs(
    config: ReproduceConfig, base: CompareConfig, fingerprint: dict[str, Any]
) -> list[RunSpec]:
    """Eve per (beta3, c) at Eve's lrs, then Adam at its lrs."""
    plain = base.run_specs(fingerprint)
    eve = [spec for spec in plain if spec.optimizer == "eve"]
    grid = [
        replace(
            spec,
            hyperparameters={"beta3": float(beta3), "c": float(c)},
            variant=f"eve-b{_number_text(beta3)}-c{_number_text(c)}",
        )
        for c in config.c_values
        for beta3 in config.beta3_values
        for spec in eve
    ]
    return grid + [spec for spec in plain if spec.optimizer == "adam"]


def run_reproduce(
    config: ReproduceConfig, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> ReproduceResult:
    """Run (or resume) one of the paper's experiments; write results, figures and report.md.

    Raises :class:`~eveopt.experiments.compare.ConfigError` or
    :class:`~eveopt.experiments.tasks.TaskError` before writing anything when a setting or
    the task's data is invalid, :class:`~eveopt.experiments.execution.Interrupted` on Ctrl-C
    (finished runs are saved), :class:`~eveopt.experiments.execution.RunFailed` when a run
    raises. As for :func:`~eveopt.experiments.compare.run_compare`, a script must call it
    under ``if __name__ == "__main__":`` when ``jobs`` is above 1.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(
            f"run_reproduce called while a worker process was starting: {MAIN_GUARD_HINT}"
        )
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    config.validate()
    base = config.compare_config()
    out_dir = config.out_dir
    if config.experiment == "trloss":
        compared = run_compare(base, stdout=stdout, stderr=stderr)
        assert compared.task is not None
        task = compared.task
        runs = compared.runs
        best: Mapping[str, Mapping[str, Any] | None] = compared.best
        paths = dict(compared.paths)
        computed, reused = compared.computed, compared.reused
        table = compared.table
    else:
        source = base.task_source()
        task = source.build()
        fingerprint = task_fingerprint(task, config.seed)
        if config.experiment == "compsched":
            specs = _compsched_specs(config, base, task, fingerprint)
        else:
            specs = _hypsearch_specs(config, base, fingerprint)
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
        runs = [strict_json_value(record) for record in batch.records]
        best = select_best(runs, key=run_variant)
        computed, reused = batch.computed, batch.reused
        table = format_table(runs, best, key=run_variant)
        paths = {
            "results.json": out_dir / "results.json",
            "results.csv": out_dir / "results.csv",
            f"{config.experiment}.png": out_dir / f"{config.experiment}.png",
        }
        description = {
            **base.description(),
            "experiment": config.experiment,
            **config.grid_description(),
            "task_name": task.name,
            "task_fingerprint": fingerprint,
        }
        try:
            write_results_json(paths["results.json"], results_document(runs, best, description))
            write_results_csv(paths["results.csv"], runs, best)
            title = f"{task.name} ({_scale_text(config, task)})"
            if config.experiment == "compsched":
                plot_compsched(paths["compsched.png"], runs, best, title)
            else:
                plot_hypsearch(paths["hypsearch.png"], runs, best, EVE_DEFAULTS, title)
        except KeyboardInterrupt:
            raise Interrupted(len(runs), len(runs), out_dir) from None
    report_path = out_dir / "report.md"
    try:
        write_report(report_path, config, task, runs, best, [path.name for path in paths.values()])
    except KeyboardInterrupt:
        raise Interrupted(len(runs), len(runs), out_dir) from None
    paths["report.md"] = report_path
    if config.experiment != "trloss":
        lines = [
            f"{task.name}: {config.experiment}, {_scale_text(config, task)}",
            table,
            "",
            *(f"wrote {path}" for path in paths.values()),
            f"runs in {out_dir / 'runs'}/ ({len(computed)} computed now, {len(reused)} reused)",
        ]
    else:
        lines = [f"wrote {report_path}"]
    stdout.write("\n".join(lines) + "\n")
    stdout.flush()
    return ReproduceResult(out_dir, runs, best, computed, reused, paths, table)


def _scale_text(config: ReproduceConfig, task: Task) -> str:
    return (
        f"{task.num_samples} samples, {count_text(config.epochs, 'epoch')}, "
        f"batch {config.batch_size}, seed {config.seed}"
    )

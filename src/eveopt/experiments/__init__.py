"""The harness behind ``eveopt compare`` and ``eveopt reproduce``: tasks, optimizers, runs, store,
reports.

Importing this package imports no framework; torch, scikit-learn and matplotlib are imported
when a task is built, a run starts or a figure is drawn (extra ``eveopt[experiments]``).

Example (the Python form of ``eveopt compare --optimizers eve adam --lrs 1e-3 --epochs 2``)::

    from eveopt.experiments import CompareConfig, run_compare

    if __name__ == "__main__":  # worker processes import the script again
        result = run_compare(CompareConfig(optimizers=("eve", "adam"), lrs=(1e-3,), epochs=2))
        print(result.table)
"""

from __future__ import annotations

from eveopt.experiments.compare import (
    CompareConfig,
    CompareResult,
    ConfigError,
    Interrupted,
    RunFailed,
    run_compare,
)
from eveopt.experiments.grids import PAPER_LRS, QUICK_LRS, grid_lrs
from eveopt.experiments.optimizers import OPTIMIZERS, OptimizerSpec
from eveopt.experiments.report import select_best
from eveopt.experiments.reproduce import ReproduceConfig, ReproduceResult, run_reproduce
from eveopt.experiments.runner import RunSpec, execute_run
from eveopt.experiments.tasks import Task, TaskError, glorot_uniform_, resolve_task

__all__ = [
    "OPTIMIZERS",
    "PAPER_LRS",
    "QUICK_LRS",
    "CompareConfig",
    "CompareResult",
    "ConfigError",
    "Interrupted",
    "OptimizerSpec",
    "ReproduceConfig",
    "ReproduceResult",
    "RunFailed",
    "RunSpec",
    "Task",
    "TaskError",
    "execute_run",
    "glorot_uniform_",
    "grid_lrs",
    "resolve_task",
    "run_compare",
    "run_reproduce",
    "select_best",
]

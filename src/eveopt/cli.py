"""The ``eveopt`` command: ``compare`` (the optimizer comparison) and ``reproduce`` (the paper).

A thin front end: it parses and checks options and calls :mod:`eveopt.experiments`. Importing
it imports no framework, so ``eveopt --help`` answers at once. Bad input gives one line on
stderr naming the problem and the valid choices, exit code 2, and writes nothing.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from eveopt import __version__
from eveopt.experiments.compare import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_LR_GRID,
    DEFAULT_SEED,
    DEFAULT_TASK,
    MAX_SEED,
    CompareConfig,
    ConfigError,
    Interrupted,
    RunFailed,
    available_cpus,
    run_compare,
)
from eveopt.experiments.grids import GRID_NAMES, PAPER_LRS, QUICK_LRS
from eveopt.experiments.optimizers import OPTIMIZERS
from eveopt.experiments.reproduce import (
    DEFAULT_TASK as DEFAULT_REPRODUCE_TASK,
)
from eveopt.experiments.reproduce import (
    EXPERIMENTS,
    PAPER_BETA3S,
    PAPER_CS,
    PAPER_EPOCHS,
    ReproduceConfig,
    run_reproduce,
)
from eveopt.experiments.schedules import DECAY_POLICIES, PAPER_DECAY_FACTORS
from eveopt.experiments.tasks import BUILTIN_TASKS, TaskError, file_backed_tasks

__all__ = ["build_parser", "main"]

EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 1
EXIT_INTERRUPTED = 130

_EXTRA_MODULES = frozenset({"torch", "numpy", "sklearn", "matplotlib"})

# argparse takes '-1e-3' for an option; no option here looks like a number, so any
# number-shaped token is a value (which the type checks then reject with a clear message).
_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block), exit code 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NUMBER

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: error: <message>`` on stderr and exit with code 2."""
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"learning rates must be positive and finite, got {text}")
    return value


def _integer(text: str, minimum: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {what} integer, got {value}")
    return value


def _seed(text: str) -> int:
    value = _integer(text, 0, "a non-negative")
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be at most 2**63 - 1 = {MAX_SEED}, got {value}")
    return value


def _folder(text: str) -> str:
    # Not Path: Path("") is ".", which would write into the working directory unasked.
    if not text:
        raise argparse.ArgumentTypeError("must not be empty (give . for the working directory)")
    return text


def _positive_int(text: str) -> int:
    return _integer(text, 1, "a positive")


def _quick_grid_text(optimizers: Sequence[str] | None = None) -> str:
    return "; ".join(
        f"{name} {', '.join(f'{lr:g}' for lr in lrs)}"
        for name, lrs in QUICK_LRS.items()
        if optimizers is None or name in optimizers
    )


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=_folder,
        default=None,
        metavar="DIR",
        help=(
            f"folder holding the dataset's distribution files, for the file-backed tasks "
            f"({', '.join(file_backed_tasks())}); never downloaded. See docs/reproduce.md"
        ),
    )
    parser.add_argument(
        "--max-samples",
        type=_positive_int,
        default=None,
        metavar="N",
        help=(
            "train on N samples only (sequences for text tasks): the first N after a shuffle "
            "seeded with --seed; part of every run's identity (default: all)"
        ),
    )


def _add_compare(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    tasks = "; ".join(f"{name}: {entry.description}" for name, entry in BUILTIN_TASKS.items())
    parser = subparsers.add_parser(
        "compare",
        help="run the paper's optimizer comparison and draw it",
        description=textwrap.fill(
            "Train one task with each optimizer at each learning rate of a grid (same seed, so "
            "the same initial weights, mini-batch order and dropout for every run), pick each "
            "optimizer's best lr by the lowest final full-training-set loss, print a ranked "
            "table and write results.json, results.csv, loss.png and eve.png. Finished runs are "
            "saved one file each as they end; rerunning the same command skips them.",
            width=78,
        ),
        epilog=(
            "examples:\n"
            "  eveopt compare\n"
            "  eveopt compare --optimizers eve adam --lrs 1e-3 1e-2 --epochs 2\n"
            "  eveopt compare --lr-grid paper --jobs 2 --out runs/paper-grid\n"
            "  eveopt compare --task examples.custom_task:make_task\n"
            "\n"
            "Exit codes: 0 done, 1 a run raised an error, 2 bad input (nothing written), "
            "130 interrupted (finished runs kept; rerun to resume). See docs/compare.md."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--task",
        default=DEFAULT_TASK,
        metavar="NAME",
        help=(
            f"what to train (default: {DEFAULT_TASK}). Built in: {tasks}. Or "
            "package.module:function (or path/to/file.py:function) returning an "
            "eveopt.experiments.Task: see examples/custom_task.py"
        ),
    )
    parser.add_argument(
        "--optimizers",
        nargs="+",
        choices=tuple(OPTIMIZERS),
        default=tuple(OPTIMIZERS),
        metavar="NAME",
        help=(
            f"optimizers to compare, at the paper's (Keras 2) defaults except the lr "
            f"(default: all of {', '.join(OPTIMIZERS)})"
        ),
    )
    lr_choice = parser.add_mutually_exclusive_group()
    lr_choice.add_argument(
        "--lrs",
        nargs="+",
        type=_positive_float,
        metavar="FLOAT",
        help="learning rates to run for every optimizer, replacing the grid",
    )
    lr_choice.add_argument(
        "--lr-grid",
        choices=GRID_NAMES,
        default=None,  # DEFAULT_LR_GRID unless --lrs is given (CompareConfig decides)
        help=(
            f"learning-rate grid (default: {DEFAULT_LR_GRID}). quick: 3 lrs per optimizer "
            f"({_quick_grid_text()}). paper: the paper's {len(PAPER_LRS)} lrs "
            f"({', '.join(f'{lr:g}' for lr in PAPER_LRS)}), plus 2e-3 for adamax"
        ),
    )
    _add_data_options(parser)
    parser.add_argument(
        "--epochs",
        type=_positive_int,
        default=DEFAULT_EPOCHS,
        metavar="N",
        help=f"passes over the training set per run (default: {DEFAULT_EPOCHS})",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"mini-batch size (default: {DEFAULT_BATCH_SIZE}, as in the paper)",
    )
    parser.add_argument(
        "--seed",
        type=_seed,
        default=DEFAULT_SEED,
        metavar="N",
        help=(
            f"seed of the initial weights, batch order and dropout, the same for every run, "
            f"0 to 2**63 - 1 (default: {DEFAULT_SEED})"
        ),
    )
    parser.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        metavar="N",
        help=(
            "runs computed at once, in parallel processes (default: the CPUs divided by "
            f"--threads, {available_cpus()} CPUs here); changes no result"
        ),
    )
    _add_threads_option(parser)
    parser.add_argument(
        "--out",
        type=_folder,
        default=None,
        metavar="DIR",
        help=(
            "output folder, created if needed (default: runs/compare-<task>); holds runs/, "
            "results.json, results.csv, loss.png and eve.png"
        ),
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress display on stderr (the table and paths still go to stdout)",
    )


def _add_threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        metavar="N",
        help=(
            "torch threads each run computes with (default: 1). Part of a run's identity: "
            "another thread count rounds differently, which training amplifies"
        ),
    )


def _add_lr_options(
    parser: argparse.ArgumentParser, default_grid: str, optimizers: Sequence[str] | None
) -> None:
    lr_choice = parser.add_mutually_exclusive_group()
    lr_choice.add_argument(
        "--lrs",
        nargs="+",
        type=_positive_float,
        metavar="FLOAT",
        help="learning rates to search for every optimizer, replacing the grid",
    )
    lr_choice.add_argument(
        "--lr-grid",
        choices=GRID_NAMES,
        default=None,
        help=(
            f"learning-rate grid (default: {default_grid}). paper: the paper's {len(PAPER_LRS)} "
            f"lrs ({', '.join(f'{lr:g}' for lr in PAPER_LRS)})"
            + (", plus 2e-3 for adamax" if optimizers is None or "adamax" in optimizers else "")
            + f". quick: 3 lrs per optimizer ({_quick_grid_text(optimizers)})"
        ),
    )


def _number_list(kind: str, minimum: float, maximum: float | None = None) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if (
            not math.isfinite(value)
            or value < minimum
            or (maximum is not None and value >= maximum)
        ):
            bound = f"in [{minimum:g}, {maximum:g})" if maximum is not None else f">= {minimum:g}"
            raise argparse.ArgumentTypeError(f"{kind} must be finite and {bound}, got {text}")
        return value

    return parse


def _add_reproduce(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="run one of the paper's experiments, with its figures and a report",
        description=textwrap.fill(
            "Run one of the paper's experiments with its protocol as default (the paper's lr "
            "grid, 100 epochs, batch 128), then write results.json, results.csv, the figures and "
            "report.md (our numbers beside the paper's, and whether each of its claims holds at "
            "this scale). Finished runs are saved as they end; rerunning resumes.",
            width=78,
        ),
        epilog=(
            "examples:\n"
            "  eveopt reproduce trloss --task cifar100-resnet --data-dir ~/data\n"
            "  eveopt reproduce compsched --task digits-cnn --epochs 40 --lr-grid quick\n"
            "  eveopt reproduce hypsearch --task digits-cnn --beta3s 0 0.9 0.999 --cs 2 10\n"
            "\nSee docs/reproduce.md."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    experiments = parser.add_subparsers(
        dest="experiment", metavar="EXPERIMENT", parser_class=_Parser
    )
    tasks = "; ".join(f"{name}: {entry.description}" for name, entry in BUILTIN_TASKS.items())
    for name, summary in EXPERIMENTS.items():
        sub = experiments.add_parser(name, help=summary, description=f"{name}: {summary}.")
        sub.add_argument(
            "--task",
            default=DEFAULT_REPRODUCE_TASK,
            metavar="NAME",
            help=(
                f"what to train (default: {DEFAULT_REPRODUCE_TASK}). Built in: {tasks}; or your "
                "own task as package.module:function or path/to/file.py:function"
            ),
        )
        _add_data_options(sub)
        if name == "trloss":
            sub.add_argument(
                "--optimizers",
                nargs="+",
                choices=tuple(OPTIMIZERS),
                default=None,
                metavar="NAME",
                help=f"optimizers to compare (default: all of {', '.join(OPTIMIZERS)})",
            )
        _add_lr_options(sub, "paper", None if name == "trloss" else ("eve", "adam"))
        if name == "compsched":
            sub.add_argument(
                "--policies",
                nargs="+",
                choices=DECAY_POLICIES,
                default=None,
                metavar="NAME",
                help=f"decay policies (default: all of {', '.join(DECAY_POLICIES)})",
            )
            sub.add_argument(
                "--ks",
                nargs="+",
                type=_number_list("k", 1.0),
                default=None,
                metavar="K",
                help=(
                    "final-lr ratios: the lr decays to lr/k by the last iteration (default: "
                    f"the paper's {', '.join(f'{k:g}' for k in PAPER_DECAY_FACTORS)})"
                ),
            )
        if name == "hypsearch":
            sub.add_argument(
                "--beta3s",
                nargs="+",
                type=_number_list("beta3", 0.0, 1.0),
                default=None,
                metavar="B",
                help=(
                    f"Eve's beta3 values (default: the paper's {len(PAPER_BETA3S)}: "
                    f"{', '.join(f'{b:g}' for b in PAPER_BETA3S)})"
                ),
            )
            sub.add_argument(
                "--cs",
                nargs="+",
                type=_number_list("c", 1.0),
                default=None,
                metavar="C",
                help=f"Eve's c values (default: {', '.join(f'{c:g}' for c in PAPER_CS)})",
            )
        sub.add_argument(
            "--epochs",
            type=_positive_int,
            default=PAPER_EPOCHS,
            metavar="N",
            help=f"passes over the training set per run (default: {PAPER_EPOCHS}, the paper's)",
        )
        sub.add_argument(
            "--batch-size",
            type=_positive_int,
            default=DEFAULT_BATCH_SIZE,
            metavar="N",
            help=f"mini-batch size (default: {DEFAULT_BATCH_SIZE}, as in the paper)",
        )
        sub.add_argument(
            "--seed",
            type=_seed,
            default=DEFAULT_SEED,
            metavar="N",
            help=(
                f"seed of weights, batch order, dropout and --max-samples (default: {DEFAULT_SEED})"
            ),
        )
        sub.add_argument(
            "--jobs",
            type=_positive_int,
            default=None,
            metavar="N",
            help=(
                "runs computed at once, in parallel processes (default: the CPUs divided by "
                f"--threads, {available_cpus()} CPUs here); changes no result"
            ),
        )
        _add_threads_option(sub)
        sub.add_argument(
            "--out",
            type=_folder,
            default=None,
            metavar="DIR",
            help=f"output folder (default: runs/{name}-<task>)",
        )
        sub.add_argument("--quiet", action="store_true", help="no progress display on stderr")


def build_parser() -> argparse.ArgumentParser:
    """The ``eveopt`` argument parser, with its ``compare`` and ``reproduce`` subcommands."""
    parser = _Parser(
        prog="eveopt",
        description=(
            "eveopt: the Eve optimizer (arXiv:1611.01505) for PyTorch, and the paper's "
            "optimizer comparison as one command."
        ),
    )
    parser.add_argument("--version", action="version", version=f"eveopt {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_compare(subparsers)
    _add_reproduce(subparsers)
    return parser


def _option_names(parser: argparse.ArgumentParser) -> str:
    return ", ".join(
        action.option_strings[-1] for action in parser._actions if action.option_strings
    )


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    action = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    chosen: argparse.ArgumentParser = action.choices[name]
    return chosen


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command is None:
        parser.error("a command is required: choose from compare, reproduce (see eveopt --help)")
    subparser = _subparser(parser, args.command)
    if args.command == "reproduce":
        if args.experiment is None:
            subparser.error(
                f"an experiment is required: choose from {', '.join(EXPERIMENTS)} "
                "(see eveopt reproduce --help)"
            )
        subparser = _subparser(subparser, args.experiment)
    if unknown:
        subparser.error(
            f"unrecognized arguments: {' '.join(unknown)}; "
            f"valid options: {_option_names(subparser)}"
        )
    return args


def _reproduce_config(args: argparse.Namespace) -> ReproduceConfig:
    def values(name: str) -> tuple[Any, ...] | None:
        given = getattr(args, name, None)
        return None if given is None else tuple(dict.fromkeys(given))

    return ReproduceConfig(
        experiment=args.experiment,
        task=args.task,
        data_dir=args.data_dir,
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_samples=args.max_samples,
        optimizers=values("optimizers"),
        lrs=values("lrs"),
        lr_grid=args.lr_grid,
        decay_factors=values("ks"),
        policies=values("policies"),
        beta3s=values("beta3s"),
        cs=values("cs"),
        seed=args.seed,
        jobs=args.jobs,
        threads=args.threads,
        out=args.out,
        quiet=args.quiet,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the ``eveopt`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Example:
        >>> main(["compare", "--optimizers", "adam", "--lrs", "0", "--epochs", "1"])
        2
    """
    try:
        args = _parse(sys.argv[1:] if argv is None else argv)
    except SystemExit as parser_exit:  # --help, --version, or bad input (already reported)
        return parser_exit.code if isinstance(parser_exit.code, int) else EXIT_BAD_INPUT
    if args.command == "reproduce":
        prefix = f"eveopt reproduce {args.experiment}"
        config = _reproduce_config(args)
        return _run(prefix, lambda: run_reproduce(config))
    compare_config = CompareConfig(
        task=args.task,
        optimizers=tuple(dict.fromkeys(args.optimizers)),
        lrs=None if args.lrs is None else tuple(args.lrs),
        lr_grid=args.lr_grid,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        jobs=args.jobs,
        threads=args.threads,
        out=args.out,
        quiet=args.quiet,
        data_dir=args.data_dir,
        max_samples=args.max_samples,
    )
    return _run("eveopt compare", lambda: run_compare(compare_config))


def _run(prefix: str, work: Callable[[], object]) -> int:
    """Run a command's work; turn its errors into one line on stderr and an exit code."""
    try:
        work()
    except (ConfigError, TaskError) as error:
        print(f"{prefix}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Interrupted as interrupted:
        print(
            f"{prefix}: interrupted; {interrupted.saved} of {interrupted.total} runs are saved "
            f"in {interrupted.out_dir}; run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # before any run started: nothing to keep
        print(f"{prefix}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RunFailed as failure:
        if failure.details:
            print(failure.details.rstrip(), file=sys.stderr)
        print(f"{prefix}: error: {failure}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except ModuleNotFoundError as error:
        if error.name is None or error.name.split(".")[0] not in _EXTRA_MODULES:
            raise
        print(
            f"{prefix}: error: {error.name} is not installed; "
            "install the extra: pip install 'eveopt[experiments]'",
            file=sys.stderr,
        )
        return EXIT_RUN_FAILED
    return 0

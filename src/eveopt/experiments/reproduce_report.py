"""``report.md`` of an ``eveopt reproduce`` experiment: command, scale, results, claims, figures.

The results table sets our best lr and final loss beside the authors' (their logged runs,
packaged as ``data/paper_results.json``) where the task is one of theirs; the claims section
checks each of the paper's claims that the experiment tests on our runs (and, for calibration,
on the authors' numbers) with :mod:`~eveopt.experiments.claims`, stating the scale.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eveopt.experiments.claims import (
    CLAIMS,
    EVE_DEFAULTS,
    Verdict,
    check_decay,
    check_eve_wins,
    check_rnn_similar,
    check_sensitivity,
    thresholds_text,
)
from eveopt.experiments.grids import PAPER_LRS
from eveopt.experiments.optimizers import OPTIMIZERS
from eveopt.experiments.report import count_text, rank_optimizers, run_variant
from eveopt.experiments.store import atomic_path
from eveopt.experiments.tasks import is_builtin_task

if TYPE_CHECKING:
    from eveopt.experiments.reproduce import ReproduceConfig
    from eveopt.experiments.tasks import Task

__all__ = ["paper_results", "render_report", "write_report"]

Run = Mapping[str, Any]

RNN_TASKS = frozenset({"ptb-char-gru", "text-char-gru"})
"""Tasks of experiment 2's kind (a character GRU), where the paper claims claim 2, not 1."""


@functools.cache
def paper_results() -> dict[str, Any]:
    """The authors' logged results (final losses and best lrs), packaged with eveopt."""
    text = resources.files("eveopt.experiments").joinpath("data/paper_results.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def _label(name: str) -> str:
    spec = OPTIMIZERS.get(name)
    return spec.label if spec is not None else name


def _loss(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "diverged"
    return f"{float(value):.4g}"


def _final(run: Run | None) -> float | None:
    if run is None or run.get("final_loss") is None:
        return None
    return float(run["final_loss"])


def _curve(run: Run) -> list[float]:
    return [
        float(value) if value is not None else math.nan
        for value in [run["initial_loss"], *run["epoch_losses"]]
    ]


def _paper_curve(row: Mapping[str, Any]) -> list[float]:
    """The authors' per-epoch losses as a curve (their logs hold no initial loss: NaN)."""
    return [math.nan, *(float(value) for value in row["epoch_losses"])]


def _sample_unit(task_name: str) -> str:
    """What one training sample of the task is called: a text task's samples are sequences."""
    return "sequences" if task_name in RNN_TASKS else "samples"


def _data_notes(config: ReproduceConfig) -> list[str]:
    """Facts about the data folder a reader must know (a training split copied from another)."""
    if config.data_dir is None:
        return []
    folder = Path(os.fspath(config.data_dir))
    notes = []
    for train, other in (
        ("ptb.char.train.txt", "ptb.char.valid.txt"),
        ("ptb.train.txt", "ptb.valid.txt"),
    ):
        train_path, other_path = folder / train, folder / other
        if train_path.is_file() and other_path.is_file():
            digests = {
                hashlib.sha256(path.read_bytes()).hexdigest() for path in (train_path, other_path)
            }
            if len(digests) == 1:
                notes.append(
                    f"`{train}` in the data folder is a copy of `{other}`: this run trains on the "
                    f"Penn Treebank validation split, a small stand-in for the training split "
                    f"(the paper trained on `{train}` proper)."
                )
    return notes


def _scale_lines(config: ReproduceConfig, task: Task, runs: Sequence[Run]) -> list[str]:
    base = config.compare_config()
    total = task.num_samples
    unit = _sample_unit(task.name)
    samples = f"{total:,} training {unit}"
    if task.source_samples > total:
        samples += (
            f" of {task.source_samples:,} (a subset chosen by a shuffle seeded with "
            f"{config.seed}: --max-samples {config.max_samples})"
        )
    elif config.max_samples is not None:
        samples += f" (all of them: --max-samples {config.max_samples} cuts none)"
    lines = [
        f"- Task `{config.task}`: {samples}.",
        f"- {count_text(config.epochs, 'epoch')} (the paper: 100), batch {config.batch_size} "
        f"(the paper: 128), seed {config.seed}; {count_text(len(runs), 'run')}, each on "
        f"{count_text(config.threads, 'torch thread')} (another count rounds differently).",
    ]
    searched = [name for name in base.optimizers if name in {run["optimizer"] for run in runs}]
    lr_text = "; ".join(
        f"{_label(name)} {', '.join(f'{lr:g}' for lr in base.lrs_for(name))}" for name in searched
    )
    lines.append(
        f"- Learning rates searched: {lr_text} (the paper: {len(PAPER_LRS)} values, "
        f"{PAPER_LRS[0]:g} to {PAPER_LRS[-1]:g})."
    )
    if config.experiment == "compsched":
        lines.append(
            f"- Decay policies {', '.join(config.decay_policies)}; final-lr ratios k "
            f"{', '.join(f'{k:g}' for k in config.ks)} (the paper: all three policies, eight k "
            f"from 5 to 1e4); g is set from k and the run's {config.epochs} epochs."
        )
    if config.experiment == "hypsearch":
        lines.append(
            f"- beta3 {', '.join(f'{b:g}' for b in config.beta3_values)}; c "
            f"{', '.join(f'{c:g}' for c in config.c_values)} (the paper: 14 beta3 values from 0 "
            f"to 0.99999, 7 c values from 2 to 100)."
        )
    return lines


EDGE_NAMES_SHOWN = 6
"""At most this many group names per end of the lr range in the edge note (then a count)."""


def _edge_lines(runs: Sequence[Run], best: Mapping[str, Run | None]) -> list[str]:
    """A note naming the groups whose best lr is the largest or smallest one searched.

    There the search may have stopped short: a learning rate beyond the range might end lower.
    Groups searched at one lr only are left out (their lr is no choice).
    """
    searched: dict[str, set[float]] = {}
    for run in runs:
        searched.setdefault(run_variant(run), set()).add(float(run["lr"]))
    ends: dict[str, list[str]] = {"largest": [], "smallest": []}
    for group, winner in best.items():
        lrs = searched.get(group, set())
        if winner is None or len(lrs) < 2:
            continue
        if float(winner["lr"]) == max(lrs):
            ends["largest"].append(_label(group))
        elif float(winner["lr"]) == min(lrs):
            ends["smallest"].append(_label(group))
    parts = []
    for end, names in ends.items():
        if names:
            shown = names[:EDGE_NAMES_SHOWN]
            more = len(names) - len(shown)
            listed = [*shown, f"{more} more"] if more > 0 else shown
            text = listed[0] if len(listed) == 1 else f"{', '.join(listed[:-1])} and {listed[-1]}"
            parts.append(f"the {end} searched for {text}")
    if not parts:
        return []
    return [
        f"- The best lr is {', and '.join(parts)}: the search may have stopped short there, and "
        "an lr beyond the range might end lower (widen it with --lrs or --lr-grid paper)."
    ]


def _diverged_lines(runs: Sequence[Run]) -> list[str]:
    """A note on the runs that diverged (a NaN or infinite loss), by group and lr."""
    diverged: dict[str, list[float]] = {}
    for run in runs:
        if run.get("diverged"):
            diverged.setdefault(run_variant(run), []).append(float(run["lr"]))
    if not diverged:
        return []
    count = sum(len(lrs) for lrs in diverged.values())
    named = [
        f"{_label(group)} at lr {', '.join(f'{lr:g}' for lr in sorted(lrs))}"
        for group, lrs in list(diverged.items())[:EDGE_NAMES_SHOWN]
    ]
    more = len(diverged) - EDGE_NAMES_SHOWN
    return [
        f"- {count} of {count_text(len(runs), 'run')} diverged (a NaN or infinite loss; a diverged "
        f"run is never the best): {'; '.join(named)}"
        + (f"; and {more} more settings" if more > 0 else "")
        + "."
    ]


def _trloss_table(best: Mapping[str, Run | None], paper: Mapping[str, Any] | None) -> list[str]:
    header = "| rank | optimizer | best lr | final loss |"
    rule = "|---:|---|---:|---:|"
    if paper is not None:
        header += " paper: best lr | paper: final loss |"
        rule += "---:|---:|"
    lines = [header, rule]
    for rank, (name, run) in enumerate(rank_optimizers(best), start=1):
        row = (
            f"| {rank if run is not None else '-'} | {_label(name)} | "
            f"{'-' if run is None else format(float(run['lr']), 'g')} | {_loss(_final(run))} |"
        )
        if paper is not None:
            theirs = paper.get(name)
            row += (
                " - | - |"
                if theirs is None
                else f" {theirs['best_lr']:g} | {_loss(theirs['final_loss'])} |"
            )
        lines.append(row)
    return lines


def _variant_table(best: Mapping[str, Run | None]) -> list[str]:
    lines = ["| rank | run | best lr | final loss |", "|---:|---|---:|---:|"]
    for rank, (name, run) in enumerate(rank_optimizers(best), start=1):
        lr = "-" if run is None else f"{float(run['lr']):g}"
        lines.append(
            f"| {rank if run is not None else '-'} | {_label(name)} | {lr} | {_loss(_final(run))} |"
        )
    return lines


def _verdict_line(claim: int, ours: Verdict, scale: str, paper: Verdict | None) -> str:
    line = (
        f'- **Claim {claim}** ("{CLAIMS[claim]}"): **{ours.status}** by this run ({scale}): '
        f"{ours.details}."
    )
    if paper is not None:
        line += f" The authors' own numbers: {paper.status} ({paper.details})."
    return line


def _trloss_claims(
    config: ReproduceConfig, best: Mapping[str, Run | None], scale: str
) -> list[str]:
    """Claim 2 for a character GRU (experiment 2's kind), claim 1 for any other task."""
    finals = {name: _final(run) for name, run in best.items()}
    labels = {name: spec.label for name, spec in OPTIMIZERS.items()}
    curves = {name: _curve(run) for name, run in best.items() if run is not None}
    paper = paper_results()["trloss"].get(config.task)
    paper_finals = (
        None if paper is None else {name: row["final_loss"] for name, row in paper.items()}
    )
    paper_curves = (
        None if paper is None else {name: _paper_curve(row) for name, row in paper.items()}
    )
    if config.task in RNN_TASKS:
        ours = check_rnn_similar(finals, labels)
        theirs = None if paper_finals is None else check_rnn_similar(paper_finals, labels)
        claim, other, kind = 2, 1, "a character GRU, as in experiment 2"
    else:
        ours = check_eve_wins(finals, labels, curves)
        theirs = (
            None if paper_finals is None else check_eve_wins(paper_finals, labels, paper_curves)
        )
        claim, other, kind = 1, 2, "not a character GRU"
    return [
        _verdict_line(claim, ours, scale, theirs),
        f"- The paper made claim 1 for the CIFAR-100 ResNet and claim 2 for the Penn Treebank "
        f"character GRU; this task is {kind}, so this run tests claim {claim}, not claim {other}.",
    ]


def _compsched_claims(
    config: ReproduceConfig, runs: Sequence[Run], best: Mapping[str, Run | None], scale: str
) -> list[str]:
    decayed: dict[str, dict[float, float | None]] = {}
    best_decayed: Run | None = None
    for run in runs:
        schedule = run.get("schedule")
        if schedule is None:
            continue
        winner = best.get(str(run["variant"]))
        decayed.setdefault(str(schedule["policy"]), {})[float(schedule["k"])] = _final(winner)
        if winner is not None and (
            best_decayed is None or float(winner["final_loss"]) < float(best_decayed["final_loss"])
        ):
            best_decayed = winner
    eve, adam = best.get("eve"), best.get("adam")
    curves = None
    if eve is not None and best_decayed is not None:
        curves = {"eve": _curve(eve), "decayed": _curve(best_decayed)}
    ours = check_decay(_final(eve), _final(adam), decayed, curves)
    theirs = None
    paper = paper_results()["compsched"].get(config.task)
    trloss = paper_results()["trloss"].get(config.task)
    if paper is not None and trloss is not None:
        paper_decayed = {
            policy: {float(row["k"]): row["final_loss"] for row in rows}
            for policy, rows in paper.items()
        }
        best_row = min(
            (row for rows in paper.values() for row in rows), key=lambda row: row["final_loss"]
        )
        theirs = check_decay(
            trloss["eve"]["final_loss"],
            trloss["adam"]["final_loss"],
            paper_decayed,
            {"eve": _paper_curve(trloss["eve"]), "decayed": _paper_curve(best_row)},
        )
    lines = [_verdict_line(3, ours, scale, theirs)]
    if theirs is not None:
        lines.append(
            "- In the authors' logs only exponential decay was searched per k; inverse time and "
            "inverse sqrt were searched over all eight k at once, so each has one (best) entry."
        )
    return lines


def _hypsearch_claims(
    config: ReproduceConfig, runs: Sequence[Run], best: Mapping[str, Run | None], scale: str
) -> list[str]:
    pairs: dict[tuple[float, float], float | None] = {}
    for run in runs:
        if run["optimizer"] == "eve" and run.get("variant"):
            hyperparameters = run["hyperparameters"]
            pair = (float(hyperparameters["beta3"]), float(hyperparameters["c"]))
            pairs[pair] = _final(best.get(str(run["variant"])))
    ours = check_sensitivity(pairs, _final(best.get("adam")), EVE_DEFAULTS)
    theirs = None
    paper = paper_results()["hypsearch"].get(config.task)
    trloss = paper_results()["trloss"].get(config.task)
    if paper is not None and trloss is not None:
        paper_pairs = {(float(row["beta3"]), float(row["c"])): row["final_loss"] for row in paper}
        theirs = check_sensitivity(paper_pairs, trloss["adam"]["final_loss"], EVE_DEFAULTS)
    return [_verdict_line(4, ours, scale, theirs)]


def _paper_compsched_lines(task: str) -> list[str]:
    paper = paper_results()["compsched"].get(task)
    trloss = paper_results()["trloss"].get(task)
    if paper is None or trloss is None:
        return []
    lines = [
        "",
        "The authors' results (CIFAR-100 ResNet, 100 epochs):",
        "",
        "| run | best lr | final loss |",
        "|---|---:|---:|",
        f"| Eve | {trloss['eve']['best_lr']:g} | {_loss(trloss['eve']['final_loss'])} |",
        f"| Adam (constant lr) | {trloss['adam']['best_lr']:g} | "
        f"{_loss(trloss['adam']['final_loss'])} |",
    ]
    for policy, rows in paper.items():
        for row in rows:
            lines.append(
                f"| adam-{policy}-k{row['k']:g} | {row['best_lr']:g} | {_loss(row['final_loss'])} |"
            )
    return lines


def _paper_hypsearch_lines(task: str) -> list[str]:
    paper = paper_results()["hypsearch"].get(task)
    if paper is None:
        return []
    rows = sorted(paper, key=lambda row: row["final_loss"])
    default = next((row for row in rows if (row["beta3"], row["c"]) == EVE_DEFAULTS), None)
    lines = [
        "",
        f"The authors' results ({len(rows)} (beta3, c) pairs, 100 epochs): the best five and "
        "the defaults:",
        "",
        "| beta3 | c | best lr | final loss |",
        "|---:|---:|---:|---:|",
    ]
    for row in [*rows[:5], *([] if default is None or default in rows[:5] else [default])]:
        lines.append(
            f"| {row['beta3']:g} | {row['c']:g} | {row['best_lr']:g} | {_loss(row['final_loss'])} |"
        )
    return lines


def render_report(
    config: ReproduceConfig,
    task: Task,
    runs: Sequence[Run],
    best: Mapping[str, Run | None],
    figures: Sequence[str],
) -> str:
    """The text of report.md."""
    import eveopt
    from eveopt.experiments.reproduce import EXPERIMENTS

    versions = next((run.get("versions") for run in runs), None) or {"eveopt": eveopt.__version__}
    full_grid = config.grid == "paper" and config.lrs is None
    # A built-in task's own name (babi-gru-q14 is babi-gru) picks the paper's numbers and claim;
    # a user's task gets neither, whatever name it gives itself.
    named = replace(config, task=task.name) if is_builtin_task(config.task) else config
    unit = _sample_unit(named.task)
    scale = (
        f"{task.num_samples:,} {unit}, {count_text(config.epochs, 'epoch')}, "
        f"{'the paper lr grid' if full_grid else 'a reduced lr search'}"
    )
    lines = [
        f"# {config.experiment}: {EXPERIMENTS[config.experiment]}, on {task.name}",
        "",
        f"Hayashi, Koushik, Neubig, arXiv 1611.01505, reproduced with eveopt "
        f"{versions.get('eveopt', '?')} (torch {versions.get('torch', '?')}). "
        "Final loss = the full training loss in eval mode after the last epoch; each optimizer's "
        "(or setting's) best lr is the one with the lowest final loss; diverged runs never win.",
        "",
        "## Command",
        "",
        "```",
        config.command(),
        "```",
        "",
        "## Scale",
        "",
        *_scale_lines(config, task, runs),
        *(f"- {note}" for note in _data_notes(config)),
        *_edge_lines(runs, best),
        *_diverged_lines(runs),
        "",
        "## Results",
        "",
    ]
    if config.experiment == "trloss":
        paper = paper_results()["trloss"].get(named.task)
        if paper is not None:
            lines += [
                "Ours beside the authors' logged runs (100 epochs, full data, paper grid).",
                "",
            ]
        lines += _trloss_table(best, paper)
    else:
        lines += _variant_table(best)
        lines += (
            _paper_compsched_lines(named.task)
            if config.experiment == "compsched"
            else _paper_hypsearch_lines(named.task)
        )
    lines += ["", "## The paper's claims", ""]
    if config.experiment == "trloss":
        lines += _trloss_claims(named, best, scale)
    elif config.experiment == "compsched":
        lines += _compsched_claims(named, runs, best, scale)
    else:
        lines += _hypsearch_claims(named, runs, best, scale)
    lines += [
        "",
        f"Thresholds (eveopt.experiments.claims): {thresholds_text()}. A verdict "
        f"holds for this run only, at the scale above, and for seed {config.seed} only: a final "
        "loss of one seed can move by several times under another seed (or even another "
        "rounding), so rerun with other --seed values before trusting a close verdict.",
        "",
        "## Figures",
        "",
        *(f"![{name}]({name})" for name in figures if name.endswith(".png")),
        "",
    ]
    return "\n".join(lines)


def write_report(
    path: Path,
    config: ReproduceConfig,
    task: Task,
    runs: Sequence[Run],
    best: Mapping[str, Run | None],
    figures: Sequence[str],
) -> None:
    """Write report.md atomically."""
    text = render_report(config, task, runs, best, figures)
    with atomic_path(path) as temp_path:
        temp_path.write_text(text, encoding="utf-8")

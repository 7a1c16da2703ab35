"""Write src/eveopt/experiments/data/paper_results.json from the authors' logged runs.

Reads ``../shared/data/paper-runs/summary.json`` (the authors' logs, see ``../shared/PAPER.md``)
and keeps what the reports compare against: per experiment and task, each optimizer's (or
setting's) best lr and final full training loss after 100 epochs, and for the comparison and
the decay study the 100 per-epoch losses (the claims about speed read them). Deterministic; a
test checks that the packaged file is what this script writes::

    python tests/experiments/make_paper_results.py [path/to/summary.json]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SUMMARY = REPO.parent / "shared" / "data" / "paper-runs" / "summary.json"
OUTPUT = REPO / "src" / "eveopt" / "experiments" / "data" / "paper_results.json"

# The authors' task keys and ours.
TASKS = {"resnet": "cifar100-resnet", "ptb": "ptb-char-gru", "babi_q14": "babi-gru"}
OPTIMIZERS = {"sgd": "sgd-nesterov"}
ITERATIONS = 100 * math.ceil(50_000 / 128)  # CIFAR-100, 100 epochs of batch 128: 39,100
FACTORS = (1e4, 5e3, 1e3, 5e2, 1e2, 50.0, 10.0, 5.0)
POLICIES = {
    "ExponentialDecayLRSchedule": ("exponential", lambda g: math.exp(g * ITERATIONS)),
    "InverseTimeDecayLRSchedule": ("inverse-time", lambda g: 1 + g * ITERATIONS),
    "SqrtTimeDecaySchedule": ("inverse-sqrt", lambda g: math.sqrt(1 + g * ITERATIONS)),
}


def _nearest_factor(k: float) -> float:
    """The paper's k whose decay rate the authors rounded to 3 digits."""
    return min(FACTORS, key=lambda factor: abs(math.log(factor / k)))


def build(summary: dict[str, Any]) -> dict[str, Any]:
    """The packaged reference: trloss, compsched and hypsearch results by our task names."""
    trloss = {
        TASKS[task]: {
            OPTIMIZERS.get(name, name): {
                "best_lr": run["best_lr"],
                "final_loss": run["epoch_full_losses"][-1],
                "epochs": len(run["epoch_full_losses"]),
                "epoch_losses": run["epoch_full_losses"],
            }
            for name, run in sorted(runs.items())
        }
        for task, runs in sorted(summary["trainloss"].items())
        if task in TASKS
    }
    compsched: dict[str, list[dict[str, Any]]] = {}
    for run in summary["compsched"]["resnet"].values():
        policy, final_factor = POLICIES[run["cmd_args"]["lr_schedule"]]
        gamma = run["best_decay"]
        compsched.setdefault(policy, []).append(
            {
                "k": _nearest_factor(final_factor(gamma)),
                "gamma": gamma,
                "best_lr": run["best_lr"],
                "final_loss": run["epoch_full_losses"][-1],
                "epoch_losses": run["epoch_full_losses"],
                # Searched over all k at once (inverse time and sqrt) or one k (exponential).
                "searched_ks": [
                    _nearest_factor(final_factor(value)) for value in run["cmd_args"]["decays"]
                ],
            }
        )
    for rows in compsched.values():
        rows.sort(key=lambda row: -row["k"])
    hypsearch = {
        TASKS[task]: sorted(
            (
                {
                    "beta3": row["beta"],
                    "c": row["c"],
                    "best_lr": row["best_lr"],
                    "final_loss": row["best_full_losses"][-1],
                }
                for sweep in sweeps.values()
                for row in sweep["rows"]
            ),
            key=lambda row: (row["c"], row["beta3"]),
        )
        for task, sweeps in sorted(summary["hypsearch"].items())
    }
    return {
        "source": "Hayashi, Koushik, Neubig, arXiv 1611.01505: the authors' logged runs "
        "(summary.json), 100 epochs, batch 128; final = full training loss after the last epoch",
        "epochs": 100,
        "trloss": trloss,
        "compsched": {"cifar100-resnet": compsched},
        "hypsearch": hypsearch,
    }


def render(summary_path: Path) -> str:
    """The file's text for the summary at ``summary_path``."""
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    return json.dumps(build(summary), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else SUMMARY
    OUTPUT.write_text(render(source), encoding="utf-8")
    print(f"wrote {OUTPUT}")

"""``eveopt reproduce``: each experiment end to end in seconds, the paper's tasks on fixtures.

The experiments run on tiny settings (a few samples, one or two epochs) of the embedded digits
task, and ``trloss`` on CIFAR-100 files written here in the University of Toronto's pickle
format. The runs are real (real models, real optimizers); what is checked is the protocol: the
runs an experiment makes, that a schedule or a (beta3, c) pair really reaches the optimizer,
the files written, the report's paper numbers and claims, resume, and the errors.
"""

from __future__ import annotations

import csv
import io
import json
import math
import pickle
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eveopt.cli import main
from eveopt.experiments.execution import task_fingerprint
from eveopt.experiments.reproduce import ReproduceConfig, _compsched_specs, run_reproduce
from eveopt.experiments.reproduce_report import paper_results
from eveopt.experiments.schedules import gamma_for_final_factor
from eveopt.experiments.tasks import resolve_task

TINY = ["--task", "digits-logreg", "--max-samples", "64", "--epochs", "2", "--jobs", "1"]


def results(folder: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((folder / "results.json").read_text())
    return document


def test_trloss_is_a_comparison_with_a_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["reproduce", "trloss", *TINY, "--optimizers", "eve", "adam", "--lrs", "1e-2", "5e-2"]
    assert main(argv) == 0
    out = tmp_path / "runs" / "trloss-digits-logreg"  # the default folder
    for name in ("results.json", "results.csv", "loss.png", "eve.png", "report.md"):
        assert (out / name).is_file(), name
    document = results(out)
    assert document["comparison"]["max_samples"] == 64
    assert {run["optimizer"] for run in document["runs"]} == {"eve", "adam"}
    assert all(len(run["epoch_losses"]) == 2 for run in document["runs"])
    report = (out / "report.md").read_text()
    assert "eveopt reproduce trloss --task digits-logreg --epochs 2 --max-samples 64" in report
    assert "64 training samples" in report
    assert "2 epochs (the paper: 100)" in report
    assert "4 runs, each on 1 torch thread" in report
    assert "for seed 0 only" in report
    assert "**Claim 1**" in report
    assert "**Claim 2**" not in report  # digits: experiment 1's claim, not the GRU's
    assert "this run tests claim 1, not claim 2" in report
    assert "![loss.png](loss.png)" in report
    capsys.readouterr()
    # Resume: everything is on disk, nothing is computed again.
    assert main(argv) == 0
    assert "(0 computed now, 4 reused)" in capsys.readouterr().out


def test_compsched_runs_adam_per_policy_and_k_with_the_decay_applied(tmp_path: Path) -> None:
    out = tmp_path / "cs"
    config = ReproduceConfig(
        "compsched",
        task="digits-logreg",
        max_samples=64,
        epochs=2,
        batch_size=16,
        lrs=(1e-2,),
        decay_factors=(1.0, 1e4),
        jobs=1,
        out=out,
        quiet=True,
    )
    result = run_reproduce(config)
    by_variant = {run["variant"] or run["optimizer"]: run for run in result.runs}
    assert set(by_variant) == {
        "eve",
        "adam",
        *(
            f"adam-{policy}-k{k}"
            for policy in ("exponential", "inverse-time", "inverse-sqrt")
            for k in ("1", "10000")
        ),
    }
    iterations = 2 * math.ceil(64 / 16)
    for policy in ("exponential", "inverse-time", "inverse-sqrt"):
        strong = by_variant[f"adam-{policy}-k10000"]
        assert strong["schedule"]["gamma"] == gamma_for_final_factor(policy, 1e4, iterations)
        # k = 1 is no decay at all: the very same run as constant Adam, step for step.
        assert by_variant[f"adam-{policy}-k1"]["batch_losses"] == by_variant["adam"]["batch_losses"]
        # A strong decay changes the trajectory from the second step on (the first uses a_1).
        assert strong["batch_losses"][:2] == by_variant["adam"]["batch_losses"][:2]
        assert strong["batch_losses"][2:] != by_variant["adam"]["batch_losses"][2:]
    for name in ("results.json", "results.csv", "compsched.png", "report.md"):
        assert (out / name).is_file(), name
    with (out / "results.csv").open() as stream:
        assert len(list(csv.DictReader(stream))) == 2 + 3 * 2
    report = (out / "report.md").read_text()
    assert "**Claim 3**" in report
    assert "final-lr ratios k 10000, 1" in report


def test_compsched_gamma_uses_the_whole_run_iterations() -> None:
    config = ReproduceConfig("compsched", task="digits-logreg", epochs=3, batch_size=100)
    task = resolve_task("digits-logreg")
    specs = _compsched_specs(config, config.compare_config(), task, task_fingerprint(task, 0))
    iterations = 3 * math.ceil(1797 / 100)
    decayed = [spec for spec in specs if spec.schedule is not None]
    assert len(decayed) == 3 * 8 * 13  # policies x the paper's k x the paper's lr grid
    for spec in decayed:
        policy, k = spec.schedule["policy"], spec.schedule["k"]  # type: ignore[index]
        assert spec.schedule["gamma"] == gamma_for_final_factor(policy, k, iterations)  # type: ignore[index]
    assert len({spec.run_id for spec in specs}) == len(specs)


def test_hypsearch_pairs_reach_the_optimizer(tmp_path: Path) -> None:
    out = tmp_path / "hs"
    config = ReproduceConfig(
        "hypsearch",
        task="digits-logreg",
        max_samples=64,
        epochs=2,
        batch_size=16,
        lrs=(1e-2,),
        beta3s=(0.5, 0.999),
        cs=(1.0, 10.0),
        jobs=1,
        out=out,
        quiet=True,
    )
    result = run_reproduce(config)
    runs = {run["variant"] or run["optimizer"]: run for run in result.runs}
    assert set(runs) == {"eve-b0.5-c1", "eve-b0.999-c1", "eve-b0.5-c10", "eve-b0.999-c10", "adam"}
    assert runs["eve-b0.5-c10"]["hyperparameters"]["beta3"] == 0.5
    # c = 1 clamps Eve's coefficient to 1: Eve is then Adam whatever beta3 (to rounding: Eve
    # takes torch's fused kernel by default, the registry's Adam the foreach one).
    for beta3 in ("0.5", "0.999"):
        expected = pytest.approx(runs["adam"]["batch_losses"], rel=1e-5)
        assert runs[f"eve-b{beta3}-c1"]["batch_losses"] == expected
    assert runs["eve-b0.5-c10"]["batch_losses"] != runs["adam"]["batch_losses"]
    # beta3 reaches the optimizer too: the two smoothings give two different trainings.
    assert runs["eve-b0.5-c10"]["batch_losses"][2:] != pytest.approx(
        runs["eve-b0.999-c10"]["batch_losses"][2:], rel=1e-6
    )
    figure_path = out / "hypsearch.png"
    assert figure_path.is_file()
    assert (out / "report.md").is_file()
    assert "**Claim 4**" in (out / "report.md").read_text()


def test_hypsearch_figure_draws_each_pairs_best_run(tmp_path: Path) -> None:
    from eveopt.experiments.report import run_variant, select_best
    from eveopt.experiments.reproduce_plots import plot_hypsearch

    def run(variant: str, beta3: float, c: float, lr: float, losses: list[float]) -> dict[str, Any]:
        return {
            "run_id": f"{variant}-{lr}",
            "optimizer": "eve" if variant else "adam",
            "variant": variant,
            "lr": lr,
            "hyperparameters": {"beta3": beta3, "c": c},
            "initial_loss": 2.0,
            "epoch_losses": losses,
            "final_loss": losses[-1],
            "diverged": False,
        }

    runs = [
        run("eve-b0.9-c2", 0.9, 2.0, 0.1, [1.0, 0.5]),
        run("eve-b0.9-c2", 0.9, 2.0, 0.01, [1.5, 0.9]),
        run("eve-b0.999-c2", 0.999, 2.0, 0.1, [1.2, 0.7]),
        run("", 0.0, 0.0, 0.1, [1.9, 1.8]),
    ]
    figure = plot_hypsearch(
        tmp_path / "h.png", runs, select_best(runs, key=run_variant), (0.999, 10.0), "t"
    )
    curves = {line.get_label(): list(line.get_ydata()) for line in figure.axes[0].lines}
    assert curves["beta3 0.9"] == [2.0, 1.0, 0.5]  # the best of its two lrs
    assert curves["beta3 0.999"] == [2.0, 1.2, 0.7]
    assert curves["Adam lr 0.1"] == [2.0, 1.9, 1.8]


def write_cifar100(root: Path, count: int) -> None:
    """CIFAR-100 as the University of Toronto pickles it: uint8 rows of 3,072, fine labels."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, size in (("train", count), ("test", 2)):
        labels = [int(label) for label in rng.integers(0, 100, size)]
        batch = {
            b"batch_label": b"fixture",
            b"fine_labels": labels,
            b"coarse_labels": [label // 5 for label in labels],
            b"data": rng.integers(0, 256, (size, 3072), dtype=np.uint8),
        }
        (folder / split).write_bytes(pickle.dumps(batch, protocol=2))


def test_trloss_on_cifar100_files_with_the_papers_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_cifar100(tmp_path / "data", count=24)
    out = tmp_path / "out"
    argv = [
        "reproduce", "trloss", "--task", "cifar100-resnet", "--data-dir", str(tmp_path / "data"),
        "--epochs", "1", "--batch-size", "8", "--max-samples", "16", "--optimizers", "eve",
        "adam", "--lrs", "1e-3", "--jobs", "1", "--quiet", "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    document = results(out)
    assert document["comparison"]["max_samples"] == 16
    assert all(run["steps_per_epoch"] == 2 for run in document["runs"])
    report = (out / "report.md").read_text()
    # The authors' CIFAR-100 ResNet numbers sit beside ours.
    assert "paper: best lr | paper: final loss" in report
    assert "| Eve | 0.001 |" in report
    assert "| 0.0005 | 0.0012 |" in report
    assert "The authors' own numbers: supported" in report  # claim 1 on their numbers


def test_a_user_task_named_like_the_papers_gets_no_paper_numbers(tmp_path: Path) -> None:
    source = tmp_path / "my_tasks.py"
    source.write_text(
        "import dataclasses\n"
        "from eveopt.experiments.tasks import digits_logreg\n"
        "def make():\n"
        "    return dataclasses.replace(digits_logreg(), name='cifar100-resnet')\n"
    )
    out = tmp_path / "out"
    argv = [
        "reproduce", "trloss", "--task", f"{source}:make", "--epochs", "1", "--max-samples", "16",
        "--optimizers", "eve", "adam", "--lrs", "1e-3", "--jobs", "1", "--quiet", "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    report = (out / "report.md").read_text()
    assert "on cifar100-resnet" in report  # its own name, shown as given
    assert "paper: final loss" not in report  # but not the authors' ResNet numbers
    assert "The authors' own numbers" not in report


def test_file_backed_tasks_need_their_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["reproduce", "trloss", "--task", "cifar100-resnet", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("eveopt reproduce trloss: error: task cifar100-resnet reads")
    assert "--data-dir" in error
    assert "cifar-100-python/" in error
    assert main(["reproduce", "trloss", "--data-dir", str(tmp_path), "--out", str(out)]) == 2
    assert "leave out --data-dir" in capsys.readouterr().err
    argv = ["reproduce", "compsched", "--task", "cifar100-resnet", "--data-dir", str(tmp_path)]
    assert main([*argv, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "CIFAR-100" in error
    assert "cifar-100-python/train" in error
    assert "Traceback" not in error
    assert not out.exists()  # bad input writes nothing


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reproduce"], "an experiment is required: choose from trloss, compsched, hypsearch"),
        (["reproduce", "trloss", "--ks", "10"], "unrecognized arguments: --ks 10"),
        (["reproduce", "hypsearch", "--beta3s", "1"], "beta3 must be finite and in [0, 1)"),
        (["reproduce", "compsched", "--ks", "0.5"], "k must be finite and >= 1"),
        (["reproduce", "compsched", "--policies", "linear"], "invalid choice: 'linear'"),
        (["reproduce", "trloss", "--max-samples", "0"], "must be a positive integer"),
    ],
)
def test_bad_options_are_one_line_with_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    assert message in error


def test_config_rejects_options_of_other_experiments() -> None:
    from eveopt.experiments.compare import ConfigError

    with pytest.raises(ConfigError, match="beta3s applies to hypsearch only, not compsched"):
        ReproduceConfig("compsched", beta3s=(0.5,)).validate()
    with pytest.raises(ConfigError, match="unknown experiment 'train'"):
        ReproduceConfig("train").validate()


def test_packaged_paper_results_hold_the_papers_table() -> None:
    paper = paper_results()
    resnet = paper["trloss"]["cifar100-resnet"]
    assert (resnet["eve"]["best_lr"], round(resnet["eve"]["final_loss"], 4)) == (5e-4, 0.0012)
    assert round(paper["trloss"]["ptb-char-gru"]["adamax"]["final_loss"], 4) == 1.0028
    assert round(paper["trloss"]["babi-gru"]["eve"]["final_loss"], 5) == 6e-5
    exponential = paper["compsched"]["cifar100-resnet"]["exponential"]
    assert [row["k"] for row in exponential] == [1e4, 5e3, 1e3, 5e2, 1e2, 50.0, 10.0, 5.0]
    best = min(exponential, key=lambda row: row["final_loss"])
    assert (best["k"], best["best_lr"], round(best["final_loss"], 4)) == (50.0, 1e-2, 0.001)
    assert len(paper["hypsearch"]["cifar100-resnet"]) == 14 * 6  # their logs hold no c = 15


SUMMARY = Path(__file__).resolve().parents[3] / "shared" / "data" / "paper-runs" / "summary.json"


@pytest.mark.skipif(
    not SUMMARY.is_file(), reason="../shared/data/paper-runs is not beside the repo"
)
def test_packaged_paper_results_are_what_the_generator_writes() -> None:
    import make_paper_results  # type: ignore[import-not-found]

    packaged = Path(make_paper_results.OUTPUT).read_text()
    assert packaged == make_paper_results.render(SUMMARY)


def test_the_reports_command_parses_back_to_the_same_experiment() -> None:
    from eveopt.cli import _parse, _reproduce_config

    config = ReproduceConfig(
        "hypsearch",
        task="digits-cnn",
        epochs=3,
        max_samples=50,
        lrs=(0.00123456789, 0.5),
        beta3s=(0.9999994, 0.0),
        cs=(2.0, 10.5),
        seed=7,
        threads=2,
        out="somewhere",
    )
    words = shlex.split(config.command())[1:]  # without the program name
    parsed = _reproduce_config(_parse(words))
    assert (parsed.lrs, parsed.beta3s, parsed.cs) == (config.lrs, config.beta3s, config.cs)
    assert parsed.command() == config.command()
    assert parsed.threads == 2
    assert [spec.variant for spec in _hypsearch_variants(parsed)] == [
        "eve-b0-c2", "eve-b0.9999994-c2", "eve-b0-c10.5", "eve-b0.9999994-c10.5",
    ]  # fmt: skip


def _hypsearch_variants(config: ReproduceConfig) -> list[Any]:
    from eveopt.experiments.reproduce import _hypsearch_specs

    task = resolve_task(config.task)
    specs = _hypsearch_specs(config, config.compare_config(), task_fingerprint(task, 0))
    return list({spec.variant: spec for spec in specs if spec.variant}.values())


def test_compsched_and_hypsearch_from_the_command_line_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv, runs in (
        (["compsched", "--policies", "inverse-time", "--ks", "10", "100"], 2 + 2),
        (["hypsearch", "--beta3s", "0.9", "--cs", "2", "5"], 2 + 1),
    ):
        out = tmp_path / argv[0]
        full = ["reproduce", *argv, *TINY, "--lrs", "1e-2", "--quiet", "--out", str(out)]
        assert main(full) == 0
        assert f"({runs} computed now, 0 reused)" in capsys.readouterr().out
        assert main(full) == 0
        assert f"(0 computed now, {runs} reused)" in capsys.readouterr().out
        comparison = results(out)["comparison"]
        assert comparison["experiment"] == argv[0]
    assert comparison["beta3s"] == [0.9]
    assert comparison["cs"] == [2.0, 5.0]


def test_the_scale_says_whether_max_samples_cut_the_data(tmp_path: Path) -> None:
    for max_samples, expected in (
        (100, "100 training samples of 1,797 (a subset chosen by a shuffle seeded with 0"),
        (1797, "1,797 training samples (all of them: --max-samples 1797 cuts none)"),
    ):
        out = tmp_path / str(max_samples)
        config = ReproduceConfig(
            "trloss",
            task="digits-logreg",
            max_samples=max_samples,
            epochs=1,
            optimizers=("adam",),
            lrs=(1e-2,),
            jobs=1,
            out=out,
            quiet=True,
        )
        run_reproduce(config, stdout=io.StringIO())
        assert expected in (out / "report.md").read_text()


def test_lrs_and_a_grid_exclude_each_other() -> None:
    from eveopt.experiments.compare import ConfigError

    with pytest.raises(ConfigError, match="lrs and lr_grid exclude each other"):
        ReproduceConfig("compsched", lrs=(1e-3,), lr_grid="quick").validate()


def _run(group: str, lr: float, final_loss: float | None, variant: str = "") -> dict[str, Any]:
    return {"optimizer": group, "variant": variant, "lr": lr, "final_loss": final_loss}


def test_the_report_names_best_lrs_at_an_end_of_the_searched_range() -> None:
    from eveopt.experiments.reproduce_report import _edge_lines

    runs = [
        _run("eve", 1e-3, 0.5), _run("eve", 1e-2, 0.1),  # best at the largest
        _run("adam", 1e-3, 0.1), _run("adam", 1e-2, 0.5),  # best at the smallest
        _run("adamax", 1e-3, 0.5), _run("adamax", 5e-3, 0.1), _run("adamax", 1e-2, 0.3),
        _run("sgd-nesterov", 0.1, 0.2),  # one lr: no choice, no note
    ]  # fmt: skip
    best = {
        "eve": runs[1], "adam": runs[2], "adamax": runs[5], "sgd-nesterov": runs[7]
    }  # fmt: skip
    (line,) = _edge_lines(runs, best)
    assert "is the largest searched for Eve, and the smallest searched for Adam:" in line
    assert "Adamax" not in line
    assert "SGD" not in line
    assert _edge_lines(runs[4:], {"adamax": runs[5], "sgd-nesterov": runs[7]}) == []


def test_the_edge_note_counts_what_it_does_not_name() -> None:
    from eveopt.experiments.reproduce_report import EDGE_NAMES_SHOWN, _edge_lines

    variants = [f"eve-b0.{index}-c10" for index in range(EDGE_NAMES_SHOWN + 3)]
    runs = [
        _run("eve", lr, loss, variant)
        for variant in variants
        for lr, loss in ((1e-3, 0.5), (1e-2, 0.1))
    ]
    best = {variant: runs[2 * index + 1] for index, variant in enumerate(variants)}
    (line,) = _edge_lines(runs, best)
    assert f"for {', '.join(variants[:EDGE_NAMES_SHOWN])} and 3 more:" in line


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"experiment": "compsched", "decay_factors": 10.0}, "decay_factors must be a tuple"),
        ({"experiment": "compsched", "policies": "exponential"}, "policies must be a tuple"),
        ({"experiment": "hypsearch", "beta3s": 0.9}, "beta3s must be a tuple"),
        ({"experiment": "trloss", "optimizers": "eve"}, "optimizers must be a tuple"),
    ],
    ids=str,
)
def test_a_lone_value_where_a_list_belongs_is_a_config_error(
    settings: dict[str, Any], message: str, tmp_path: Path
) -> None:
    from eveopt.experiments import ConfigError

    with pytest.raises(ConfigError, match=message):
        ReproduceConfig(**settings, out=tmp_path / "out").validate()
    assert not (tmp_path / "out").exists()


def test_the_python_api_returns_the_printed_table(tmp_path: Path) -> None:
    from eveopt.experiments import ReproduceConfig as Exported
    from eveopt.experiments import run_reproduce as exported_run

    config = Exported(
        "hypsearch",
        task="digits-logreg",
        max_samples=64,
        epochs=1,
        lrs=(1e-2,),
        beta3s=(0.9,),
        cs=(10.0,),
        jobs=1,
        out=tmp_path,
        quiet=True,
    )
    printed = io.StringIO()
    result = exported_run(config, stdout=printed)
    assert result.table
    assert result.table in printed.getvalue()
    assert "64 samples, 1 epoch, batch 128" in printed.getvalue()


def test_the_report_lists_the_runs_that_diverged() -> None:
    from eveopt.experiments.reproduce_report import _diverged_lines

    runs = [
        {**_run("eve", 1e-2, 0.1), "diverged": False},
        {**_run("eve", 1e37, None), "diverged": True},
        {**_run("adam", 1e37, None), "diverged": True},
        {**_run("adam", 1e36, None), "diverged": True},
    ]
    assert _diverged_lines(runs) == [
        "- 3 of 4 runs diverged (a NaN or infinite loss; a diverged run is never the best): "
        "Eve at lr 1e+37; Adam at lr 1e+36, 1e+37."
    ]
    assert _diverged_lines(runs[:1]) == []


def test_a_diverged_run_reaches_the_report(exploding_task_spec: str, tmp_path: Path) -> None:
    config = ReproduceConfig(
        "trloss",
        task=exploding_task_spec,
        epochs=20,
        batch_size=16,
        optimizers=("sgd-nesterov",),
        lrs=(1e-3, 1e3),
        jobs=1,
        out=tmp_path,
        quiet=True,
    )
    run_reproduce(config, stdout=io.StringIO())
    assert "1 of 2 runs diverged" in (tmp_path / "report.md").read_text()

"""Tasks, optimizers and lr grids: built-in tasks, the user-task contract, the paper defaults."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from eveopt.experiments.compare import task_fingerprint
from eveopt.experiments.grids import PAPER_LRS, QUICK_LRS, grid_lrs
from eveopt.experiments.optimizers import OPTIMIZERS
from eveopt.experiments.tasks import (
    Task,
    TaskError,
    resolve_task,
    source_fingerprint,
    task_slug,
)

REPO = Path(__file__).resolve().parents[2]


def test_digits_tasks_hold_the_real_digits_scaled_to_unit_range() -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    cnn, logreg = resolve_task("digits-cnn"), resolve_task("digits-logreg")
    assert cnn.inputs.shape == (1797, 1, 8, 8)
    assert logreg.inputs.shape == (1797, 8, 8)
    assert torch.equal(cnn.inputs[:, 0], logreg.inputs)
    assert float(cnn.inputs.min()) == 0.0
    assert float(cnn.inputs.max()) == 1.0
    assert torch.equal(cnn.inputs.reshape(1797, 64) * 16, torch.tensor(digits.data).float())
    assert torch.equal(cnn.targets, torch.tensor(digits.target))
    assert cnn.f_star == logreg.f_star == 0.0


def test_digits_cnn_is_the_authors_2_conv_dropout_cnn() -> None:
    model = resolve_task("digits-cnn").make_model()
    layers = [type(layer).__name__ for layer in model]
    assert layers == [
        "Conv2d",
        "ReLU",
        "Conv2d",
        "ReLU",
        "MaxPool2d",
        "Dropout",
        "Flatten",
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
    ]
    assert (model[0].out_channels, model[2].out_channels, model[0].kernel_size) == (32, 64, (3, 3))
    assert (model[5].p, model[9].p, model[7].out_features, model[10].out_features) == (
        0.25,
        0.5,
        128,
        10,
    )
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)


def test_a_user_task_loads_from_a_module_or_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    by_module = resolve_task("examples.custom_task:make_task")
    by_file = resolve_task("examples/custom_task.py:make_task")
    assert by_module.name == by_file.name == "diabetes-mlp"
    assert by_module.data_fingerprint() == by_file.data_fingerprint()
    assert by_module.inputs.shape == (442, 10)
    assert by_module.make_model()(by_module.inputs[:3]).shape == (3,)


def test_a_user_task_may_be_a_tuple(tmp_path: Path) -> None:
    source = tmp_path / "tuple_task.py"
    source.write_text(
        "import numpy, torch\n"
        "def make():\n"
        "    return (numpy.zeros((6, 2)), numpy.arange(6) % 2,\n"
        "            lambda: torch.nn.Linear(2, 2), torch.nn.CrossEntropyLoss(), 0.5)\n"
    )
    task = resolve_task(f"{source}:make")
    assert task.inputs.dtype == torch.float32  # NumPy's float64 takes torch's default dtype
    assert task.targets.dtype == torch.int64
    assert task.num_samples == 6
    assert task.f_star == 0.5
    assert task.name == f"{source}:make"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("def make():\n    return 3\n", "returned int"),
        ("def make():\n    raise RuntimeError('no data here')\n", "RuntimeError: no data here"),
        (
            "import torch\ndef make():\n    return (torch.zeros(4, 2), torch.zeros(3),"
            " torch.nn.Identity, torch.nn.MSELoss())\n",
            "disagree on the number of samples: 4 != 3",
        ),
        ("make = 3\n", "has no function 'make'"),
    ],
)
def test_a_broken_user_task_names_the_problem(tmp_path: Path, body: str, message: str) -> None:
    source = tmp_path / "broken_task.py"
    source.write_text(body)
    with pytest.raises(TaskError, match=message):
        resolve_task(f"{source}:make")


def test_the_loss_settings_are_part_of_the_task_identity() -> None:
    base = resolve_task("digits-logreg")
    smoothed = Task(
        inputs=base.inputs,
        targets=base.targets,
        make_model=base.make_model,
        loss=torch.nn.CrossEntropyLoss(label_smoothing=0.1),
    )
    assert base.loss_description() != smoothed.loss_description()
    functional = Task(base.inputs, base.targets, base.make_model, torch.nn.functional.cross_entropy)
    assert functional.loss_description() == "torch.nn.functional.cross_entropy"


def test_the_code_fingerprint_hashes_the_code_never_addresses(tmp_path: Path) -> None:
    source = tmp_path / "lambda_task.py"
    source.write_text(
        "import functools, torch\n"
        "F_STAR = 0.0\n"
        "def make():\n"
        "    return (torch.zeros(4, 2), torch.zeros(4), lambda: torch.nn.Linear(2, 1),\n"
        "            functools.partial(torch.nn.functional.mse_loss, reduction='mean'), F_STAR)\n"
    )
    spec = f"{source}:make"
    first = task_fingerprint(resolve_task(spec), 0)
    # Built again: new functions and classes at new addresses, the same code, the same id.
    assert task_fingerprint(resolve_task(spec), 0) == first
    source.write_text(source.read_text().replace("F_STAR = 0.0", "F_STAR = 0.5"))
    edited = resolve_task(spec)
    assert edited.f_star == 0.5  # the file is executed afresh: the edited code is what runs
    assert task_fingerprint(edited, 0)["code"] != first["code"]
    # A built-in task is torch's and eveopt's code only, identified by their versions.
    for name in ("digits-cnn", "digits-logreg"):
        builtin = resolve_task(name)
        assert builtin.code_fingerprint(builtin.make_model()) == hashlib.sha256(b"").hexdigest()


def test_code_without_a_source_file_is_identified_gracefully() -> None:
    def typed_at_the_prompt(body: str) -> object:
        namespace: dict[str, object] = {"__name__": "__main__"}
        exec(compile(f"def loss(outputs, targets):\n    {body}\n", "<stdin>", "exec"), namespace)
        return namespace["loss"]

    first, again = typed_at_the_prompt("return outputs"), typed_at_the_prompt("return outputs")
    assert source_fingerprint([first]) == source_fingerprint([again])
    assert len(source_fingerprint([first])) == 64


def test_task_slugs_are_file_names() -> None:
    assert task_slug("digits-cnn") == "digits-cnn"
    assert task_slug("examples.custom_task:make_task") == "examples.custom_task-make_task"
    assert task_slug("/home/me/my tasks/t.py:make") == "t-make"


@pytest.mark.parametrize(
    ("name", "torch_class", "expected"),
    [
        ("eve", "Eve", {"betas": (0.9, 0.999), "eps": 1e-8, "beta3": 0.999, "c": 10.0}),
        ("adam", "Adam", {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0}),
        ("adamax", "Adamax", {"betas": (0.9, 0.999), "eps": 1e-8}),
        ("rmsprop", "RMSprop", {"alpha": 0.9, "eps": 1e-8, "momentum": 0, "centered": False}),
        ("adagrad", "Adagrad", {"eps": 1e-8, "initial_accumulator_value": 0, "lr_decay": 0}),
        ("adadelta", "Adadelta", {"rho": 0.95, "eps": 1e-8}),
        (
            "sgd-nesterov",
            "SGD",
            {"momentum": 0.9, "nesterov": True, "dampening": 0, "weight_decay": 0},
        ),
    ],
)
def test_each_optimizer_has_the_papers_keras_defaults(
    name: str, torch_class: str, expected: dict[str, object]
) -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = OPTIMIZERS[name].build(model.parameters(), 0.123, f_star=0.25)
    assert type(optimizer).__name__ == torch_class
    group = optimizer.param_groups[0]
    assert group["lr"] == 0.123
    for key, value in expected.items():
        assert group[key] == value, key
    if name == "eve":
        assert group["f_star"] == 0.25


def test_the_optimizer_colours_are_distinct() -> None:
    assert len({spec.color for spec in OPTIMIZERS.values()}) == len(OPTIMIZERS)


def test_the_paper_grid_is_the_authors_13_lrs_plus_2e_3_for_adamax() -> None:
    assert grid_lrs("paper", "adam") == (
        1e-6,
        5e-6,
        1e-5,
        5e-5,
        1e-4,
        5e-4,
        1e-3,
        5e-3,
        1e-2,
        5e-2,
        1e-1,
        0.5,
        1.0,
    )
    assert grid_lrs("paper", "adamax") == tuple(sorted((*PAPER_LRS, 2e-3)))
    assert all(len(grid_lrs("paper", name)) == 13 for name in OPTIMIZERS if name != "adamax")


def test_the_quick_grid_has_3_paper_lrs_for_each_optimizer() -> None:
    assert set(QUICK_LRS) == set(OPTIMIZERS)
    for name in OPTIMIZERS:
        lrs = grid_lrs("quick", name)
        assert len(set(lrs)) == 3
        assert set(lrs) <= set(grid_lrs("paper", name))

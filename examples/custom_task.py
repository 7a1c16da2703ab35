"""Compare Eve with the other optimizers on your own task: the ``--task module:function`` contract.

Run it through the command line, from the folder that contains ``examples/``::

    eveopt compare --task examples.custom_task:make_task --optimizers eve adam --epochs 20
    eveopt compare --task examples/custom_task.py:make_task        # a file path works too

or as a script (``python examples/custom_task.py``), which does the same through the Python API.

The contract: ``--task package.module:function`` (or ``path/to/file.py:function``) names a
function that takes no argument and returns an :class:`eveopt.experiments.Task`:

- ``inputs``, ``targets``: the whole training set, as tensors or NumPy arrays whose first
  dimension indexes the samples. Mini-batches are ``inputs[indices]``, ``targets[indices]``.
- ``make_model``: a function with no argument returning a freshly initialised
  ``torch.nn.Module``. It is called once per run right after ``torch.manual_seed(seed)``, so
  initialise from torch's global generator (``glorot_uniform_`` does, as in the paper) and every
  optimizer starts from the same weights.
- ``loss``: ``loss(model(inputs), targets)`` returns the *mean* loss of a batch (a 0-dim tensor);
  the full training loss is its average over the training set, computed in eval mode.
- ``f_star`` (optional, default 0.0): the loss's known minimum, or a lower bound of it; Eve uses
  it (its f*). Cross-entropy and squared error without regularisation have f* = 0.

The function may also return a tuple ``(inputs, targets, make_model, loss[, f_star])``. It is
called in the main process and once in each ``--jobs`` worker process, so it must build the same
data each time (seed any randomness). A run's identity includes hashes of the data, of the
model's structure and initial weights, of the loss, and of the source code that defines the task
(this whole file, and the files of the model's classes and of the loss), so editing this file
never reuses a stale result.
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_diabetes

from eveopt.experiments import Task, glorot_uniform_


def _make_model() -> torch.nn.Module:
    model = torch.nn.Sequential(
        torch.nn.Linear(10, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 1),
        torch.nn.Flatten(start_dim=0),
    )
    return glorot_uniform_(model)


def make_task() -> Task:
    """A regression task: an MLP predicting disease progression on scikit-learn's diabetes data.

    442 patients, 10 standardised features, the target standardised too; squared error, f* = 0.
    The data ships with scikit-learn, so nothing is downloaded.
    """
    features, target = load_diabetes(return_X_y=True)
    inputs = torch.tensor(features, dtype=torch.float32)
    inputs = (inputs - inputs.mean(dim=0)) / inputs.std(dim=0)
    targets = torch.tensor(target, dtype=torch.float32)
    targets = (targets - targets.mean()) / targets.std()
    return Task(
        inputs=inputs,
        targets=targets,
        make_model=_make_model,
        loss=torch.nn.MSELoss(),
        f_star=0.0,
        name="diabetes-mlp",
    )


if __name__ == "__main__":
    from pathlib import Path

    from eveopt.experiments import CompareConfig, run_compare

    run_compare(
        CompareConfig(
            task=f"{Path(__file__).resolve()}:make_task",
            optimizers=("eve", "adam", "sgd-nesterov"),
            lrs=(1e-3, 1e-2),
            epochs=20,
            batch_size=32,
            out=Path("runs/compare-custom-task"),
        )
    )

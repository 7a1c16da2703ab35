"""Tasks: what a comparison trains (data, model factory, loss, f*), by name or ``module:function``.

A task is resolved from a *spec* string: the name of a built-in task (:data:`BUILTIN_TASKS`: the
embedded ``digits-cnn``, ``digits-logreg`` and ``text-char-gru``, and the paper's file-backed
tasks, which read ``--data-dir``) or ``package.module:function`` / ``path/to/file.py:function``
naming a user function that returns a :class:`Task`. This module imports no framework at load,
so the CLI can list the task names cheaply; building a task imports torch (and scikit-learn for
the digits).

The user contract (also in ``docs/compare.md`` and ``examples/custom_task.py``)::

    def make_task() -> eveopt.experiments.Task:
        return Task(inputs=X, targets=y, make_model=build_model, loss=torch.nn.CrossEntropyLoss())

``inputs`` and ``targets`` are the whole training set, as tensors (or anything
``torch.as_tensor`` accepts; floating arrays become torch's default dtype) whose first dimension
indexes the samples; ``make_model`` takes no
argument and returns a freshly initialised ``torch.nn.Module`` (the runner seeds torch before
calling it, so its initialisation must draw from torch's global generator); ``loss(outputs,
targets)`` returns the *mean* loss of a batch as a 0-dim tensor; ``f_star`` is the loss's known
minimum (Eve's f*, default 0). A plain tuple ``(inputs, targets, make_model, loss)`` or
``(inputs, targets, make_model, loss, f_star)`` is accepted too.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import math
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = [
    "BUILTIN_TASKS",
    "BuiltinTask",
    "Task",
    "TaskError",
    "digits_cnn",
    "digits_logreg",
    "file_backed_tasks",
    "glorot_uniform_",
    "is_builtin_task",
    "load_digits_tensors",
    "resolve_task",
    "source_fingerprint",
    "subset_task",
    "task_needs_data",
    "task_slug",
    "validate_task_data",
    "validate_task_spec",
]


class TaskError(ValueError):
    """A task spec that names no task, cannot be imported, or returns something unusable."""


@dataclass(frozen=True)
class Task:
    """A training problem for a comparison: the training set, a model factory, the loss, f*.

    Args:
        inputs: the whole training set's inputs; the first dimension indexes the samples.
        targets: the matching targets, same first dimension.
        make_model: builds a freshly initialised model; called once per run after seeding torch,
            so it must draw its random initialisation from torch's global generator.
        loss: ``loss(model(inputs), targets)`` returns the mean loss of a batch (a 0-dim tensor).
        f_star: the minimum of the loss (Eve's f*; 0 for cross-entropy without regularisation).
        name: a display name; filled in from the spec when empty.

    Example:
        >>> import torch
        >>> from eveopt.experiments import Task
        >>> task = Task(
        ...     inputs=torch.rand(32, 4),
        ...     targets=torch.randint(0, 3, (32,)),
        ...     make_model=lambda: torch.nn.Linear(4, 3),
        ...     loss=torch.nn.CrossEntropyLoss(),
        ... )
        >>> task.num_samples
        32
    """

    inputs: Any
    targets: Any
    make_model: Callable[[], torch.nn.Module]
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    f_star: float = 0.0
    name: str = ""
    _fingerprint: dict[str, str] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # The module and function a spec named (set by resolve_task): their code defines the task.
    _defined_by: tuple[Any, ...] = field(default=(), init=False, repr=False, compare=False)
    # The training set's size before subset_task cut it (0: not cut).
    _cut_from: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        inputs = _as_training_tensor(self.inputs)
        targets = _as_training_tensor(self.targets)
        if inputs.dim() == 0 or targets.dim() == 0:
            raise TaskError("task inputs and targets must have a first dimension indexing samples")
        if inputs.shape[0] != targets.shape[0]:
            raise TaskError(
                f"task inputs and targets disagree on the number of samples: "
                f"{inputs.shape[0]} != {targets.shape[0]}"
            )
        if inputs.shape[0] == 0:
            raise TaskError("task has an empty training set")
        if not callable(self.make_model):
            raise TaskError("task make_model must be callable with no argument")
        if not callable(self.loss):
            raise TaskError("task loss must be callable as loss(outputs, targets)")
        if not isinstance(self.f_star, (int, float)) or not math.isfinite(self.f_star):
            raise TaskError(f"task f_star must be a finite number, got {self.f_star!r}")
        # The dataclass is frozen for users; normalising the fields is the one exception.
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "f_star", float(self.f_star))

    @property
    def num_samples(self) -> int:
        """The number of training samples."""
        return int(self.inputs.shape[0])

    @property
    def source_samples(self) -> int:
        """The number of training samples before :func:`subset_task` cut them (or now)."""
        return self._cut_from or self.num_samples

    def data_fingerprint(self) -> str:
        """SHA-256 of the training data (dtypes, shapes and bytes), computed once."""
        if "data" not in self._fingerprint:
            digest = hashlib.sha256()
            for tensor in (self.inputs, self.targets):
                contiguous = tensor.detach().cpu().contiguous()
                digest.update(f"{contiguous.dtype}{tuple(contiguous.shape)}".encode())
                digest.update(contiguous.numpy().tobytes())
            self._fingerprint["data"] = digest.hexdigest()
        return self._fingerprint["data"]

    def loss_description(self) -> str:
        """A stable text naming the loss and its settings (part of a run's identity)."""
        loss = self.loss
        kind = type(loss)
        if hasattr(loss, "__qualname__") and not hasattr(loss, "forward"):
            return f"{getattr(loss, '__module__', '?')}.{loss.__qualname__}"
        settings = {
            key: value
            for key, value in sorted(vars(loss).items())
            if not key.startswith("_") and isinstance(value, (bool, int, float, str, type(None)))
        }
        return f"{kind.__module__}.{kind.__qualname__}{settings}"

    def code_fingerprint(self, model: torch.nn.Module) -> str:
        """SHA-256 of the source code that defines the task (part of a run's identity).

        It covers the source files of the task function's module and of the function itself
        (for a task from :func:`resolve_task`), of ``make_model``, of every class of ``model``
        (each submodule's type and its base classes) and of the loss (a function, or the
        class of a callable object): see :func:`source_fingerprint`. Editing any of them, a
        module constant included, changes it; torch's and eveopt's own code are left out
        (their versions are part of the identity).
        """
        classes = {type(module) for module in model.modules()}
        return source_fingerprint([*self._defined_by, self.make_model, self.loss, *classes])


_OWN_CODE = frozenset({"builtins", "eveopt", "torch"})
"""Top-level packages whose code a run's identity covers by version, not by source."""


def _code_objects(value: Any) -> list[Any]:
    """The functions, classes and modules whose code defines what ``value`` does when called."""
    found: list[Any] = []
    while True:
        if isinstance(value, functools.partial):
            value = value.func
        elif inspect.ismethod(value):
            found.extend(type(value.__self__).__mro__)
            value = value.__func__
        else:
            break
    if inspect.isfunction(value) or inspect.ismodule(value):
        found.append(value)
    elif inspect.isclass(value):
        found.extend(value.__mro__)
    elif not inspect.isbuiltin(value):  # a callable object: its class defines it
        found.extend(type(value).__mro__)
    return found


def _module_name(obj: Any) -> str:
    name = obj.__name__ if inspect.ismodule(obj) else getattr(obj, "__module__", None)
    return name if isinstance(name, str) else ""


def _source_digest(obj: Any) -> str:
    """SHA-256 of the file that defines ``obj``; of its own source, or its name, without one."""
    try:
        path = inspect.getsourcefile(obj)
    except (OSError, TypeError):  # built in, or defined where no file is known
        path = None
    if path is not None:
        try:
            return "file " + hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError:
            pass
    try:
        source = inspect.getsource(obj)
    except Exception:  # no source at all: the name is what is left
        return f"name {_module_name(obj)}.{getattr(obj, '__qualname__', '?')}"
    return "source " + hashlib.sha256(source.encode()).hexdigest()


def source_fingerprint(objects: Iterable[Any]) -> str:
    """SHA-256 of the source files that define ``objects`` (functions, classes, modules, callables).

    Each object counts through the whole file that defines it, so any edit there counts, a module
    constant included; a ``functools.partial`` through its function, a bound method through
    its function and its object's class, another callable object through its class (and base
    classes). Code of torch, eveopt and Python's built-ins is left out. Where no file can be read
    (code typed at the interpreter) the object's own source counts, or else its qualified name.
    Only file contents and names are hashed, never paths or addresses, so the result is the same
    in every process.

    Example:
        >>> import json
        >>> source_fingerprint([json.dumps]) == source_fingerprint([json.loads, json])
        True
    """
    digests = {
        _source_digest(obj)
        for value in objects
        for obj in _code_objects(value)
        if _module_name(obj).partition(".")[0] not in _OWN_CODE
    }
    return hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()


def _as_training_tensor(data: Any) -> torch.Tensor:
    """A tensor as given, or an array made a tensor in torch's default float dtype if floating.

    NumPy arrays are float64 by default; the model's parameters are float32.
    """
    import torch

    if isinstance(data, torch.Tensor):
        return data
    tensor = torch.as_tensor(data)
    return tensor.to(torch.get_default_dtype()) if tensor.is_floating_point() else tensor


def glorot_uniform_(model: torch.nn.Module) -> torch.nn.Module:
    """Glorot-uniform weights and zero biases for every conv and linear layer, as in the paper.

    This is Keras' ``glorot_uniform`` (the authors' initialiser): ``U(-a, a)`` with
    ``a = sqrt(6 / (fan_in + fan_out))``, fans counting the kernel's receptive field.

    Example:
        >>> import torch
        >>> layer = glorot_uniform_(torch.nn.Linear(4, 2))
        >>> bool((layer.bias == 0).all())
        True
    """
    import torch

    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)):
            torch.nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
    return model


def load_digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's handwritten digits: 1,797 8x8 images (N, 8, 8) in [0, 1] and labels (N,).

    The data ships inside scikit-learn, so nothing is downloaded. Pixels (0..16) are divided
    by 16.
    """
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images / 16.0, dtype=torch.float32)
    labels = torch.tensor(digits.target, dtype=torch.int64)
    return images, labels


def _digits_cnn_model() -> torch.nn.Module:
    from torch import nn

    # The authors' 2-conv dropout CNN with Keras' default 'valid' padding; on 8x8 inputs the
    # maps shrink 8 -> 6 -> 4 -> 2 (after pooling), so the dense layer sees 2*2*64 = 256 inputs.
    model = nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3),
        nn.ReLU(),
        nn.Conv2d(32, 64, kernel_size=3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(2 * 2 * 64, 128),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(128, 10),
    )
    return glorot_uniform_(model)


def _digits_logreg_model() -> torch.nn.Module:
    from torch import nn

    return glorot_uniform_(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)))


def digits_cnn() -> Task:
    """The embedded default task: the authors' 2-conv dropout CNN on the digits, cross-entropy.

    conv 3x3 32, ReLU, conv 3x3 64, ReLU, max pool 2, dropout 0.25, dense 128, ReLU, dropout 0.5,
    dense 10 (softmax inside the cross-entropy); Glorot-uniform weights; f* = 0.
    """
    import torch

    images, labels = load_digits_tensors()
    return Task(
        inputs=images.unsqueeze(1),
        targets=labels,
        make_model=_digits_cnn_model,
        loss=torch.nn.CrossEntropyLoss(),
        f_star=0.0,
        name="digits-cnn",
    )


def digits_logreg() -> Task:
    """Multinomial logistic regression (one dense layer, softmax) on the digits, cross-entropy."""
    import torch

    images, labels = load_digits_tensors()
    return Task(
        inputs=images,
        targets=labels,
        make_model=_digits_logreg_model,
        loss=torch.nn.CrossEntropyLoss(),
        f_star=0.0,
        name="digits-logreg",
    )


@dataclass(frozen=True)
class BuiltinTask:
    """A task eveopt ships: its builder and, for the paper's datasets, what ``--data-dir`` holds.

    Args:
        description: one line for ``--help``.
        builder: ``module:function`` building the :class:`Task`; it takes no argument, or the
            data folder when ``data`` is set.
        data: what the data folder must hold (``None``: the task's data is embedded).
    """

    description: str
    builder: str
    data: str | None = None


_PAPER_TASKS = "eveopt.experiments.paper_tasks"

BUILTIN_TASKS: dict[str, BuiltinTask] = {
    "digits-cnn": BuiltinTask(
        "2-conv dropout CNN on scikit-learn's 8x8 digits (1,797 images)",
        "eveopt.experiments.tasks:digits_cnn",
    ),
    "digits-logreg": BuiltinTask(
        "logistic regression on scikit-learn's 8x8 digits", "eveopt.experiments.tasks:digits_logreg"
    ),
    "text-char-gru": BuiltinTask(
        "2-layer character GRU on English prose shipped with CPython (999 sequences of 100)",
        f"{_PAPER_TASKS}:text_char_gru",
    ),
    "cifar100-resnet": BuiltinTask(
        "the paper's ResNet (685,732 params) on CIFAR-100 (50,000 images)",
        f"{_PAPER_TASKS}:cifar100_resnet",
        data="cifar-100-python/ (train, test)",
    ),
    "cifar10-cnn": BuiltinTask(
        "the first version's 4-conv dropout CNN on CIFAR-10 (50,000 images)",
        f"{_PAPER_TASKS}:cifar10_cnn",
        data="cifar-10-batches-py/ (data_batch_1..5, test_batch)",
    ),
    "mnist-logreg": BuiltinTask(
        "logistic regression on MNIST (60,000 images)",
        f"{_PAPER_TASKS}:mnist_logreg",
        data="the four MNIST IDX files (plain or .gz)",
    ),
    "ptb-char-gru": BuiltinTask(
        "the paper's 2-layer character GRU on Penn Treebank characters (sequences of 100)",
        f"{_PAPER_TASKS}:ptb_char_gru",
        data="ptb.char.train.txt (Mikolov's simple-examples/data)",
    ),
    "babi-gru": BuiltinTask(
        "the paper's bAbI-10k question-answering GRU, question 14 (babi-gru-qN: question N)",
        f"{_PAPER_TASKS}:babi_gru",
        data="tasks_1-20_v1-2/en-10k/ or tasks_1-20_v1-2.tar.gz",
    ),
}
"""The built-in tasks by name. ``babi-gru-qN`` (N = 1 .. 20) is ``babi-gru`` on question N."""

_BABI_QUESTION_TASK = re.compile(r"^babi-gru-q([1-9]|1[0-9]|20)$")
_MODULE_SPEC = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_FUNCTION_NAME = re.compile(r"^[A-Za-z_]\w*$")


def _builtin(spec: str) -> tuple[BuiltinTask, dict[str, Any]] | None:
    """The built-in task ``spec`` names and the builder's extra arguments; None for a user task."""
    if spec in BUILTIN_TASKS:
        return BUILTIN_TASKS[spec], {}
    match = _BABI_QUESTION_TASK.match(spec)
    if match:
        return BUILTIN_TASKS["babi-gru"], {"question": int(match.group(1))}
    return None


def is_builtin_task(spec: str) -> bool:
    """Whether ``spec`` names a built-in task (``babi-gru-q3`` included), not a user's one.

    Example:
        >>> is_builtin_task("babi-gru-q3"), is_builtin_task("my_tasks:cifar100_resnet")
        (True, False)
    """
    return _builtin(spec) is not None


def file_backed_tasks() -> tuple[str, ...]:
    """The built-in tasks that read their data from ``--data-dir``."""
    return tuple(name for name, entry in BUILTIN_TASKS.items() if entry.data is not None)


def task_needs_data(spec: str) -> bool:
    """Whether the task ``spec`` names reads its data from ``--data-dir``."""
    found = _builtin(spec)
    return found is not None and found[0].data is not None


def _valid_choices() -> str:
    return ", ".join(BUILTIN_TASKS) + ", babi-gru-qN (N = 1 to 20), or package.module:function"


def validate_task_spec(spec: str) -> None:
    """Check a task spec's form without importing anything; raise :class:`TaskError` if wrong."""
    if _builtin(spec) is not None:
        return
    target, separator, function = spec.rpartition(":")
    if not separator:
        raise TaskError(f"unknown task {spec!r}: choose from {_valid_choices()}")
    is_file = target.endswith(".py")
    if not _FUNCTION_NAME.match(function) or not (is_file or _MODULE_SPEC.match(target)):
        raise TaskError(
            f"malformed task {spec!r}: give package.module:function or path/to/file.py:function"
        )


def validate_task_data(spec: str, data_dir: str | os.PathLike[str] | None) -> None:
    """Check that ``data_dir`` is given exactly when the task reads files, and is a folder.

    Raises :class:`TaskError` naming ``--data-dir`` and what the task needs; reads no file.
    """
    validate_task_spec(spec)
    found = _builtin(spec)
    needs = found is not None and found[0].data is not None
    if needs and data_dir is None:
        assert found is not None
        raise TaskError(
            f"task {spec} reads its data from files: give --data-dir DIR, a folder holding "
            f"{found[0].data}"
        )
    if not needs and data_dir is not None:
        raise TaskError(
            f"task {spec} has its data built in: leave out --data-dir (only "
            f"{', '.join(file_backed_tasks())} read one)"
        )
    if data_dir is not None and not Path(data_dir).is_dir():
        raise TaskError(f"--data-dir {os.fspath(data_dir)} is not a folder")


def subset_task(task: Task, max_samples: int, seed: int) -> Task:
    """``task`` with only the first ``max_samples`` training samples after a seeded shuffle.

    The shuffle is ``torch.randperm`` from a generator seeded with ``seed`` (the comparison's
    seed), so the subset is the same in every process. With ``max_samples`` at least the
    number of samples, the task is returned as it is.

    Example:
        >>> small = subset_task(resolve_task("digits-logreg"), 100, seed=0)
        >>> small.num_samples, small.name
        (100, 'digits-logreg')
    """
    import torch

    if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1:
        raise TaskError(f"max_samples must be a positive integer, got {max_samples!r}")
    if max_samples >= task.num_samples:
        return task
    generator = torch.Generator().manual_seed(seed)
    keep = torch.randperm(task.num_samples, generator=generator)[:max_samples]
    subset = Task(
        inputs=task.inputs[keep].clone(),
        targets=task.targets[keep].clone(),
        make_model=task.make_model,
        loss=task.loss,
        f_star=task.f_star,
        name=task.name,
    )
    object.__setattr__(subset, "_defined_by", task._defined_by)
    object.__setattr__(subset, "_cut_from", task.num_samples)
    return subset


def _import_target(target: str) -> Any:
    if target.endswith(".py"):
        path = Path(target).resolve()
        if not path.is_file():
            raise TaskError(f"task file {target!r} does not exist")
        module_name = f"_eveopt_task_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
        # Executed afresh each time, as a script is: the code run is the file's code now, which
        # is what a run's identity hashes (the task's code fingerprint).
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise TaskError(f"cannot import task file {target!r}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module
    # Like `python -m`, a module in the working directory is importable even from the
    # console script, whose sys.path starts with the script's own folder.
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    return importlib.import_module(target)


def _as_task(value: Any, spec: str) -> Task:
    if isinstance(value, Task):
        task = value
    elif isinstance(value, tuple) and len(value) in (4, 5):
        task = Task(*value)
    else:
        raise TaskError(
            f"task function {spec!r} returned {type(value).__name__}: return an "
            f"eveopt.experiments.Task or a tuple (inputs, targets, make_model, loss[, f_star])"
        )
    if not task.name:
        object.__setattr__(task, "name", spec)
    return task


def resolve_task(
    spec: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    max_samples: int | None = None,
    seed: int = 0,
) -> Task:
    """Build the task a spec names: a built-in name or ``module:function`` / ``file.py:function``.

    Args:
        spec: the task spec.
        data_dir: the folder a file-backed built-in task reads (required by those, refused by
            the others: see :func:`validate_task_data`).
        max_samples: keep only this many training samples, chosen by a seeded shuffle
            (:func:`subset_task`); ``None`` keeps all.
        seed: the shuffle's seed.

    Raises :class:`TaskError` with a one-line reason when the spec names nothing usable or the
    data cannot be read (:class:`~eveopt.experiments.datasets.DataError`).

    Example:
        >>> resolve_task("digits-logreg").num_samples
        1797
    """
    validate_task_data(spec, data_dir)
    task = _build_task(spec, None if data_dir is None else Path(data_dir))
    return task if max_samples is None else subset_task(task, max_samples, seed)


def _build_task(spec: str, data_dir: Path | None) -> Task:
    found = _builtin(spec)
    if found is not None:
        entry, arguments = found
        module_name, _, function_name = entry.builder.partition(":")
        builder = getattr(importlib.import_module(module_name), function_name)
        task: Task = builder(**arguments) if entry.data is None else builder(data_dir, **arguments)
        if not task.name:
            object.__setattr__(task, "name", spec)
        object.__setattr__(task, "_defined_by", (builder,))
        return task
    target, _, function_name = spec.rpartition(":")
    try:
        module = _import_target(target)
    except TaskError:
        raise
    except ImportError as error:
        raise TaskError(f"cannot import task module {target!r}: {error}") from error
    except Exception as error:  # a SyntaxError, or an error raised by the module's own code
        raise TaskError(
            f"task module {target!r} failed while importing: {type(error).__name__}: {error}"
        ) from error
    function = getattr(module, function_name, None)
    if not callable(function):
        raise TaskError(f"task module {target!r} has no function {function_name!r}")
    try:
        value = function()
    except TaskError:
        raise
    except Exception as error:
        raise TaskError(
            f"task function {spec!r} failed: {type(error).__name__}: {error}"
        ) from error
    task = _as_task(value, spec)
    object.__setattr__(task, "_defined_by", (module, function))
    return task


def task_slug(spec: str) -> str:
    """A file-name-safe form of a task spec, for the default output folder."""
    stem = spec
    if ":" in spec:
        target, _, function = spec.rpartition(":")
        stem = f"{Path(target).stem if target.endswith('.py') else target}-{function}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-") or "task"

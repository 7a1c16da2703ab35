"""The paper's tasks on their real datasets, and the embedded character GRU on CPython's prose.

Each builder returns a :class:`~eveopt.experiments.tasks.Task` for ``eveopt compare`` and
``eveopt reproduce`` (by name: :data:`~eveopt.experiments.tasks.BUILTIN_TASKS`). Sources:
Hayashi, Koushik, Neubig, arXiv 1611.01505, experiments 1-4 and the first version's extra
experiments (``../shared/PAPER.md``). All use the cross-entropy loss with no regularisation, so
f* = 0; the training set is the dataset's training split (the paper reports training loss).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from eveopt.experiments.datasets import (
    load_babi,
    load_cifar10,
    load_cifar100,
    load_mnist,
    load_ptb_chars,
    load_pydoc_chars,
)
from eveopt.experiments.models import BabiGRU, CharGRU, CifarCNN, LogisticRegression, ResNetCIFAR
from eveopt.experiments.tasks import Task

__all__ = [
    "babi_gru",
    "cifar10_cnn",
    "cifar100_resnet",
    "mnist_logreg",
    "ptb_char_gru",
    "sequence_cross_entropy",
    "text_char_gru",
]


def sequence_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy over every position of every sequence (Keras' per-step softmax).

    ``logits`` is ``(batch, time, vocabulary)``, ``targets`` ``(batch, time)`` symbol ids.

    Example:
        >>> logits = torch.zeros(2, 3, 4)
        >>> round(float(sequence_cross_entropy(logits, torch.zeros(2, 3, dtype=torch.int64))), 4)
        1.3863
    """
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())


def cifar100_resnet(data_dir: Path) -> Task:
    """Experiment 1: the residual network (685,732 parameters) on CIFAR-100's 50,000 images."""
    data = load_cifar100(data_dir)
    return Task(
        inputs=data.train_images,
        targets=data.train_labels,
        make_model=functools.partial(ResNetCIFAR, num_classes=data.num_classes),
        loss=torch.nn.CrossEntropyLoss(),
        name="cifar100-resnet",
    )


def cifar10_cnn(data_dir: Path) -> Task:
    """The first version's 4-conv dropout CNN on CIFAR-10's 50,000 training images."""
    data = load_cifar10(data_dir)
    return Task(
        inputs=data.train_images,
        targets=data.train_labels,
        make_model=functools.partial(CifarCNN, num_classes=data.num_classes),
        loss=torch.nn.CrossEntropyLoss(),
        name="cifar10-cnn",
    )


def mnist_logreg(data_dir: Path) -> Task:
    """The first version's logistic regression on MNIST's 60,000 training images."""
    data = load_mnist(data_dir)
    in_features = int(data.train_images[0].numel())
    return Task(
        inputs=data.train_images,
        targets=data.train_labels,
        make_model=functools.partial(LogisticRegression, in_features, data.num_classes),
        loss=torch.nn.CrossEntropyLoss(),
        name="mnist-logreg",
    )


def ptb_char_gru(data_dir: Path) -> Task:
    """Experiment 2: the 2-layer character GRU on Penn Treebank's characters, sequences of 100.

    The training text (``ptb.char.train.txt``) is cut into consecutive sequences of 100
    characters whose targets are the next characters; the vocabulary is every character of the
    splits present (50 in the full distribution).
    """
    corpus = load_ptb_chars(data_dir)
    pairs = corpus.sequences()
    return Task(
        inputs=pairs.inputs,
        targets=pairs.targets,
        make_model=functools.partial(CharGRU, len(pairs.vocabulary)),
        loss=sequence_cross_entropy,
        name="ptb-char-gru",
    )


def text_char_gru() -> Task:
    """The character GRU of experiment 2 on English prose shipped with CPython; no data folder.

    The first 100,000 characters of ``pydoc_data.topics`` (see
    :func:`~eveopt.experiments.datasets.load_pydoc_text`): 999 sequences of 100 characters.
    """
    pairs = load_pydoc_chars()
    return Task(
        inputs=pairs.inputs,
        targets=pairs.targets,
        make_model=functools.partial(CharGRU, len(pairs.vocabulary)),
        loss=sequence_cross_entropy,
        name="text-char-gru",
    )


def babi_gru(data_dir: Path, question: int = 14) -> Task:
    """Experiment 4: the bAbI question-answering GRU on bAbI-10k question ``question``."""
    data = load_babi(data_dir, question)
    return Task(
        inputs=data.train_inputs,
        targets=data.train_answers,
        make_model=functools.partial(BabiGRU, len(data.vocabulary), data.story_length),
        loss=torch.nn.CrossEntropyLoss(),
        name="babi-gru" if question == 14 else f"babi-gru-q{question}",
    )

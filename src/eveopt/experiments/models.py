"""The paper's models as torch modules, initialised as the authors' Keras models were.

Source: Hayashi, Koushik, Neubig, "Eve: A Gradient Based Optimization Method with Locally and
Globally Adaptive Learning Rates", arXiv 1611.01505 (https://arxiv.org/abs/1611.01505);
``../shared/PAPER.md`` restates each model. Every model returns logits (the cross-entropy loss
applies the softmax); sequence models return ``(batch, time, vocabulary)``.

Initialisation follows Keras 2's defaults, which the authors used: Glorot-uniform kernels and
zero biases for dense and conv layers (:func:`~eveopt.experiments.tasks.glorot_uniform_`),
Glorot-uniform input kernels, orthogonal recurrent kernels and zero biases for GRUs, ``U(-0.05,
0.05)`` embeddings, and ones/zeros for batch normalisation. Torch's GRU has two bias vectors
where Keras 2's has one (``3 * hidden`` more parameters per layer) and computes the candidate
state as ``tanh(W x + b + r * (U h + b'))`` (Keras' ``reset_after=True`` variant); the authors'
Keras GRU applied the reset gate before ``U``.
"""

from __future__ import annotations

import torch
from torch import nn

from eveopt.experiments.tasks import glorot_uniform_

__all__ = [
    "BabiGRU",
    "Bottleneck",
    "CharGRU",
    "CifarCNN",
    "LogisticRegression",
    "ResNetCIFAR",
    "count_parameters",
    "init_like_keras_",
]

KERAS_EMBEDDING_SCALE = 0.05
"""Keras 2's default embedding initialiser draws from ``U(-0.05, 0.05)``."""


def init_like_keras_(model: nn.Module) -> nn.Module:
    """Initialise ``model`` in place as Keras 2 would: Glorot-uniform kernels, zero biases.

    Dense and conv layers via :func:`~eveopt.experiments.tasks.glorot_uniform_`; each GRU
    layer's input kernel Glorot-uniform over all three gates (fans ``in`` and ``3 * hidden``,
    as Keras' one ``(in, 3 * hidden)`` kernel), its recurrent kernel orthogonal, its biases
    zero; embeddings ``U(-0.05, 0.05)``. Batch normalisation keeps torch's ones and zeros.

    Example:
        >>> gru = init_like_keras_(torch.nn.GRU(4, 3))
        >>> bool((gru.bias_ih_l0 == 0).all())
        True
    """
    glorot_uniform_(model)
    for module in model.modules():
        if isinstance(module, nn.GRU):
            for name, parameter in module.named_parameters():
                if name.startswith("weight_ih"):
                    nn.init.xavier_uniform_(parameter)
                elif name.startswith("weight_hh"):
                    _orthogonal_(parameter)
                else:
                    nn.init.zeros_(parameter)
        elif isinstance(module, nn.Embedding):
            nn.init.uniform_(module.weight, -KERAS_EMBEDDING_SCALE, KERAS_EMBEDDING_SCALE)
    return model


def _orthogonal_(tensor: torch.Tensor) -> None:
    """``nn.init.orthogonal_`` with one thread: the same weights whatever the thread count.

    The QR decomposition behind it rounds differently with different thread counts, so a
    process with 1 thread (a ``--jobs`` worker) would build other initial weights than one
    with 2, and the runs of one comparison would not start from the same model.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        nn.init.orthogonal_(tensor)
    finally:
        torch.set_num_threads(threads)


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters (Keras' "trainable params").

    Example:
        >>> count_parameters(torch.nn.Linear(4, 2))
        10
    """
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def _conv_bn(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1
) -> nn.Sequential:
    """A conv layer with a bias (as Keras' default) and 'same' padding, then batch norm."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2),
        nn.BatchNorm2d(out_channels),
    )


class Bottleneck(nn.Module):
    """A ResNet bottleneck block: 1x1, 3x3, 1x1 convs with batch norm, plus a shortcut.

    ``1x1 conv (stride), BN, ReLU, 3x3 conv, BN, ReLU, 1x1 conv, BN``, added to the shortcut,
    then ReLU. The shortcut is the identity, or with ``project=True`` a strided 1x1 conv and BN
    (PAPER.md, experiment 1; Keras' ResNet50 ``conv_block`` / ``identity_block``).

    Args:
        in_channels: channels of the input.
        filters: the three convs' output channels ``(f1, f2, f3)``.
        stride: the stride of the first 1x1 conv and of the projection.
        project: a projection shortcut; without one, ``in_channels`` must equal ``f3`` and
            ``stride`` must be 1.
    """

    def __init__(
        self,
        in_channels: int,
        filters: tuple[int, int, int],
        stride: int = 1,
        project: bool = False,
    ) -> None:
        super().__init__()
        first, middle, last = filters
        if not project and (in_channels != last or stride != 1):
            raise ValueError(
                f"an identity block needs in_channels == filters[2] and stride 1, got "
                f"in_channels={in_channels}, filters={filters}, stride={stride}"
            )
        self.residual = nn.Sequential(
            _conv_bn(in_channels, first, 1, stride),
            nn.ReLU(),
            _conv_bn(first, middle, 3),
            nn.ReLU(),
            _conv_bn(middle, last, 1),
        )
        self.shortcut: nn.Module = (
            _conv_bn(in_channels, last, 1, stride) if project else nn.Identity()
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``relu(residual(x) + shortcut(x))``."""
        return torch.relu(self.residual(inputs) + self.shortcut(inputs))


class ResNetCIFAR(nn.Sequential):
    """The residual network of experiment 1 (CIFAR-100), about 680,000 parameters.

    3x3 conv(32) + BN + ReLU; bottleneck blocks: projection (32, 32, 128, stride 2), identity
    (32, 32, 128), projection (64, 64, 256, stride 2), two identity (64, 64, 256); 2x2 average
    pool; flatten; dropout 0.25; dense (PAPER.md, experiment 1). Convs carry biases, as Keras'
    do by default. On 32x32 inputs the maps shrink 32 -> 16 -> 8 -> 4 (after pooling), so the
    dense layer sees 4 * 4 * 256 = 4,096 inputs: 685,732 trainable parameters for 100 classes
    (Keras also counts batch norm's 3,904 running statistics: 689,636 in all).

    Args:
        num_classes: output logits (100 for CIFAR-100).
        in_channels: image channels.
        image_size: the input's height and width (a multiple of 8).

    Example:
        >>> model = ResNetCIFAR(num_classes=100)
        >>> tuple(model(torch.zeros(2, 3, 32, 32)).shape)
        (2, 100)
    """

    def __init__(self, num_classes: int = 100, in_channels: int = 3, image_size: int = 32) -> None:
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {image_size}")
        pooled = image_size // 8
        super().__init__(
            _conv_bn(in_channels, 32, 3),
            nn.ReLU(),
            Bottleneck(32, (32, 32, 128), stride=2, project=True),
            Bottleneck(128, (32, 32, 128)),
            Bottleneck(128, (64, 64, 256), stride=2, project=True),
            Bottleneck(256, (64, 64, 256)),
            Bottleneck(256, (64, 64, 256)),
            nn.AvgPool2d(2),
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(pooled * pooled * 256, num_classes),
        )
        init_like_keras_(self)


class CifarCNN(nn.Sequential):
    """The first version's 4-conv dropout CNN (CIFAR-10), ReLU after each conv and dense layer.

    conv 3x3 32, conv 3x3 32, max pool 2, dropout 0.25, conv 3x3 64, conv 3x3 64, max pool 2,
    dropout 0.25, dense 512, dropout 0.5, dense (PAPER.md, "Earlier version's extra
    experiments"). Convs use 'same' padding, as the authors' ``get_cnn_model`` did, so on 32x32
    inputs the dense layer sees 8 * 8 * 64 = 4,096 inputs: 2,168,362 parameters for 10 classes.

    Args:
        num_classes: output logits.
        in_channels: image channels.
        image_size: the input's height and width (a multiple of 4).

    Example:
        >>> tuple(CifarCNN()(torch.zeros(2, 3, 32, 32)).shape)
        (2, 10)
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> None:
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {image_size}")
        pooled = image_size // 4
        super().__init__(
            nn.Conv2d(in_channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
            nn.Flatten(),
            nn.Linear(pooled * pooled * 64, 512),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(512, num_classes),
        )
        init_like_keras_(self)


class LogisticRegression(nn.Sequential):
    """Multinomial logistic regression: flatten, one dense layer (softmax in the loss).

    The first version's logistic regression on MNIST, CIFAR-10 and CIFAR-100 (PAPER.md,
    "Earlier version's extra experiments"): 7,850 parameters on MNIST.

    Args:
        in_features: the number of input values per sample (its flattened size).
        num_classes: output logits.

    Example:
        >>> tuple(LogisticRegression(28 * 28, 10)(torch.zeros(2, 1, 28, 28)).shape)
        (2, 10)
    """

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__(nn.Flatten(), nn.Linear(in_features, num_classes))
        init_like_keras_(self)


class CharGRU(nn.Module):
    """The 2-layer character GRU of experiment 2 (Penn Treebank characters).

    One-hot characters, GRU(256), dropout 0.5, GRU(256), dropout 0.5, a dense layer over the
    vocabulary at every time step (PAPER.md, experiment 2). Takes character ids ``(batch,
    time)`` (int64) and returns logits ``(batch, time, vocabulary)``. For the paper's 50
    characters: 644,146 parameters.

    Args:
        vocabulary_size: the number of distinct characters.
        hidden_size: each GRU layer's state size.
        dropout: the dropout rate after each GRU layer.

    Example:
        >>> model = CharGRU(vocabulary_size=50)
        >>> tuple(model(torch.zeros(2, 100, dtype=torch.int64)).shape)
        (2, 100, 50)
    """

    def __init__(self, vocabulary_size: int, hidden_size: int = 256, dropout: float = 0.5) -> None:
        super().__init__()
        self.vocabulary_size = vocabulary_size
        self.first_gru = nn.GRU(vocabulary_size, hidden_size, batch_first=True)
        self.second_gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size, vocabulary_size)
        init_like_keras_(self)

    def forward(self, characters: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, time, vocabulary)`` of the next character at every position."""
        one_hot = nn.functional.one_hot(characters, self.vocabulary_size).to(
            self.output.weight.dtype
        )
        hidden, _ = self.first_gru(one_hot)
        hidden, _ = self.second_gru(self.dropout(hidden))
        logits: torch.Tensor = self.output(self.dropout(hidden))
        return logits


class BabiGRU(nn.Module):
    """The bAbI question-answering GRU of experiment 4 (Keras' ``babi_rnn`` design).

    The story's words: embedding(256), dropout 0.3. The question's words: embedding(256),
    dropout 0.3, GRU(256), its last state repeated over the story length. The two summed,
    GRU(256), dropout 0.3 on its last state, a dense layer over the vocabulary (PAPER.md,
    experiment 4). A task's inputs are one tensor per sample, so the model takes the story's
    word ids and then the question's, concatenated: ``(batch, story_length +
    question_length)`` (int64, 0 = padding), as
    :class:`~eveopt.experiments.datasets.BabiData` builds them; it returns answer logits
    ``(batch, vocabulary)``.

    Args:
        vocabulary_size: the number of word ids, padding included.
        story_length: how many of each input's ids are the story's; the rest are the question's.
        hidden_size: the embedding and GRU size.
        dropout: the dropout rate.

    Example:
        >>> model = BabiGRU(vocabulary_size=20, story_length=30)
        >>> tuple(model(torch.zeros(2, 30 + 5, dtype=torch.int64)).shape)
        (2, 20)
    """

    def __init__(
        self,
        vocabulary_size: int,
        story_length: int,
        hidden_size: int = 256,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.story_length = story_length
        self.story_embedding = nn.Embedding(vocabulary_size, hidden_size)
        self.question_embedding = nn.Embedding(vocabulary_size, hidden_size)
        self.question_gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.answer_gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size, vocabulary_size)
        init_like_keras_(self)

    def forward(self, story_and_question: torch.Tensor) -> torch.Tensor:
        """Answer logits ``(batch, vocabulary)`` for stories followed by their questions."""
        if story_and_question.shape[1] <= self.story_length:
            raise ValueError(
                f"inputs hold {story_and_question.shape[1]} ids per sample: expected the story's "
                f"{self.story_length} followed by at least one question id"
            )
        story = story_and_question[:, : self.story_length]
        question = story_and_question[:, self.story_length :]
        encoded_story = self.dropout(self.story_embedding(story))
        _, question_state = self.question_gru(self.dropout(self.question_embedding(question)))
        # The question's last state (1, batch, hidden) broadcast over the story's time steps.
        merged = encoded_story + question_state.transpose(0, 1)
        _, answer_state = self.answer_gru(merged)
        logits: torch.Tensor = self.output(self.dropout(answer_state[0]))
        return logits

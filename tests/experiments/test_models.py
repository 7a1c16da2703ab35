"""The paper's models: exact parameter counts, output shapes, and the Keras-style initialisation.

Counts are computed by hand from PAPER.md's layer lists (see each model's docstring); the
ResNet's is checked against the paper's "about 680,000 parameters" (experiment 1).
"""

from __future__ import annotations

import pytest
import torch

from eveopt.experiments.models import (
    BabiGRU,
    Bottleneck,
    CharGRU,
    CifarCNN,
    LogisticRegression,
    ResNetCIFAR,
    count_parameters,
)

PAPER_RESNET_PARAMETERS = 680_000


def test_resnet_parameter_count_matches_the_paper_within_two_percent() -> None:
    model = ResNetCIFAR(num_classes=100)
    running_statistics = sum(
        buffer.numel() for name, buffer in model.named_buffers() if "running" in name
    )
    assert count_parameters(model) == 685_732
    # Keras' total also counts batch norm's running means and variances.
    assert running_statistics == 3_904
    for total in (685_732, 685_732 + running_statistics):
        assert abs(total - PAPER_RESNET_PARAMETERS) / PAPER_RESNET_PARAMETERS < 0.02


@pytest.mark.parametrize(
    ("model", "inputs", "parameters", "output_shape"),
    [
        (ResNetCIFAR(num_classes=100), torch.rand(2, 3, 32, 32), 685_732, (2, 100)),
        (ResNetCIFAR(num_classes=10), torch.rand(2, 3, 32, 32), 317_002, (2, 10)),
        (CifarCNN(num_classes=10), torch.rand(2, 3, 32, 32), 2_168_362, (2, 10)),
        (LogisticRegression(28 * 28, 10), torch.rand(2, 1, 28, 28), 7_850, (2, 10)),
        (LogisticRegression(3 * 32 * 32, 100), torch.rand(2, 3, 32, 32), 307_300, (2, 100)),
        (CharGRU(vocabulary_size=50), torch.randint(0, 50, (2, 100)), 644_146, (2, 100, 50)),
        (
            BabiGRU(vocabulary_size=20, story_length=30),
            torch.randint(0, 20, (2, 30 + 5)),
            804_884,
            (2, 20),
        ),
    ],
    ids=[
        "resnet-100",
        "resnet-10",
        "cifar-cnn",
        "logreg-mnist",
        "logreg-cifar100",
        "char-gru",
        "babi-gru",
    ],
)
def test_parameter_count_and_output_shape(
    model: torch.nn.Module, inputs: torch.Tensor, parameters: int, output_shape: tuple[int, ...]
) -> None:
    assert count_parameters(model) == parameters
    model.eval()
    with torch.no_grad():
        outputs = model(inputs)
    assert tuple(outputs.shape) == output_shape
    assert outputs.dtype == torch.float32
    assert bool(torch.isfinite(outputs).all())


def test_char_gru_count_by_formula() -> None:
    # torch's GRU: 3 gates x (input kernel + recurrent kernel + two biases) per layer.
    vocabulary, hidden = 50, 256
    first = 3 * (vocabulary * hidden + hidden * hidden + 2 * hidden)
    second = 3 * (hidden * hidden + hidden * hidden + 2 * hidden)
    dense = hidden * vocabulary + vocabulary
    assert count_parameters(CharGRU(vocabulary)) == first + second + dense == 644_146


def test_initialisation_is_glorot_uniform_with_zero_biases() -> None:
    torch.manual_seed(0)
    model = ResNetCIFAR(num_classes=100)
    dense = model[-1]
    assert isinstance(dense, torch.nn.Linear)
    bound = (6 / (dense.in_features + dense.out_features)) ** 0.5
    largest = float(dense.weight.detach().abs().max())
    assert 0.9 * bound < largest <= bound
    biases = [
        module.bias
        for module in model.modules()
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)) and module.bias is not None
    ]
    # The paper's 16 conv layers (stem and 5 x 3 in blocks), 2 projections, the dense layer.
    assert len(biases) == 16 + 2 + 1
    assert all(int(torch.count_nonzero(bias)) == 0 for bias in biases)


def test_gru_recurrent_kernels_are_orthogonal_and_embeddings_small() -> None:
    torch.manual_seed(0)
    model = BabiGRU(vocabulary_size=20, story_length=30)
    question_gru = dict(model.question_gru.named_parameters())
    recurrent = question_gru["weight_hh_l0"].detach()  # (3 * hidden, hidden)
    gram = recurrent.T @ recurrent  # orthonormal columns
    assert torch.allclose(gram, torch.eye(gram.shape[0]), atol=1e-4)
    assert float(model.story_embedding.weight.detach().abs().max()) <= 0.05
    assert int(torch.count_nonzero(question_gru["bias_ih_l0"])) == 0


def test_same_seed_gives_same_weights() -> None:
    torch.manual_seed(3)
    first = CharGRU(vocabulary_size=10)
    torch.manual_seed(3)
    second = CharGRU(vocabulary_size=10)
    for left, right in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(left, right)


def test_resnet_downsamples_by_four_before_pooling() -> None:
    model = ResNetCIFAR(num_classes=100).eval()
    with torch.no_grad():
        features = torch.nn.Sequential(*list(model)[:7])(torch.rand(1, 3, 32, 32))
    assert tuple(features.shape) == (1, 256, 8, 8)


def test_identity_block_rejects_mismatched_channels() -> None:
    with pytest.raises(ValueError, match="identity block needs in_channels == filters"):
        Bottleneck(32, (32, 32, 128))


def test_babi_gru_rejects_inputs_without_a_question() -> None:
    with pytest.raises(ValueError, match="expected the story's 30 followed by"):
        BabiGRU(vocabulary_size=20, story_length=30)(torch.zeros(1, 30, dtype=torch.int64))


def test_initial_weights_do_not_depend_on_the_thread_count() -> None:
    # Worker processes run with fewer threads; the orthogonal init's QR must not notice.
    threads = torch.get_num_threads()
    weights = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            torch.manual_seed(0)
            weights.append(CharGRU(vocabulary_size=50).state_dict())
    finally:
        torch.set_num_threads(threads)
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]), name
    assert torch.get_num_threads() == threads

"""The paper's datasets, read from their standard distribution files in a folder; never downloaded.

Source: Hayashi, Koushik, Neubig, arXiv 1611.01505 (``../shared/PAPER.md``): CIFAR-100 and
Penn Treebank characters (experiments 1-3), bAbI-10k (experiment 4), and the first version's
MNIST and CIFAR-10. Each loader reads the files as their publishers distribute them:

- CIFAR-10: ``cifar-10-batches-py/data_batch_1`` .. ``data_batch_5`` and ``test_batch``;
  CIFAR-100: ``cifar-100-python/train`` and ``test`` (fine labels). Python pickles.
- MNIST: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
  ``t10k-labels-idx1-ubyte``, each plain or gzipped (``.gz``).
- Penn Treebank (Mikolov's ``simple-examples/data``): ``ptb.train.txt`` (words) and
  ``ptb.char.train.txt`` (characters separated by spaces, ``_`` between words), with the
  ``valid`` and ``test`` files read when present.
- bAbI-10k: ``tasks_1-20_v1-2/en-10k/qa{N}_*_{train,test}.txt``, extracted or inside
  ``tasks_1-20_v1-2.tar.gz``.

Images become float32 ``(N, C, H, W)`` tensors in [0, 1], labels int64. A missing or malformed
file raises :class:`DataError` (a :class:`~eveopt.experiments.tasks.TaskError`, which the CLI
prints as one line) naming the files expected, the folder searched and where to get them.

The embedded text task needs no folder: :func:`load_pydoc_text` is the English prose of the
help topics that ship with every CPython (``pydoc_data.topics``).

This module imports torch and NumPy only when a loader runs.
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import pickle
import re
import struct
import tarfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eveopt.experiments.tasks import TaskError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import torch

__all__ = [
    "BABI_QUESTIONS",
    "CHAR_SEQUENCE_LENGTH",
    "PTB_END_OF_LINE",
    "PYDOC_TEXT_CHARS",
    "BabiData",
    "CharSequences",
    "DataError",
    "ImageData",
    "TextCorpus",
    "char_sequences",
    "load_babi",
    "load_cifar10",
    "load_cifar100",
    "load_mnist",
    "load_ptb_chars",
    "load_ptb_words",
    "load_pydoc_chars",
    "load_pydoc_text",
]

CIFAR10_SOURCE = (
    "the CIFAR-10 python version (cifar-10-python.tar.gz) from the University of Toronto page "
    "https://www.cs.toronto.edu/~kriz/cifar.html, extracted"
)
CIFAR100_SOURCE = (
    "the CIFAR-100 python version (cifar-100-python.tar.gz) from the University of Toronto page "
    "https://www.cs.toronto.edu/~kriz/cifar.html, extracted"
)
MNIST_SOURCE = (
    "the four MNIST files from Yann LeCun's MNIST page http://yann.lecun.com/exdb/mnist/ "
    "(or a mirror of it), gzipped or not"
)
PTB_SOURCE = (
    "Mikolov's Penn Treebank (the data/ folder of simple-examples.tgz from "
    "http://www.fit.vutbr.cz/~imikolov/rnnlm/)"
)
BABI_SOURCE = (
    "the bAbI tasks v1.2 (tasks_1-20_v1-2.tar.gz) from Facebook Research's bAbI page "
    "https://research.facebook.com/downloads/babi/, as the tarball or extracted"
)

BABI_QUESTIONS = range(1, 21)
"""The bAbI task (question) numbers."""

BABI_FOLDER = "tasks_1-20_v1-2"
BABI_TARBALL = "tasks_1-20_v1-2.tar.gz"

CHAR_SEQUENCE_LENGTH = 100
"""Characters per training sequence (PAPER.md, experiment 2)."""

PTB_END_OF_LINE = "\n"
"""The symbol that ends each line of character-level PTB: with its 49 symbols, 50 in all."""

PTB_END_OF_SENTENCE = "<eos>"
"""The token that ends each line of word-level PTB (the usual language-model convention)."""

PYDOC_TEXT_CHARS = 100_000
"""The characters of :func:`load_pydoc_text` the embedded text task uses (the tests pin them)."""


class DataError(TaskError):
    """A dataset whose files are missing or malformed; the message says what to get, and where."""


def _missing(
    dataset: str, folder: Path, expected: Sequence[str], source: str, hint: str = ""
) -> DataError:
    return DataError(
        f"{dataset} not found in {folder}: expected {', '.join(expected)} there. "
        + (hint or f"Get {source} into that folder, and pass it as --data-dir")
    )


def _other_folder_hint(root: Path, candidates: Sequence[tuple[Path, str]]) -> str:
    """ "Pass X instead" for the first candidate folder that holds the expected file."""
    for folder, probe in candidates:
        if (folder / probe).is_file():
            return f"They are in {folder}: pass --data-dir {folder}"
    return ""


def _malformed(dataset: str, path: Path | str, reason: str, source: str) -> DataError:
    return DataError(
        f"{dataset} file {path} is malformed ({reason}). Expected {source}; get it again"
    )


@dataclass(frozen=True)
class ImageData:
    """An image classification dataset: float32 ``(N, C, H, W)`` images in [0, 1], int64 labels.

    Args:
        train_images: the training images.
        train_labels: their labels, in ``0 .. num_classes - 1``.
        test_images: the test images.
        test_labels: their labels.
        num_classes: the number of classes.
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int


@dataclass(frozen=True)
class CharSequences:
    """Fixed-length symbol sequences and their next-symbol targets, for a sequence model.

    Args:
        inputs: int64 ``(N, length)`` symbol ids.
        targets: int64 ``(N, length)``: each position's next symbol (``inputs`` shifted by one).
        vocabulary: the symbols; an id indexes this tuple.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    vocabulary: tuple[str, ...]


@dataclass(frozen=True)
class TextCorpus:
    """A tokenised corpus: its vocabulary and each split as int64 ids.

    Args:
        vocabulary: the distinct symbols of all splits read, sorted; an id indexes this tuple.
        train: the training split, a 1-D int64 tensor of ids.
        valid: the validation split, or None where its file is absent.
        test: the test split, or None where its file is absent.
        train_path: the training split's file (named in errors), where it came from one.
    """

    vocabulary: tuple[str, ...]
    train: torch.Tensor
    valid: torch.Tensor | None
    test: torch.Tensor | None
    train_path: Path | None = None

    def sequences(self, length: int = CHAR_SEQUENCE_LENGTH) -> CharSequences:
        """The training split cut into sequences of ``length`` (see :func:`char_sequences`)."""
        return char_sequences(self.train, self.vocabulary, length, source=self.train_path)


@dataclass(frozen=True)
class BabiData:
    """One bAbI task, vectorised as Keras' ``babi_rnn`` example does.

    Each sample is a question with the whole story told before it. Word ids start at 1 (0 pads,
    ``vocabulary[0] == ""``); stories and questions are padded at the front to the longest of
    train and test. ``*_inputs`` hold a sample's story ids followed by its question ids,
    ``(N, story_length + question_length)``, as :class:`~eveopt.experiments.models.BabiGRU`
    takes them; ``*_answers`` the answer's id ``(N,)``. All int64.

    Args:
        question: the task number (1 .. 20).
        vocabulary: ``""`` then the sorted words of stories, questions and answers.
        story_length: the padded story length.
        question_length: the padded question length.
        train_inputs: training stories and questions.
        train_answers: training answers.
        test_inputs: test stories and questions.
        test_answers: test answers.
    """

    question: int
    vocabulary: tuple[str, ...]
    story_length: int
    question_length: int
    train_inputs: torch.Tensor
    train_answers: torch.Tensor
    test_inputs: torch.Tensor
    test_answers: torch.Tensor


class _ArrayUnpickler(pickle.Unpickler):
    """Loads pickles of NumPy arrays, lists and dicts only: a data file cannot run code."""

    _ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return super().find_class(module, name)


def _read_pickle(path: Path, dataset: str, source: str) -> dict[bytes, Any]:
    """A CIFAR batch: a Python 2 pickle of a dict with bytes keys."""
    try:
        with path.open("rb") as file:
            batch = _ArrayUnpickler(file, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise _malformed(dataset, path, f"not a readable pickle: {error}", source) from error
    if not isinstance(batch, dict):
        raise _malformed(dataset, path, "not a dict of arrays", source)
    return batch


def _cifar_batch(
    path: Path, label_key: bytes, num_classes: int, dataset: str, source: str
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    import numpy as np

    batch = _read_pickle(path, dataset, source)
    for key in (b"data", label_key):
        if key not in batch:
            raise _malformed(dataset, path, f"no key {key!r}", source)
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[label_key])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise _malformed(
            dataset,
            path,
            f"data is {data.dtype} {data.shape}, expected uint8 (N, 3072)",
            source,
        )
    if labels.shape != (data.shape[0],) or labels.dtype.kind not in "iu":
        raise _malformed(
            dataset, path, f"{data.shape[0]} images but labels of shape {labels.shape}", source
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise _malformed(dataset, path, f"labels outside 0..{num_classes - 1}", source)
    return data, labels.astype(np.int64)


def _images_tensor(data: npt.NDArray[np.uint8], shape: tuple[int, ...]) -> torch.Tensor:
    import torch

    return torch.from_numpy(data.reshape(shape).astype("float32") / 255.0)


def _load_cifar(
    data_dir: Path | str,
    folder: str,
    train_files: Sequence[str],
    test_file: str,
    label_key: bytes,
    num_classes: int,
    dataset: str,
    source: str,
) -> ImageData:
    import numpy as np
    import torch

    root = Path(data_dir)
    expected = [f"{folder}/{name}" for name in (*train_files, test_file)]
    if not all((root / name).is_file() for name in expected):
        # A common slip: --data-dir names the extracted folder itself, not its parent.
        hint = _other_folder_hint(root, [(root.parent, f"{folder}/{train_files[0]}")])
        raise _missing(dataset, root, expected, source, hint)
    splits = []
    for names in (train_files, (test_file,)):
        batches = [
            _cifar_batch(root / folder / name, label_key, num_classes, dataset, source)
            for name in names
        ]
        data = np.concatenate([batch[0] for batch in batches])
        labels = np.concatenate([batch[1] for batch in batches])
        splits.append((_images_tensor(data, (-1, 3, 32, 32)), torch.from_numpy(labels)))
    (train_images, train_labels), (test_images, test_labels) = splits
    return ImageData(train_images, train_labels, test_images, test_labels, num_classes)


def load_cifar10(data_dir: Path | str) -> ImageData:
    """CIFAR-10 from ``data_dir/cifar-10-batches-py``: 50,000 + 10,000 images, 10 classes.

    Raises :class:`DataError` when a batch file is missing or malformed.
    """
    return _load_cifar(
        data_dir,
        "cifar-10-batches-py",
        [f"data_batch_{index}" for index in range(1, 6)],
        "test_batch",
        b"labels",
        10,
        "CIFAR-10",
        CIFAR10_SOURCE,
    )


def load_cifar100(data_dir: Path | str) -> ImageData:
    """CIFAR-100 from ``data_dir/cifar-100-python`` with its 100 fine labels (PAPER.md, exp. 1).

    50,000 training and 10,000 test images. Raises :class:`DataError` when a file is missing
    or malformed.
    """
    return _load_cifar(
        data_dir,
        "cifar-100-python",
        ["train"],
        "test",
        b"fine_labels",
        100,
        "CIFAR-100",
        CIFAR100_SOURCE,
    )


_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IDX_UNSIGNED_BYTE = 0x08
MNIST_IMAGE_SHAPE = (28, 28)


def _read_idx(path: Path, dimensions: int) -> npt.NDArray[np.uint8]:
    """An IDX file of unsigned bytes: magic ``0x0000 08 dd``, ``dd`` big-endian sizes, data."""
    import numpy as np

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            content = file.read()
    except (OSError, EOFError, zlib.error) as error:
        raise _malformed("MNIST", path, f"unreadable: {error}", MNIST_SOURCE) from error
    header_size = 4 * (1 + dimensions)
    if len(content) < header_size:
        raise _malformed("MNIST", path, "shorter than its header", MNIST_SOURCE)
    magic, *sizes = struct.unpack(f">{1 + dimensions}I", content[:header_size])
    if magic != (_IDX_UNSIGNED_BYTE << 8) | dimensions:
        raise _malformed(
            "MNIST",
            path,
            f"magic number {magic:#010x}, expected {(_IDX_UNSIGNED_BYTE << 8) | dimensions:#010x}",
            MNIST_SOURCE,
        )
    expected_bytes = int(np.prod(sizes))
    if len(content) - header_size != expected_bytes:
        raise _malformed(
            "MNIST",
            path,
            f"{len(content) - header_size} data bytes, its header promises {expected_bytes}",
            MNIST_SOURCE,
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header_size).reshape(sizes)


def _find_idx(root: Path, name: str) -> Path | None:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_mnist(data_dir: Path | str) -> ImageData:
    """MNIST from its four IDX files in ``data_dir`` (each plain or ``.gz``): ``(N, 1, 28, 28)``.

    60,000 training and 10,000 test images, 10 classes. Raises :class:`DataError` when a file
    is missing or malformed (wrong magic number, truncated, mismatched counts).
    """
    import torch

    root = Path(data_dir)
    paths = {key: _find_idx(root, name) for key, name in _MNIST_FILES.items()}
    found = {key: path for key, path in paths.items() if path is not None}
    if len(found) != len(paths):
        raise _missing(
            "MNIST", root, [f"{name}[.gz]" for name in _MNIST_FILES.values()], MNIST_SOURCE
        )
    arrays = {}
    for split in ("train", "test"):
        images = _read_idx(found[f"{split}_images"], 3)
        labels = _read_idx(found[f"{split}_labels"], 1)
        if images.shape[0] != labels.shape[0]:
            raise _malformed(
                "MNIST",
                found[f"{split}_labels"],
                f"{labels.shape[0]} labels for {images.shape[0]} images",
                MNIST_SOURCE,
            )
        if labels.size and labels.max() > 9:
            raise _malformed("MNIST", found[f"{split}_labels"], "labels outside 0..9", MNIST_SOURCE)
        if images.shape[1:] != MNIST_IMAGE_SHAPE:
            raise _malformed(
                "MNIST",
                found[f"{split}_images"],
                f"images of {images.shape[1]}x{images.shape[2]} pixels, expected 28x28",
                MNIST_SOURCE,
            )
        arrays[f"{split}_images"] = _images_tensor(images, (-1, 1, *images.shape[1:]))
        arrays[f"{split}_labels"] = torch.from_numpy(labels.astype("int64"))
    return ImageData(num_classes=10, **arrays)


def _read_text(path: Path, dataset: str, source: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise _malformed(dataset, path, f"not UTF-8 text: {error}", source) from error


def _load_ptb(
    data_dir: Path | str, level: str, tokenize: Callable[[str, Path], list[str]]
) -> TextCorpus:
    import torch

    root = Path(data_dir)
    prefix = "ptb.char" if level == "char" else "ptb"
    dataset = f"Penn Treebank ({level} level)"
    paths = {split: root / f"{prefix}.{split}.txt" for split in ("train", "valid", "test")}
    if not paths["train"].is_file():
        expected = [
            f"{paths['train'].name} (and {paths['valid'].name}, {paths['test'].name} if present)"
        ]
        # --data-dir at the unpacked archive rather than its data/ folder.
        hint = _other_folder_hint(
            root,
            [
                (root / "simple-examples" / "data", paths["train"].name),
                (root / "data", paths["train"].name),
            ],
        )
        raise _missing(dataset, root, expected, PTB_SOURCE, hint)
    symbols = {
        split: tokenize(_read_text(path, dataset, PTB_SOURCE), path)
        for split, path in paths.items()
        if path.is_file()
    }
    if not symbols["train"]:
        raise _malformed(dataset, paths["train"], "empty", PTB_SOURCE)
    # PTB's vocabulary is closed (rare words are <unk>), so the union is the training split's;
    # it differs only for a stand-in training split, such as a copy of the validation split.
    vocabulary = tuple(sorted({symbol for split in symbols.values() for symbol in split}))
    index = {symbol: position for position, symbol in enumerate(vocabulary)}
    ids = {
        split: torch.tensor([index[symbol] for symbol in split_symbols], dtype=torch.int64)
        for split, split_symbols in symbols.items()
    }
    return TextCorpus(vocabulary, ids["train"], ids.get("valid"), ids.get("test"), paths["train"])


def _ptb_words(text: str, path: Path) -> list[str]:
    return [word for line in text.splitlines() for word in (*line.split(), PTB_END_OF_SENTENCE)]


def _ptb_chars(text: str, path: Path) -> list[str]:
    symbols = [symbol for line in text.splitlines() for symbol in (*line.split(), PTB_END_OF_LINE)]
    long_symbol = next((symbol for symbol in symbols if len(symbol) > 1), None)
    if long_symbol is not None:
        raise _malformed(
            "Penn Treebank (character level)",
            path,
            f"{long_symbol!r} is not one character: expected characters separated by spaces",
            PTB_SOURCE,
        )
    return symbols


def load_ptb_words(data_dir: Path | str) -> TextCorpus:
    """Word-level Penn Treebank: ``ptb.train.txt`` (required), ``ptb.valid.txt``, ``ptb.test.txt``.

    Words are separated by spaces; each line ends with ``<eos>``. The vocabulary is the sorted
    union of the splits read (10,000 tokens in Mikolov's version). Raises :class:`DataError`
    when the training file is missing, empty or not UTF-8 text.
    """
    return _load_ptb(data_dir, "word", _ptb_words)


def load_ptb_chars(data_dir: Path | str) -> TextCorpus:
    """Character-level Penn Treebank (PAPER.md, experiment 2): ``ptb.char.train.txt`` and co.

    Characters are separated by spaces, ``_`` separates words (a symbol itself), and each line
    ends with :data:`PTB_END_OF_LINE`: 50 symbols in all. ``ptb.char.valid.txt`` and
    ``ptb.char.test.txt`` are read when present. Raises :class:`DataError` when the training
    file is missing or empty, or a file is not single characters separated by spaces.
    """
    return _load_ptb(data_dir, "char", _ptb_chars)


def char_sequences(
    ids: torch.Tensor,
    vocabulary: Sequence[str],
    length: int = CHAR_SEQUENCE_LENGTH,
    *,
    source: Path | str | None = None,
) -> CharSequences:
    """Cut a 1-D id sequence into consecutive, non-overlapping sequences and next-id targets.

    Sequence ``i`` is ``ids[i * length : (i + 1) * length]``, its targets the same window one
    position later; the ``(len(ids) - 1) // length`` full windows are kept. Raises
    :class:`DataError`, naming ``source`` (the text's file) when given, when not one window fits.

    Example:
        >>> import torch
        >>> pairs = char_sequences(torch.arange(7), "abcdefg", length=3)
        >>> pairs.inputs.tolist(), pairs.targets.tolist()
        ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]])
    """
    if length < 1:
        raise ValueError(f"sequence length must be at least 1, got {length}")
    count = (ids.numel() - 1) // length
    if count < 1:
        where = "a text" if source is None else f"the text of {source}"
        raise DataError(
            f"{where} holds {ids.numel()} symbols, too few for one sequence of {length} "
            f"and its target: give a longer text"
        )
    inputs = ids[: count * length].reshape(count, length).clone()
    targets = ids[1 : count * length + 1].reshape(count, length).clone()
    return CharSequences(inputs, targets, tuple(vocabulary))


def load_pydoc_text(num_chars: int | None = PYDOC_TEXT_CHARS) -> str:
    """The English prose that ships with every CPython: ``pydoc_data.topics``, sorted by topic.

    The help topics' texts (about 465,000 characters) joined with newlines in the order of their
    keys; the first ``num_chars`` characters (all with None). The text changes between Python
    versions, so the tests pin the default slice by its SHA-256 per version.
    """
    from pydoc_data.topics import topics

    text = "\n".join(topics[key] for key in sorted(topics))
    return text if num_chars is None else text[:num_chars]


def load_pydoc_chars(
    num_chars: int | None = PYDOC_TEXT_CHARS, length: int = CHAR_SEQUENCE_LENGTH
) -> CharSequences:
    """:func:`load_pydoc_text` as character sequences of ``length`` with next-character targets.

    The vocabulary is the text's distinct characters, sorted. With the defaults: 999 sequences.

    Example:
        >>> pairs = load_pydoc_chars(num_chars=1_001, length=100)
        >>> tuple(pairs.inputs.shape), str(pairs.targets.dtype)
        ((10, 100), 'torch.int64')
    """
    import torch

    text = load_pydoc_text(num_chars)
    vocabulary = tuple(sorted(set(text)))
    index = {symbol: position for position, symbol in enumerate(vocabulary)}
    ids = torch.tensor([index[symbol] for symbol in text], dtype=torch.int64)
    return char_sequences(ids, vocabulary, length)


_BABI_TOKEN = re.compile(r"\w+|[^\w\s]+")

_BabiSample = tuple[list[str], list[str], str]


def _parse_babi(text: str, source_name: str) -> list[_BabiSample]:
    """Stories, questions and answers (Keras ``babi_rnn``'s ``parse_stories``, all facts kept).

    A line is ``id sentence``; ids restart at 1 with each story; a question line holds
    ``question<TAB>answer<TAB>supporting fact ids``.
    """
    samples: list[_BabiSample] = []
    story: list[list[str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        line_id, _, sentence = line.partition(" ")
        if not line_id.isdigit() or not sentence:
            raise _malformed(
                "bAbI", source_name, f"line {number} does not start with a line number", BABI_SOURCE
            )
        if int(line_id) == 1:
            story = []
        if "\t" in sentence:
            fields = sentence.split("\t")
            if len(fields) < 2 or not fields[1].strip():
                raise _malformed(
                    "bAbI", source_name, f"question on line {number} has no answer", BABI_SOURCE
                )
            story_words = [word for fact in story for word in fact]
            samples.append((story_words, _BABI_TOKEN.findall(fields[0]), fields[1].strip()))
        else:
            story.append(_BABI_TOKEN.findall(sentence))
    if not samples:
        raise _malformed("bAbI", source_name, "no questions", BABI_SOURCE)
    return samples


def _babi_texts(root: Path, question: int) -> tuple[dict[str, str], dict[str, str]]:
    """The task's train and test files' text, from the extracted folder or else the tarball.

    Also returns where each text came from (a file, or a tarball's member), for messages.
    """
    patterns = {split: f"qa{question}_*_{split}.txt" for split in ("train", "test")}
    folder = root / BABI_FOLDER / "en-10k"
    if folder.is_dir():
        matches = {split: sorted(folder.glob(pattern)) for split, pattern in patterns.items()}
        if all(len(paths) == 1 for paths in matches.values()):
            texts = {
                split: _read_text(paths[0], "bAbI", BABI_SOURCE) for split, paths in matches.items()
            }
            return texts, {split: str(paths[0]) for split, paths in matches.items()}
    tarball = root / BABI_TARBALL
    if tarball.is_file():
        try:
            with tarfile.open(tarball, "r:gz") as archive:
                names = archive.getnames()
                texts = {}
                origins = {}
                for split, pattern in patterns.items():
                    found = fnmatch.filter(names, f"{BABI_FOLDER}/en-10k/{pattern}")
                    if len(found) != 1:
                        raise _malformed(
                            "bAbI", tarball, f"no single member en-10k/{pattern}", BABI_SOURCE
                        )
                    member = archive.extractfile(found[0])
                    if member is None:
                        raise _malformed("bAbI", tarball, f"{found[0]} is not a file", BABI_SOURCE)
                    texts[split] = io.TextIOWrapper(member, encoding="utf-8").read()
                    origins[split] = f"{tarball}:{found[0]}"
        except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError) as error:
            raise _malformed(
                "bAbI", tarball, f"unreadable tarball: {error}", BABI_SOURCE
            ) from error
        return texts, origins
    expected = [f"{BABI_FOLDER}/en-10k/{pattern}" for pattern in patterns.values()]
    hint = ""
    if folder.is_dir():
        hint = f"{folder} holds no single file {patterns['train']} and {patterns['test']}"
    elif (root / BABI_FOLDER / "en").is_dir():
        hint = (
            f"{root / BABI_FOLDER / 'en'} is the 1,000-question version; the paper used en-10k, "
            f"from the same archive"
        )
    elif (root.parent / BABI_FOLDER / "en-10k").is_dir():
        hint = f"They are under {root.parent}: pass --data-dir {root.parent}"
    raise _missing("bAbI-10k", root, [*expected, f"or {BABI_TARBALL}"], BABI_SOURCE, hint)


def load_babi(data_dir: Path | str, question: int = 14) -> BabiData:
    """bAbI-10k task ``question`` (PAPER.md, experiment 4 uses 14): 10,000 training questions.

    Reads ``tasks_1-20_v1-2/en-10k/qa{question}_*_{train,test}.txt`` from the extracted folder
    in ``data_dir``, or from ``tasks_1-20_v1-2.tar.gz`` there. Vectorised as :class:`BabiData`
    describes. Raises :class:`DataError` when the files are missing or malformed, or the
    question is not 1 .. 20.
    """
    import torch

    if question not in BABI_QUESTIONS:
        raise DataError(f"bAbI question must be 1 to 20, got {question}")
    texts, origins = _babi_texts(Path(data_dir), question)
    parsed = {split: _parse_babi(text, origins[split]) for split, text in texts.items()}
    samples = [sample for split_samples in parsed.values() for sample in split_samples]
    words = {word for story, query, answer in samples for word in (*story, *query, answer)}
    vocabulary = ("", *sorted(words))
    index = {word: position for position, word in enumerate(vocabulary)}
    story_length = max(len(story) for story, _, _ in samples)
    question_length = max(len(query) for _, query, _ in samples)
    for length, part in ((story_length, "story"), (question_length, "question")):
        if length == 0:
            raise _malformed(
                "bAbI",
                " and ".join(origins.values()),
                f"no question has a {part}: the model needs both",
                BABI_SOURCE,
            )

    def vectorise(split_samples: list[_BabiSample]) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = torch.zeros(len(split_samples), story_length + question_length, dtype=torch.int64)
        for row, (story, query, _) in enumerate(split_samples):
            # Padded at the front, as Keras' pad_sequences does by default.
            for offset, words_of in (
                (story_length, story),
                (story_length + question_length, query),
            ):
                if words_of:
                    inputs[row, offset - len(words_of) : offset] = torch.tensor(
                        [index[word] for word in words_of]
                    )
        answers = torch.tensor([index[answer] for _, _, answer in split_samples], dtype=torch.int64)
        return inputs, answers

    train_inputs, train_answers = vectorise(parsed["train"])
    test_inputs, test_answers = vectorise(parsed["test"])
    return BabiData(
        question,
        vocabulary,
        story_length,
        question_length,
        train_inputs,
        train_answers,
        test_inputs,
        test_answers,
    )

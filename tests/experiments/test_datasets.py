"""The dataset loaders, each on a tiny fixture written here in its real distribution format.

CIFAR batches are Python pickles of ``{b"data": uint8 (N, 3072), b"labels": [...]}`` (CIFAR-100:
``b"fine_labels"``); MNIST files are IDX with magic numbers 0x00000803 (images) and 0x00000801
(labels); PTB and bAbI are text. Each loader must also fail on a missing or malformed file with
one :class:`DataError` that names the files expected and where to get them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import re
import struct
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from eveopt.experiments.datasets import (
    PTB_END_OF_LINE,
    DataError,
    char_sequences,
    load_babi,
    load_cifar10,
    load_cifar100,
    load_mnist,
    load_ptb_chars,
    load_ptb_words,
    load_pydoc_chars,
    load_pydoc_text,
)
from eveopt.experiments.tasks import TaskError


def write_cifar_batch(path: Path, images: np.ndarray, labels: list[int], label_key: bytes) -> None:
    """A batch as the University of Toronto pickles it (protocol 2, bytes keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = {b"batch_label": b"fixture", label_key: labels, b"data": images}
    if label_key == b"fine_labels":
        batch[b"coarse_labels"] = [label // 5 for label in labels]
    path.write_bytes(pickle.dumps(batch, protocol=2))


def cifar_images(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 3072), dtype=np.uint8)


@pytest.fixture
def cifar10_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "cifar-10-batches-py"
    for index in range(1, 6):
        write_cifar_batch(
            folder / f"data_batch_{index}", cifar_images(3, index), [0, 9, index], b"labels"
        )
    write_cifar_batch(folder / "test_batch", cifar_images(2, 0), [4, 5], b"labels")
    return tmp_path


@pytest.fixture
def cifar100_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "cifar-100-python"
    write_cifar_batch(folder / "train", cifar_images(4, 1), [0, 99, 50, 7], b"fine_labels")
    write_cifar_batch(folder / "test", cifar_images(2, 2), [3, 98], b"fine_labels")
    return tmp_path


def test_cifar10_shapes_dtypes_and_ranges(cifar10_dir: Path) -> None:
    data = load_cifar10(cifar10_dir)
    assert data.num_classes == 10
    assert data.train_images.shape == (15, 3, 32, 32)
    assert data.test_images.shape == (2, 3, 32, 32)
    assert data.train_images.dtype == torch.float32
    assert data.train_labels.dtype == torch.int64
    assert data.train_labels.tolist() == [0, 9, 1, 0, 9, 2, 0, 9, 3, 0, 9, 4, 0, 9, 5]
    assert data.test_labels.tolist() == [4, 5]
    assert float(data.train_images.min()) >= 0.0
    assert float(data.train_images.max()) <= 1.0


def test_cifar_pixels_keep_the_channel_major_layout(cifar10_dir: Path) -> None:
    # The 3,072 bytes of an image are 1,024 red, then green, then blue values, row by row.
    raw = cifar_images(3, 1)[0]
    image = load_cifar10(cifar10_dir).train_images[0]
    assert float(image[1, 0, 2]) == pytest.approx(raw[1024 + 2] / 255)
    assert float(image[2, 31, 31]) == pytest.approx(raw[3071] / 255)


def test_cifar100_reads_fine_labels(cifar100_dir: Path) -> None:
    data = load_cifar100(cifar100_dir)
    assert data.num_classes == 100
    assert data.train_images.shape == (4, 3, 32, 32)
    assert data.train_labels.tolist() == [0, 99, 50, 7]
    assert data.test_labels.tolist() == [3, 98]


def test_cifar_missing_file_names_the_files_and_the_source(cifar100_dir: Path) -> None:
    (cifar100_dir / "cifar-100-python" / "test").unlink()
    with pytest.raises(DataError) as caught:
        load_cifar100(cifar100_dir)
    message = str(caught.value)
    assert "cifar-100-python/train" in message
    assert "cifar-100-python/test" in message
    assert str(cifar100_dir) in message
    assert "University of Toronto" in message
    assert "python version" in message
    assert isinstance(caught.value, TaskError)  # the CLI prints TaskErrors as one line


def test_cifar_malformed_batch_is_one_clear_error(cifar10_dir: Path) -> None:
    (cifar10_dir / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match=r"data_batch_3 is malformed .*University of Toronto"):
        load_cifar10(cifar10_dir)


def test_cifar_wrong_label_key_is_malformed(cifar100_dir: Path) -> None:
    write_cifar_batch(
        cifar100_dir / "cifar-100-python" / "train", cifar_images(1, 0), [1], b"labels"
    )
    with pytest.raises(DataError, match="no key b'fine_labels'"):
        load_cifar100(cifar100_dir)


def test_cifar_pickle_cannot_run_code(cifar10_dir: Path) -> None:
    (cifar10_dir / "cifar-10-batches-py" / "test_batch").write_bytes(
        pickle.dumps({b"data": print}, protocol=2)
    )
    with pytest.raises(DataError, match=r"unexpected object (__builtin__|builtins)\.print"):
        load_cifar10(cifar10_dir)


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic 0x0000_08_dd, big-endian sizes, then the data."""
    header = struct.pack(f">I{array.ndim}I", 0x0800 | array.ndim, *array.shape)
    return header + array.astype(np.uint8).tobytes()


MNIST_NAMES = {
    "train-images-idx3-ubyte": np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256,
    "train-labels-idx1-ubyte": np.array([0, 9, 5]),
    "t10k-images-idx3-ubyte": np.full((2, 28, 28), 255),
    "t10k-labels-idx1-ubyte": np.array([1, 2]),
}


def write_mnist(folder: Path, gzipped: bool) -> None:
    for name, array in MNIST_NAMES.items():
        content = idx_bytes(array)
        if gzipped:
            (folder / f"{name}.gz").write_bytes(gzip.compress(content))
        else:
            (folder / name).write_bytes(content)


@pytest.mark.parametrize("gzipped", [True, False], ids=["gz", "plain"])
def test_mnist_idx_files(tmp_path: Path, gzipped: bool) -> None:
    write_mnist(tmp_path, gzipped)
    data = load_mnist(tmp_path)
    assert data.num_classes == 10
    assert data.train_images.shape == (3, 1, 28, 28)
    assert data.test_images.shape == (2, 1, 28, 28)
    assert data.train_images.dtype == torch.float32
    assert data.train_labels.dtype == torch.int64
    assert data.train_labels.tolist() == [0, 9, 5]
    assert float(data.train_images[0, 0, 0, 5]) == pytest.approx(5 / 255)
    assert bool((data.test_images == 1.0).all())


def test_mnist_missing_file_lists_all_four(tmp_path: Path) -> None:
    write_mnist(tmp_path, gzipped=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as caught:
        load_mnist(tmp_path)
    message = str(caught.value)
    for name in MNIST_NAMES:
        assert name in message
    assert "MNIST page" in message
    assert str(tmp_path) in message


def test_mnist_wrong_magic_number(tmp_path: Path) -> None:
    write_mnist(tmp_path, gzipped=False)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(struct.pack(">II", 0x0801 + 0x0100, 3) + bytes([0, 9, 5]))
    with pytest.raises(DataError, match=r"magic number 0x00000901, expected 0x00000801"):
        load_mnist(tmp_path)


def test_mnist_truncated_file(tmp_path: Path) -> None:
    write_mnist(tmp_path, gzipped=True)
    images = tmp_path / "train-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:-10]))
    with pytest.raises(DataError, match="header promises 2352"):
        load_mnist(tmp_path)


def test_mnist_corrupt_gzip_stream_is_malformed(tmp_path: Path) -> None:
    write_mnist(tmp_path, gzipped=True)
    images = tmp_path / "train-images-idx3-ubyte.gz"
    content = bytearray(images.read_bytes())
    content[30:60] = bytes(30)  # a broken deflate block: zlib.error, not an OSError
    images.write_bytes(bytes(content))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz is malformed \(unreadable"):
        load_mnist(tmp_path)


def test_mnist_images_of_another_size_are_malformed(tmp_path: Path) -> None:
    write_mnist(tmp_path, gzipped=False)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((2, 5, 5))))
    with pytest.raises(DataError, match="images of 5x5 pixels, expected 28x28"):
        load_mnist(tmp_path)


PTB_WORDS = "the cat sat\n a <unk> N \n"
PTB_CHARS = "t h e _ c a t\n a _ < u n k >\n"


def test_ptb_word_level(tmp_path: Path) -> None:
    (tmp_path / "ptb.train.txt").write_text(PTB_WORDS)
    (tmp_path / "ptb.valid.txt").write_text("the cat\n")
    corpus = load_ptb_words(tmp_path)
    assert corpus.vocabulary == ("<eos>", "<unk>", "N", "a", "cat", "sat", "the")
    words = [corpus.vocabulary[index] for index in corpus.train.tolist()]
    assert words == ["the", "cat", "sat", "<eos>", "a", "<unk>", "N", "<eos>"]
    assert corpus.train.dtype == torch.int64
    assert corpus.valid is not None
    assert corpus.valid.tolist() == [6, 4, 0]
    assert corpus.test is None


def test_ptb_char_level(tmp_path: Path) -> None:
    (tmp_path / "ptb.char.train.txt").write_text(PTB_CHARS)
    corpus = load_ptb_chars(tmp_path)
    text = "".join(corpus.vocabulary[index] for index in corpus.train.tolist())
    assert text == f"the_cat{PTB_END_OF_LINE}a_<unk>{PTB_END_OF_LINE}"
    assert all(len(symbol) == 1 for symbol in corpus.vocabulary)
    sequences = corpus.sequences(length=4)
    assert sequences.inputs.shape == sequences.targets.shape == (3, 4)
    assert sequences.inputs.dtype == sequences.targets.dtype == torch.int64
    assert torch.equal(sequences.inputs.flatten()[1:], sequences.targets.flatten()[:-1])


def test_ptb_char_vocabulary_of_the_shared_validation_split_has_50_symbols(tmp_path: Path) -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "data" / "ptb" / "ptb.char.valid.txt"
    if not shared.is_file():
        pytest.skip(f"{shared} is not present (reference data of the development checkout)")
    (tmp_path / "ptb.char.train.txt").write_bytes(shared.read_bytes())
    assert len(load_ptb_chars(tmp_path).vocabulary) == 50  # the authors' num_words


def test_ptb_missing_training_file(tmp_path: Path) -> None:
    (tmp_path / "ptb.char.valid.txt").write_text(PTB_CHARS)
    with pytest.raises(DataError) as caught:
        load_ptb_chars(tmp_path)
    message = str(caught.value)
    assert "ptb.char.train.txt" in message
    assert str(tmp_path) in message
    assert "simple-examples.tgz" in message
    assert "Mikolov" in message


def test_ptb_char_text_shorter_than_one_sequence_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "ptb.char.train.txt").write_text(PTB_CHARS)
    corpus = load_ptb_chars(tmp_path)
    with pytest.raises(DataError) as caught:
        corpus.sequences()
    message = str(caught.value)
    assert f"the text of {tmp_path / 'ptb.char.train.txt'} holds 16 symbols" in message
    assert "too few for one sequence of 100 and its target" in message


def test_ptb_char_file_holding_words_is_malformed(tmp_path: Path) -> None:
    (tmp_path / "ptb.char.train.txt").write_text(PTB_WORDS)
    with pytest.raises(DataError, match="'the' is not one character"):
        load_ptb_chars(tmp_path)


BABI_TRAIN = """1 Mary went to the kitchen.
2 John moved to the garden.
3 Where is Mary?\tkitchen\t1
4 Mary went back to the office.
5 Where is Mary?\toffice\t4
1 Sandra journeyed to the hallway.
2 Where is Sandra?\thallway\t1
"""
BABI_TEST = """1 John went to the office.
2 Where is John?\toffice\t1
"""
BABI_MEMBERS = {
    "tasks_1-20_v1-2/en-10k/qa1_single-supporting-fact_train.txt": BABI_TRAIN,
    "tasks_1-20_v1-2/en-10k/qa1_single-supporting-fact_test.txt": BABI_TEST,
    "tasks_1-20_v1-2/en-10k/qa14_time-reasoning_train.txt": "1 Bill ran.\n2 Where?\tpark\t1\n",
    "tasks_1-20_v1-2/en/qa1_single-supporting-fact_train.txt": "1 Not 10k.\n",
}


def write_babi_folder(root: Path) -> None:
    for name, text in BABI_MEMBERS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def write_babi_tarball(root: Path) -> None:
    with tarfile.open(root / "tasks_1-20_v1-2.tar.gz", "w:gz") as archive:
        for name, text in BABI_MEMBERS.items():
            content = text.encode()
            member = tarfile.TarInfo(name)
            member.size = len(content)
            archive.addfile(member, io.BytesIO(content))


@pytest.mark.parametrize(
    "write", [write_babi_folder, write_babi_tarball], ids=["folder", "tarball"]
)
def test_babi_question_one(tmp_path: Path, write: object) -> None:
    assert callable(write)
    write(tmp_path)
    data = load_babi(tmp_path, question=1)
    vocabulary = data.vocabulary
    assert vocabulary[0] == ""
    assert vocabulary[1:] == tuple(sorted(vocabulary[1:]))
    # The longest story is the second question's: every fact before it, of 6, 6 and 7 tokens.
    assert data.story_length == 19
    assert data.question_length == 4  # "Where is Mary ?"
    assert data.train_inputs.shape == (3, 19 + 4)
    assert data.test_inputs.shape == (1, 19 + 4)
    assert data.train_inputs.dtype == data.train_answers.dtype == torch.int64
    answers = [vocabulary[index] for index in data.train_answers.tolist()]
    assert answers == ["kitchen", "office", "hallway"]
    first = [vocabulary[index] for index in data.train_inputs[0].tolist()]
    story = [
        "Mary",
        "went",
        "to",
        "the",
        "kitchen",
        ".",
        "John",
        "moved",
        "to",
        "the",
        "garden",
        ".",
    ]
    assert first == [""] * (19 - 12) + story + ["Where", "is", "Mary", "?"]
    assert int(data.train_inputs.max()) < len(vocabulary)


def test_babi_missing_files_name_the_tarball_and_the_page(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        load_babi(tmp_path, question=14)
    message = str(caught.value)
    assert "en-10k/qa14_*_train.txt" in message
    assert "tasks_1-20_v1-2.tar.gz" in message
    assert "bAbI page" in message
    assert str(tmp_path) in message


def test_babi_tarball_without_the_question_is_malformed(tmp_path: Path) -> None:
    write_babi_tarball(tmp_path)
    with pytest.raises(DataError, match=r"no single member en-10k/qa14_\*_test.txt"):
        load_babi(tmp_path, question=14)


def test_babi_line_without_a_number_is_malformed(tmp_path: Path) -> None:
    write_babi_folder(tmp_path)
    path = tmp_path / next(iter(BABI_MEMBERS))
    path.write_text("Mary went to the kitchen.\n")
    with pytest.raises(DataError, match="line 1 does not start with a line number"):
        load_babi(tmp_path, question=1)


def test_babi_questions_without_a_story_are_malformed(tmp_path: Path) -> None:
    write_babi_folder(tmp_path)
    for name in list(BABI_MEMBERS)[:2]:
        (tmp_path / name).write_text("1 Where is Mary?\tpark\t1\n")
    with pytest.raises(DataError, match="no question has a story: the model needs both"):
        load_babi(tmp_path, question=1)


def test_babi_errors_name_the_file(tmp_path: Path) -> None:
    write_babi_folder(tmp_path)
    path = tmp_path / list(BABI_MEMBERS)[1]
    path.write_text("1 Where is John?\t\t1\n")
    with pytest.raises(DataError, match=f"bAbI file {re.escape(str(path))} is malformed"):
        load_babi(tmp_path, question=1)


def test_babi_question_number_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="bAbI question must be 1 to 20, got 21"):
        load_babi(tmp_path, question=21)


def test_char_sequences_exact_windows() -> None:
    pairs = char_sequences(torch.arange(10), "abcdefghij", length=3)
    assert pairs.inputs.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert pairs.targets.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    with pytest.raises(DataError, match="a text holds 3 symbols, too few for one sequence of 3"):
        char_sequences(torch.arange(3), "abc", length=3)


PYDOC_SHA256 = {
    # sha256 of load_pydoc_text()[:100_000], the embedded text task's slice, per Python version.
    (3, 11): "eeec80b2f129a720258ac604c33c0b2ac7d96c4d78b44d9f97ed5ea89b42e024",
}


def test_pydoc_text_slice_is_pinned() -> None:
    version = sys.version_info[:2]
    if version not in PYDOC_SHA256:
        pytest.skip(
            f"pydoc_data's text differs between Python versions; no hash is pinned for "
            f"{version[0]}.{version[1]} (pinned: {sorted(PYDOC_SHA256)})"
        )
    text = load_pydoc_text()
    assert len(text) == 100_000
    assert hashlib.sha256(text.encode()).hexdigest() == PYDOC_SHA256[version]


def test_pydoc_char_sequences() -> None:
    pairs = load_pydoc_chars()
    assert pairs.inputs.shape == pairs.targets.shape == (999, 100)
    assert pairs.inputs.dtype == torch.int64
    assert int(pairs.inputs.max()) < len(pairs.vocabulary)
    assert pairs.vocabulary == tuple(sorted(set(load_pydoc_text())))
    text = "".join(pairs.vocabulary[index] for index in pairs.inputs[0].tolist())
    assert text == load_pydoc_text()[:100]


def test_a_data_dir_one_level_too_deep_says_which_folder_to_pass(cifar100_dir: Path) -> None:
    with pytest.raises(DataError) as caught:
        load_cifar100(cifar100_dir / "cifar-100-python")
    assert f"They are in {cifar100_dir}: pass --data-dir {cifar100_dir}" in str(caught.value)


def test_ptb_in_the_unpacked_archive_says_which_folder_to_pass(tmp_path: Path) -> None:
    data = tmp_path / "simple-examples" / "data"
    data.mkdir(parents=True)
    (data / "ptb.char.train.txt").write_text(PTB_CHARS)
    with pytest.raises(DataError, match=f"pass --data-dir {re.escape(str(data))}"):
        load_ptb_chars(tmp_path)


def test_babi_1k_folder_is_named_as_the_wrong_version(tmp_path: Path) -> None:
    (tmp_path / "tasks_1-20_v1-2" / "en").mkdir(parents=True)
    with pytest.raises(DataError, match="is the 1,000-question version; the paper used en-10k"):
        load_babi(tmp_path, question=14)


def test_babi_data_dir_inside_the_archive_folder_says_which_to_pass(tmp_path: Path) -> None:
    write_babi_folder(tmp_path)
    with pytest.raises(DataError, match=f"pass --data-dir {re.escape(str(tmp_path))}$"):
        load_babi(tmp_path / "tasks_1-20_v1-2", question=1)

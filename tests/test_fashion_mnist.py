"""Fashion-MNIST: the idx reader's checks, where the files are looked for, agreement with
torchvision on the real files, and the tensors training builds from them."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from gair import data as datasets
from gair.data import readers, tensors
from gair.errors import DataError

torch.set_num_threads(1)

NAMES = readers.MNIST_NAMES  # train images, train labels, t10k images, t10k labels
DEBIAN = readers.FASHION_MNIST_DEBIAN  # the real one, before any test points it elsewhere


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An idx file's bytes: the magic number (0x0800 + rank unless given), the sizes, the values."""
    magic = 0x0800 + array.ndim if magic is None else magic
    sizes = b"".join(struct.pack(">i", d) for d in array.shape)
    return struct.pack(">i", magic) + sizes + array.astype(np.uint8).tobytes()


def write_split(
    folder: Path, n_train: int = 6, n_test: int = 3, seed: int = 0, gz: bool = True
) -> list[np.ndarray]:
    """The four Fashion-MNIST files in ``folder`` (gzipped, as distributed, unless ``gz`` is
    False); returns [x_train, y_train, x_test, y_test] as written."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = [
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_train, dtype=np.uint8),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_test, dtype=np.uint8),
    ]
    arrays[1][:2] = [0, 9]  # both ends of the label range
    for name, array in zip(NAMES, arrays, strict=True):
        raw = idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A data root for tiny files (6 training, 3 test images), with no Debian folder."""
    monkeypatch.setattr(readers, "FASHION_MNIST_COUNTS", (6, 3))
    monkeypatch.setattr(readers, "FASHION_MNIST_DEBIAN", tmp_path / "no-debian")
    return tmp_path / "root"


def raw(root: Path) -> Path:
    return root / "FashionMNIST" / "raw"


# --------------------------------------------------------------------------- the reader
def test_round_trip_exact(tiny: Path) -> None:
    written = write_split(raw(tiny))
    # torchvision may leave the unpacked file beside (or instead of) the .gz: either is read.
    (raw(tiny) / NAMES[3]).write_bytes(gzip.decompress((raw(tiny) / f"{NAMES[3]}.gz").read_bytes()))
    (raw(tiny) / f"{NAMES[3]}.gz").unlink()
    xtr, ytr, xte, yte = readers.read_fashion_mnist(tiny, False)
    assert xtr.dtype == xte.dtype == np.uint8 and ytr.dtype == yte.dtype == np.int64
    assert xtr.shape == (6, 1, 28, 28) and xte.shape == (3, 1, 28, 28)
    assert np.array_equal(xtr[:, 0], written[0]) and np.array_equal(xte[:, 0], written[2])
    assert np.array_equal(ytr, written[1]) and np.array_equal(yte, written[3])


def _put(folder: Path, k: int, data: bytes) -> Path:
    """File NAMES[k] of the split, replaced by ``data`` gzipped; its path."""
    path = folder / f"{NAMES[k]}.gz"
    path.write_bytes(gzip.compress(data))
    return path


def _unpacked(folder: Path, k: int) -> bytes:
    return gzip.decompress((folder / f"{NAMES[k]}.gz").read_bytes())


def _truncated_values(folder: Path) -> Path:
    return _put(folder, 0, _unpacked(folder, 0)[:-1])


def _truncated_gzip(folder: Path) -> Path:
    path = folder / f"{NAMES[2]}.gz"
    path.write_bytes(path.read_bytes()[:-20])
    return path


def _truncated_header(folder: Path) -> Path:
    return _put(folder, 3, struct.pack(">i", 0x0801) + b"\x00\x00")


def _trailing_bytes(folder: Path) -> Path:
    return _put(folder, 1, _unpacked(folder, 1) + b"\x00")


def _wrong_magic(folder: Path) -> Path:
    images = np.zeros((6, 28, 28), dtype=np.uint8)
    return _put(folder, 0, idx_bytes(images, magic=0x0D03))  # 0x0D: floats


def _labels_as_images(folder: Path) -> Path:
    return _put(folder, 2, idx_bytes(np.zeros(3, dtype=np.uint8)))


def _label_ten(folder: Path) -> Path:
    return _put(folder, 3, idx_bytes(np.array([1, 10, 2])))


def _fewer_labels(folder: Path) -> Path:
    return _put(folder, 1, idx_bytes(np.zeros(5, dtype=np.uint8)))


def _wrong_image_size(folder: Path) -> Path:
    return _put(folder, 0, idx_bytes(np.zeros((6, 28, 27), dtype=np.uint8)))


@pytest.mark.parametrize(
    ("corrupt", "what"),
    [
        (_truncated_values, r"is truncated: 4703 values after the header, which promises 4704"),
        (_truncated_gzip, r"cannot read .*"),
        (_truncated_header, r"is truncated: 6 bytes, less than its 8-byte header"),
        (_trailing_bytes, r"has trailing bytes: 7 values after the header, which promises 6"),
        (_wrong_magic, r"has magic number 0x00000d03, expected 0x00000803"),
        (_labels_as_images, r"has magic number 0x00000801, expected 0x00000803"),
        (_label_ten, r"has label 10 at index 1, outside 0\.\.9"),
        (_fewer_labels, r"holds 5 labels, but .*train-images-idx3-ubyte\.gz holds 6 images"),
        (_wrong_image_size, r"holds shape \(6, 28, 27\), expected N x 28 x 28"),
    ],
)
def test_bad_file_is_one_line_naming_it(tiny: Path, corrupt, what: str) -> None:
    write_split(raw(tiny))
    path = corrupt(raw(tiny))
    with pytest.raises(DataError) as err:
        tensors.load_dataset("fashion_mnist", root=tiny, download=False)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"fashion_mnist: {path} ") or message.startswith(
        f"fashion_mnist: cannot read {path}: "
    )
    assert re.search(what, message), message


def test_counts_must_be_the_real_ones(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(readers, "FASHION_MNIST_DEBIAN", tmp_path / "no-debian")
    write_split(raw(tmp_path))
    assert readers.FASHION_MNIST_COUNTS == (60000, 10000)
    message = f"fashion_mnist: {raw(tmp_path) / NAMES[0]}.gz holds 6 images, expected 60000"
    with pytest.raises(DataError, match=f"^{re.escape(message)}$"):
        readers.read_fashion_mnist(tmp_path, False)


def test_mnist_gets_the_same_checks(tmp_path: Path) -> None:
    folder = tmp_path / "MNIST" / "raw"
    write_split(folder, gz=False)  # MNIST: the same names and format, any count
    assert readers.read_mnist(tmp_path, False)[0].shape == (6, 1, 28, 28)
    _label_ten(folder)
    (folder / NAMES[3]).unlink()
    with pytest.raises(DataError, match=r"^mnist: .*t10k-labels-idx1-ubyte\.gz has label 10 "):
        tensors.load_dataset("mnist", root=tmp_path, download=False)


# --------------------------------------------------------------------------- where the files are
def test_data_root_first_then_debian(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    debian = tiny.parent / "debian"
    monkeypatch.setattr(readers, "FASHION_MNIST_DEBIAN", debian)
    from_debian = write_split(debian, seed=1)
    assert np.array_equal(readers.read_fashion_mnist(tiny, False)[0][:, 0], from_debian[0])
    assert readers.FASHION_MNIST_FILES.paths(tiny)[0] == debian / f"{NAMES[0]}.gz"
    assert datasets.fetch_missing("fashion_mnist", tiny)[0] == []
    # A data root holding only some of the files does not count: Debian's are read.
    raw(tiny).mkdir(parents=True)
    (raw(tiny) / NAMES[0]).write_bytes(idx_bytes(np.zeros((6, 28, 28))))
    assert np.array_equal(readers.read_fashion_mnist(tiny, False)[0][:, 0], from_debian[0])
    from_root = write_split(raw(tiny), seed=2, gz=False)
    assert np.array_equal(readers.read_fashion_mnist(tiny, False)[0][:, 0], from_root[0])
    assert readers.FASHION_MNIST_FILES.paths(tiny)[0] == raw(tiny) / NAMES[0]


def test_missing_names_both_ways_to_get_it(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def offline(cls_name: str, root: Path, **kwargs: object):
        def fetch() -> None:
            calls.append((cls_name, root))
            raise OSError("network unreachable")

        return fetch

    monkeypatch.setattr(readers, "_torchvision_fetch", offline)
    with pytest.raises(DataError) as err:
        tensors.load_dataset("fashion_mnist", root=tiny, download=True)
    assert calls == [("FashionMNIST", tiny)]
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"fashion_mnist: missing {raw(tiny) / NAMES[0]} (and 3 more); ")
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(readers.FASHION_MNIST_DEBIAN) in message
    assert f"torchvision's FashionMNIST download them into {raw(tiny)}" in message
    missing, hint = datasets.fetch_missing("fashion_mnist", tiny)
    assert len(missing) == 4 and "apt-get install dataset-fashion-mnist" in hint


# --------------------------------------------------------------------------- the real files
def _debian_files() -> list[Path]:
    files = [DEBIAN / f"{n}.gz" for n in NAMES]
    if not all(f.is_file() for f in files):
        pytest.skip(f"Fashion-MNIST is not in {DEBIAN} (apt-get install dataset-fashion-mnist)")
    return files


def test_real_files_match_torchvision(tmp_path: Path) -> None:
    files = _debian_files()
    try:
        from torchvision.datasets import FashionMNIST
    except ImportError as exc:
        pytest.skip(f"torchvision is not importable: {exc}")
    # torchvision's download=False wants the unpacked files in <root>/FashionMNIST/raw/.
    raw(tmp_path).mkdir(parents=True)
    for name, gz in zip(NAMES, files, strict=True):
        (raw(tmp_path) / name).write_bytes(gzip.decompress(gz.read_bytes()))
    theirs = [FashionMNIST(str(tmp_path), train=t, download=False) for t in (True, False)]
    from_root = readers.read_fashion_mnist(tmp_path, False)  # the unpacked copies
    from_debian = readers.read_fashion_mnist(tmp_path / "empty", False)  # Debian's .gz files
    for ours in (from_root, from_debian):
        xtr, ytr, xte, yte = ours
        assert xtr.shape == (60000, 1, 28, 28) and xte.shape == (10000, 1, 28, 28)
        for x, y, tv in ((xtr, ytr, theirs[0]), (xte, yte, theirs[1])):
            assert np.array_equal(x[:, 0], tv.data.numpy())
            assert y.dtype == np.int64 and np.array_equal(y, tv.targets.numpy())
    assert np.bincount(from_debian[1]).tolist() == [6000] * 10  # balanced classes
    assert np.bincount(from_debian[3]).tolist() == [1000] * 10


def test_load_dataset_real_files(tmp_path: Path) -> None:
    _debian_files()
    split = tensors.load_dataset(
        "fashion_mnist", root=tmp_path, download=False, train_subset=200, test_subset=50
    )
    info = datasets.dataset_info("fashion_mnist")
    assert (info.title, info.n_train, info.n_test) == ("Fashion-MNIST", 60000, 10000)
    assert split.x_train.shape == (200, 1, 28, 28) and split.x_train.dtype == torch.uint8
    assert split.y_train.dtype == torch.int64 and set(split.y_train.tolist()) == set(range(10))
    assert split.x_test.shape == (50, 1, 28, 28)
    assert (split.in_channels, split.image_size, split.num_classes) == (1, 28, 10)


# --------------------------------------------------------------------------- training
def test_training_builds_and_batches_the_tensors(tiny: Path) -> None:
    """The catalogue record and the training run's data: uint8 images that training scales
    and never augments (like MNIST), one channel of 28x28, 10 classes."""
    from gair.spec import RunSpec
    from gair.train.loop import Run

    info = datasets.dataset_info("fashion_mnist")
    assert info.kind == "image" and (info.augment_pad, info.augment_flip) == (0, False)
    written = write_split(raw(tiny))
    split = tensors.load_dataset("fashion_mnist", root=tiny, download=False)
    assert torch.equal(split.x_train[:, 0], torch.from_numpy(written[0]))
    assert split.y_test.tolist() == written[3].tolist()
    assert split.name == "fashion_mnist" and split.kind == "image"
    spec = RunSpec(dataset="fashion_mnist", model="mlp", depth=1, width=8, method="at",
                   epochs=1, batch_size=4, data_root=str(tiny), device="cpu")  # fmt: skip
    assert spec.augment
    run = Run(spec, tiny / "unused", log=lambda _: None)
    batches, n = run.epoch_batches(1)
    seen = []
    for index, xb, yb in batches:
        assert torch.equal(xb, run.data.x_train[index].float() / 255)
        assert torch.equal(yb, run.data.y_train[index])
        seen += index.tolist()
    assert n == 2 and sorted(seen) == list(range(6))
    with torch.no_grad():
        assert run.model(xb).shape == (len(xb), 10)

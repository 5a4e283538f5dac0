"""How each dataset of the catalogue (:mod:`gair.data`) is read or generated, as numpy arrays.

Real datasets (``cifar10``, ``cifar100``, ``svhn``, ``mnist``, ``fashion_mnist``) are read
from torchvision's on-disk layout under ``root`` (``fashion_mnist``, failing that, from
Debian's folder :data:`FASHION_MNIST_DEBIAN`); pickled files are read so that they cannot
run code (:func:`gair.io.load_pickle`). Offline datasets need no files and no network:

- ``digits``: scikit-learn's 1797 real 8x8 handwritten digits, pixel values 0..16 scaled to
  uint8 0..255, one channel, a fixed stratified split of 1437 train / 360 test points.
- ``moons``, ``circles``: scikit-learn's two-moons (noise 0.1) and two-circles (noise 0.05,
  factor 0.5) with a fixed random state, 1000 train / 500 test points, 2 classes. Both
  coordinates are mapped by one common affine map into [0.1, 0.9], so a PGD clamp to [0, 1]
  never moves a clean point; an ``eps`` for these sets is measured in these units (1.0 is
  1.25 times the larger of the two original coordinate ranges).
- ``digits_pseudo``: see :func:`digits_pseudo_pool`.

RST's pseudo-labelled pickle (Table 3) is read by :func:`read_pseudo_labelled`.
"""

from __future__ import annotations

import functools
import gzip
import pickle
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gair.errors import DataError
from gair.io import UnsafePickle, load_pickle

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test


# --------------------------------------------------------------------------- file readers
def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@dataclass(frozen=True)
class FileSet:
    """Where a real dataset's files lie under the data root, and how to get them."""

    paths: Callable[[Path], list[Path]]
    hint: Callable[[Path], str]  # how a person gets the files without network
    fetch: Callable[[Path], None]  # download them (torchvision); may fail offline


def _require(name: str, files: FileSet, root: Path, download: bool) -> list[Path]:
    """The dataset's files, fetched once when missing and allowed; DataError naming the
    first file still missing otherwise."""
    missing = [p for p in files.paths(root) if not p.is_file()]
    if missing and download:
        try_download(lambda: files.fetch(root))
        missing = [p for p in files.paths(root) if not p.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(
            f"{name}: missing {missing[0]}{more}; {files.hint(root)}, or run once with "
            "network access"
        )
    return files.paths(root)


def try_download(fetch: Callable[[], None]) -> None:
    # Offline machines are normal here: any failure just leaves the files missing, and the
    # caller reports which ones.
    try:
        fetch()
    except Exception:
        return


def _torchvision_fetch(cls_name: str, root: Path, **kwargs: object) -> Callable[[], None]:
    def fetch() -> None:
        import torchvision.datasets as tvd

        root.mkdir(parents=True, exist_ok=True)
        getattr(tvd, cls_name)(root=str(root), download=True, **kwargs)

    return fetch


def unpickle_data(name: str, path: Path, *, encoding: str = "ASCII") -> object:
    """A user's pickled data file, read so that it cannot run code (:func:`gair.io.load_pickle`);
    DataError naming the file when it is unreadable or asks for anything but arrays."""
    try:
        return load_pickle(path, encoding=encoding)
    except UnsafePickle as exc:
        raise DataError(
            f"{name}: {path} was refused: it asks to load {exc.qualname}, which could run "
            "code; the real file holds only arrays, lists and strings"
        ) from None
    except (OSError, EOFError, ValueError, IndexError, TypeError, pickle.UnpicklingError) as exc:
        raise DataError(f"{name}: cannot read {path}: {_one_line(exc)}") from None


def _unpickle(name: str, path: Path) -> dict:
    # The CIFAR batches are Python 2 pickles; latin1 turns their byte keys into str.
    obj = unpickle_data(name, path, encoding="latin1")
    if not isinstance(obj, dict):
        raise DataError(f"{name}: {path} does not hold a CIFAR batch dictionary")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _cifar_batches(name: str, paths: list[Path], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for path in paths:
        batch = _unpickle(name, path)
        if "data" not in batch or label_key not in batch:
            raise DataError(f"{name}: {path} lacks the keys 'data' and {label_key!r}")
        # Each row is 1024 red, 1024 green, 1024 blue values in row-major order: already CHW.
        xs.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch[label_key], dtype=np.int64).reshape(-1))
    return np.concatenate(xs), np.concatenate(ys)


def _cifar_hint(version: str) -> Callable[[Path], str]:
    return lambda root: (
        f"download CIFAR-{version} (python version) from https://www.cs.toronto.edu/~kriz/"
        f"cifar.html and unpack it under {root}"
    )


CIFAR10_FILES = FileSet(
    paths=lambda root: [
        root / "cifar-10-batches-py" / n
        for n in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
    ],
    hint=_cifar_hint("10"),
    fetch=lambda root: _torchvision_fetch("CIFAR10", root)(),
)
CIFAR100_FILES = FileSet(
    paths=lambda root: [root / "cifar-100-python" / n for n in ("train", "test")],
    hint=_cifar_hint("100"),
    fetch=lambda root: _torchvision_fetch("CIFAR100", root)(),
)


def read_cifar10(root: Path, download: bool) -> Arrays:
    paths = _require("cifar10", CIFAR10_FILES, root, download)
    train, test = paths[:5], paths[5:]
    return (*_cifar_batches("cifar10", train, "labels"), *_cifar_batches("cifar10", test, "labels"))


def read_cifar100(root: Path, download: bool) -> Arrays:
    train, test = _require("cifar100", CIFAR100_FILES, root, download)
    return (
        *_cifar_batches("cifar100", [train], "fine_labels"),
        *_cifar_batches("cifar100", [test], "fine_labels"),
    )


def _svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
        x, y = mat["X"], mat["y"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"svhn: cannot read {path}: {_one_line(exc)}") from exc
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise DataError(f"svhn: {path} holds X of shape {x.shape}, expected (32, 32, 3, N)")
    # X is stored as (H, W, C, N); SVHN marks the digit 0 with label 10.
    images = np.ascontiguousarray(x.transpose(3, 2, 0, 1), dtype=np.uint8)
    return images, np.asarray(y, dtype=np.int64).reshape(-1) % 10


def _fetch_svhn(root: Path) -> None:
    _torchvision_fetch("SVHN", root, split="train")()
    _torchvision_fetch("SVHN", root, split="test")()


SVHN_FILES = FileSet(
    paths=lambda root: [root / "train_32x32.mat", root / "test_32x32.mat"],
    hint=lambda root: (
        "download train_32x32.mat and test_32x32.mat from http://ufldl.stanford.edu/"
        f"housenumbers/ into {root}"
    ),
    fetch=_fetch_svhn,
)


def read_svhn(root: Path, download: bool) -> Arrays:
    train, test = _require("svhn", SVHN_FILES, root, download)
    return (*_svhn_mat(train), *_svhn_mat(test))


def _read_idx(
    path: Path, dataset: str = "mnist", shape: tuple[int | None, ...] | None = None
) -> np.ndarray:
    """Parse an idx file (MNIST's format): 2 zero bytes, a type byte (0x08: unsigned bytes), a
    rank byte, the big-endian int32 sizes, then exactly that many values. With ``shape`` (None
    where any size will do) the magic number must be 0x0800 + its rank and the sizes must
    match. Every failure is a one-line DataError naming ``dataset`` and the file."""
    try:
        raw = path.read_bytes()
        # bytearray: a writable buffer, so the tensors made from it own writable memory
        raw = bytearray(gzip.decompress(raw) if path.suffix == ".gz" else raw)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{dataset}: cannot read {path}: {_one_line(exc)}") from exc
    if len(raw) < 4:
        raise DataError(f"{dataset}: {path} is {len(raw)} bytes long, too short for an idx file")
    magic = int.from_bytes(raw[:4], "big")
    if shape is not None and magic != 0x0800 + len(shape):
        raise DataError(
            f"{dataset}: {path} has magic number 0x{magic:08x}, expected "
            f"0x{0x0800 + len(shape):08x} (an idx file of unsigned bytes of rank {len(shape)})"
        )
    if magic >> 8 != 0x08:
        raise DataError(
            f"{dataset}: {path} is not an idx file of unsigned bytes (magic number "
            f"0x{magic:08x}, expected 0x000008nn)"
        )
    rank = raw[3]
    header = 4 + 4 * rank
    if len(raw) < header:
        raise DataError(
            f"{dataset}: {path} is truncated: {len(raw)} bytes, less than its {header}-byte header"
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    if shape is not None and any(
        w is not None and w != d for w, d in zip(shape, dims, strict=True)
    ):
        want = " x ".join("N" if w is None else str(w) for w in shape)
        raise DataError(f"{dataset}: {path} holds shape {dims}, expected {want}")
    promised = int(np.prod(dims))
    if len(raw) - header != promised:
        what = "is truncated" if len(raw) - header < promised else "has trailing bytes"
        raise DataError(
            f"{dataset}: {path} {what}: {len(raw) - header} values after the header, which "
            f"promises {promised} ({' x '.join(map(str, dims))})"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_pair(
    dataset: str, images: Path, labels: Path, n: int | None = None, num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """One split of an MNIST-format dataset: images (magic 0x00000803, N x 28 x 28) and labels
    (magic 0x00000801, N) in 0..num_classes-1, N = ``n`` where given. Returns x uint8
    (N, 1, 28, 28) and y int64."""
    x = _read_idx(images, dataset, (None, 28, 28))
    y = _read_idx(labels, dataset, (None,))
    if len(y) != len(x):
        raise DataError(
            f"{dataset}: {labels} holds {len(y)} labels, but {images} holds {len(x)} images"
        )
    if n is not None and len(x) != n:
        raise DataError(f"{dataset}: {images} holds {len(x)} images, expected {n}")
    if len(y) and int(y.max()) >= num_classes:
        i = int(np.argmax(y >= num_classes))
        raise DataError(
            f"{dataset}: {labels} has label {int(y[i])} at index {i}, outside 0..{num_classes - 1}"
        )
    return x[:, None], y.astype(np.int64)


MNIST_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _idx_paths(folder: Path) -> list[Path]:
    # torchvision keeps both the .gz download and the unpacked file; either will do.
    return [
        folder / f"{n}.gz" if (folder / f"{n}.gz").is_file() else folder / n for n in MNIST_NAMES
    ]


def _mnist_paths(root: Path) -> list[Path]:
    return _idx_paths(root / "MNIST" / "raw")


MNIST_FILES = FileSet(
    paths=_mnist_paths,
    hint=lambda root: (
        "download the four MNIST idx files from https://ossci-datasets.s3.amazonaws.com/mnist/ "
        f"into {root / 'MNIST' / 'raw'}"
    ),
    fetch=lambda root: _torchvision_fetch("MNIST", root)(),
)


def read_mnist(root: Path, download: bool) -> Arrays:
    train_x, train_y, test_x, test_y = _require("mnist", MNIST_FILES, root, download)
    return (*read_idx_pair("mnist", train_x, train_y), *read_idx_pair("mnist", test_x, test_y))


# Fashion-MNIST (Xiao et al. 2017): MNIST's file names and format, clothing instead of digits.
# Debian's package dataset-fashion-mnist installs the four .gz files here.
FASHION_MNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_COUNTS = (60000, 10000)  # training and test images


def _fashion_mnist_paths(root: Path) -> list[Path]:
    """torchvision's layout under the data root, failing that Debian's folder; where neither
    holds all four files, the data root's (so a missing file is named there)."""
    for folder in (root / "FashionMNIST" / "raw", FASHION_MNIST_DEBIAN):
        paths = _idx_paths(folder)
        if all(p.is_file() for p in paths):
            return paths
    return _idx_paths(root / "FashionMNIST" / "raw")


FASHION_MNIST_FILES = FileSet(
    paths=_fashion_mnist_paths,
    hint=lambda root: (
        "install Debian's package (apt-get install dataset-fashion-mnist, which puts the four "
        f"idx files in {FASHION_MNIST_DEBIAN}) or let torchvision's FashionMNIST download "
        f"them into {root / 'FashionMNIST' / 'raw'}"
    ),
    fetch=lambda root: _torchvision_fetch("FashionMNIST", root)(),
)


def read_fashion_mnist(root: Path, download: bool) -> Arrays:
    """Fashion-MNIST: 60,000 training and 10,000 test 28x28 grayscale images, 10 classes."""
    name, (n_train, n_test) = "fashion_mnist", FASHION_MNIST_COUNTS
    train_x, train_y, test_x, test_y = _require(name, FASHION_MNIST_FILES, root, download)
    return (
        *read_idx_pair(name, train_x, train_y, n_train),
        *read_idx_pair(name, test_x, test_y, n_test),
    )


@functools.cache
def _digits_split() -> Arrays:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # 0..16 -> 0..255 so that digits are stored and scaled like every other image set.
    x = np.rint(digits.data * (255.0 / 16.0)).astype(np.uint8).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    # A fixed split, independent of any run's seed, stratified so every class is in both.
    train, test = train_test_split(np.arange(len(y)), test_size=360, stratify=y, random_state=0)
    return x[train], y[train], x[test], y[test]


def read_digits(root: Path, download: bool) -> Arrays:
    return tuple(a.copy() for a in _digits_split())  # type: ignore[return-value]


def _digits_halves() -> tuple[np.ndarray, np.ndarray]:
    """The two fixed halves of the digits training split (``np.random.RandomState(1)``)."""
    n = len(_digits_split()[1])
    order = np.random.RandomState(1).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


def read_digits_pseudo(root: Path, download: bool) -> Arrays:
    """``digits_pseudo``'s labelled part: the first half of the digits training split (718
    points, true labels) and the digits test split. Its pool: :func:`digits_pseudo_pool`."""
    xtr, ytr, xte, yte = _digits_split()
    labelled, _ = _digits_halves()
    return xtr[labelled].copy(), ytr[labelled].copy(), xte.copy(), yte.copy()


def digits_pseudo_pool() -> tuple[np.ndarray, np.ndarray]:
    """A small stand-in for RST's 500K pseudo-labelled images: the other half of the digits
    training split (719 images), labelled by a logistic regression fit on the labelled half,
    as robust self-training labels unlabelled data with a classifier trained on labelled
    data. Its true labels are not used."""
    from sklearn.linear_model import LogisticRegression

    xtr, ytr, _, _ = _digits_split()
    labelled, unlabelled = _digits_halves()
    flat = xtr.reshape(len(ytr), -1).astype(np.float64) / 255.0
    clf = LogisticRegression(max_iter=2000).fit(flat[labelled], ytr[labelled])
    return xtr[unlabelled].copy(), clf.predict(flat[unlabelled]).astype(np.int64)


RST_FILE = "ti_500K_pseudo_labeled.pickle"
RST_SOURCE = "RST's repository, https://github.com/yaircarmon/semisup-adv"


def read_pseudo_labelled(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """RST's pseudo-labelled images from its pickle (``ti_500K_pseudo_labeled.pickle``): a
    dict with ``data``, uint8 (N, H, W, C), and ``extrapolated_targets`` (N,). Returns x
    uint8 NCHW and y int64. The file is read so that it cannot run code."""
    file = Path(path)
    what = f"unlabeled_path {str(file)!r}"
    if not file.is_file():
        raise DataError(
            f"{what} does not exist; it is the user-supplied {RST_FILE} from {RST_SOURCE}"
        )
    obj = unpickle_data(what, file)
    if not isinstance(obj, dict) or "data" not in obj or "extrapolated_targets" not in obj:
        raise DataError(
            f"{what} is not RST's format: expected a dict with keys 'data' and "
            "'extrapolated_targets'"
        )
    x = np.asarray(obj["data"])
    try:
        y = np.asarray(obj["extrapolated_targets"]).reshape(-1).astype(np.int64)
    except (TypeError, ValueError):
        raise DataError(f"{what}: 'extrapolated_targets' are not integer labels") from None
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[0] != y.shape[0]:
        raise DataError(
            f"{what} holds data {x.dtype} {x.shape} and {y.shape[0]} targets; expected uint8 "
            "(N, 32, 32, 3) and N targets"
        )
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), y


def _points(make: Callable[..., tuple[np.ndarray, np.ndarray]], **kwargs: object) -> Arrays:
    x, y = make(n_samples=1500, shuffle=True, random_state=0, **kwargs)
    low, high = x.min(axis=0), x.max(axis=0)
    # One scale for both axes keeps the geometry (and the L-inf ball) undistorted.
    x = (x - (low + high) / 2) / (high - low).max() * 0.8 + 0.5
    x, y = x.astype(np.float32), y.astype(np.int64)
    return x[:1000], y[:1000], x[1000:], y[1000:]


def read_moons(root: Path, download: bool) -> Arrays:
    from sklearn.datasets import make_moons

    return _points(make_moons, noise=0.1)


def read_circles(root: Path, download: bool) -> Arrays:
    from sklearn.datasets import make_circles

    return _points(make_circles, noise=0.05, factor=0.5)

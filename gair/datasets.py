"""The dataset registry: every dataset's shape, size, augmentation and on-disk reader.

Plain numpy (no torch), so that the plan and the cost model can ask a dataset's size without
importing torch; :mod:`gair.data` turns what a reader returns into device tensors.

Real datasets (``cifar10``, ``cifar100``, ``svhn``, ``mnist``) are read from torchvision's
on-disk layout under ``root``; pickled files are read so that they cannot run code
(:func:`gair.io.load_pickle`). Offline datasets need no files and no network:

- ``digits``: scikit-learn's 1797 real 8x8 handwritten digits, pixel values 0..16 scaled to
  uint8 0..255, one channel, a fixed stratified split of 1437 train / 360 test points.
- ``moons``, ``circles``: scikit-learn's two-moons (noise 0.1) and two-circles (noise 0.05,
  factor 0.5) with a fixed random state, 1000 train / 500 test points, 2 classes. Both
  coordinates are mapped by one common affine map into [0.1, 0.9], so a PGD clamp to [0, 1]
  never moves a clean point; an ``eps`` for these sets is measured in these units (1.0 is
  1.25 times the larger of the two original coordinate ranges).
- ``digits_pseudo``: see :func:`_digits_pseudo_pool`.

RST's pseudo-labelled pickle (Table 3) is read by :func:`read_pseudo_labelled`.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gair.errors import ConfigError, DataError
from gair.io import UnsafePickle, atomic_path, load_pickle

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test


# --------------------------------------------------------------------------- the registry type
@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry: the dataset's shape and how to read it."""

    name: str
    kind: str  # "image" | "points"
    num_classes: int
    in_channels: int
    image_size: int  # 0 for point sets
    augment_pad: int
    augment_flip: bool
    title: str  # display name in figures and tables
    n_train: int  # labelled training points (a pseudo-labelled pool comes on top)
    n_test: int
    read: Callable[[Path, bool], Arrays] = dataclasses.field(repr=False, compare=False)
    # A pseudo-labelled pool that comes with the dataset (digits_pseudo), as (x, y).
    pool: Callable[[], tuple[np.ndarray, np.ndarray]] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )
    # The files a real dataset reads under the data root (None: generated, no files).
    files: FileSet | None = dataclasses.field(default=None, repr=False, compare=False)


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
        _try_download(lambda: files.fetch(root))
        missing = [p for p in files.paths(root) if not p.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(
            f"{name}: missing {missing[0]}{more}; {files.hint(root)}, or run once with "
            "network access"
        )
    return files.paths(root)


def _try_download(fetch: Callable[[], None]) -> None:
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


def _read_cifar10(root: Path, download: bool) -> Arrays:
    paths = _require("cifar10", CIFAR10_FILES, root, download)
    train, test = paths[:5], paths[5:]
    return (*_cifar_batches("cifar10", train, "labels"), *_cifar_batches("cifar10", test, "labels"))


def _read_cifar100(root: Path, download: bool) -> Arrays:
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


def _read_svhn(root: Path, download: bool) -> Arrays:
    train, test = _require("svhn", SVHN_FILES, root, download)
    return (*_svhn_mat(train), *_svhn_mat(test))


def _read_idx(path: Path) -> np.ndarray:
    """Parse an idx file (MNIST's format): 2 zero bytes, a type byte, a rank byte, the
    big-endian int32 sizes, then the values."""
    try:
        raw = path.read_bytes()
        # bytearray: a writable buffer, so the tensors made from it own writable memory
        raw = bytearray(gzip.decompress(raw) if path.suffix == ".gz" else raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"mnist: cannot read {path}: {_one_line(exc)}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"mnist: {path} is not an idx file of unsigned bytes")
    rank = raw[3]
    header = 4 + 4 * rank
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    if len(raw) != header + int(np.prod(dims)):
        raise DataError(f"mnist: {path} has {len(raw) - header} values, its header says {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


MNIST_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _mnist_paths(root: Path) -> list[Path]:
    # torchvision keeps both the .gz download and the unpacked file; either will do.
    raw = root / "MNIST" / "raw"
    return [raw / f"{n}.gz" if (raw / f"{n}.gz").is_file() else raw / n for n in MNIST_NAMES]


MNIST_FILES = FileSet(
    paths=_mnist_paths,
    hint=lambda root: (
        "download the four MNIST idx files from https://ossci-datasets.s3.amazonaws.com/mnist/ "
        f"into {root / 'MNIST' / 'raw'}"
    ),
    fetch=lambda root: _torchvision_fetch("MNIST", root)(),
)


def _read_mnist(root: Path, download: bool) -> Arrays:
    paths = _require("mnist", MNIST_FILES, root, download)
    xtr, ytr, xte, yte = (_read_idx(p) for p in paths)
    return xtr[:, None], ytr.astype(np.int64), xte[:, None], yte.astype(np.int64)


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


def _read_digits(root: Path, download: bool) -> Arrays:
    return tuple(a.copy() for a in _digits_split())  # type: ignore[return-value]


def _digits_halves() -> tuple[np.ndarray, np.ndarray]:
    """The two fixed halves of the digits training split (``np.random.RandomState(1)``)."""
    n = len(_digits_split()[1])
    order = np.random.RandomState(1).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


def _read_digits_pseudo(root: Path, download: bool) -> Arrays:
    """``digits_pseudo``'s labelled part: the first half of the digits training split (718
    points, true labels) and the digits test split. Its pool: :func:`_digits_pseudo_pool`."""
    xtr, ytr, xte, yte = _digits_split()
    labelled, _ = _digits_halves()
    return xtr[labelled].copy(), ytr[labelled].copy(), xte.copy(), yte.copy()


def _digits_pseudo_pool() -> tuple[np.ndarray, np.ndarray]:
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


def _read_moons(root: Path, download: bool) -> Arrays:
    from sklearn.datasets import make_moons

    return _points(make_moons, noise=0.1)


def _read_circles(root: Path, download: bool) -> Arrays:
    from sklearn.datasets import make_circles

    return _points(make_circles, noise=0.05, factor=0.5)


# --------------------------------------------------------------------------- the registry
DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "cifar10",
            "image",
            10,
            3,
            32,
            4,
            True,
            "CIFAR-10",
            50000,
            10000,
            _read_cifar10,
            files=CIFAR10_FILES,
        ),
        DatasetInfo(
            "cifar100",
            "image",
            100,
            3,
            32,
            4,
            True,
            "CIFAR-100",
            50000,
            10000,
            _read_cifar100,
            files=CIFAR100_FILES,
        ),
        # The authors' code augments SVHN like CIFAR-10 and does not augment MNIST.
        DatasetInfo("svhn", "image", 10, 3, 32, 4, True, "SVHN", 73257, 26032, _read_svhn),
        DatasetInfo(
            "mnist",
            "image",
            10,
            1,
            28,
            0,
            False,
            "MNIST",
            60000,
            10000,
            _read_mnist,
            files=MNIST_FILES,
        ),
        # Not augmented, like MNIST: a one-pixel shift of an 8x8 digit moves an eighth of
        # it, and with it the same AT MLP had 54% test error after 2 epochs instead of 22%.
        DatasetInfo("digits", "image", 10, 1, 8, 0, False, "digits (8x8)", 1437, 360, _read_digits),
        DatasetInfo("moons", "points", 2, 2, 0, 0, False, "moons", 1000, 500, _read_moons),
        DatasetInfo("circles", "points", 2, 2, 0, 0, False, "circles", 1000, 500, _read_circles),
        DatasetInfo(
            "digits_pseudo",
            "image",
            10,
            1,
            8,
            0,
            False,
            "digits + pseudo-labels",
            718,
            360,
            _read_digits_pseudo,
            pool=_digits_pseudo_pool,
        ),
    )
}


def fetch_missing(name: str, root: str | Path) -> tuple[list[Path], str]:
    """Try once to download a real dataset whose files are missing under ``root``; returns
    the files still missing and how a person gets them (empty for generated sets)."""
    info = dataset_info(name)
    if info.files is None:
        return [], ""
    root = Path(root)
    missing = [p for p in info.files.paths(root) if not p.is_file()]
    if missing:
        _try_download(lambda: info.files.fetch(root))  # type: ignore[union-attr]
        missing = [p for p in info.files.paths(root) if not p.is_file()]
    return missing, info.files.hint(root)


def dataset_names() -> list[str]:
    """The names :func:`load_dataset` accepts."""
    return list(DATASETS)


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of ``name``; DataError naming the valid names otherwise."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid datasets are: {', '.join(DATASETS)}")
    return DATASETS[name]


def class_mixed_order(y: np.ndarray) -> np.ndarray:
    """A fixed order that takes the 1st point of every class, then the 2nd of every class, ...

    Within a class, points keep their stored order. Its first n entries are the points a
    subset of size n keeps, so even a tiny subset holds every class.
    """
    y = np.asarray(y).reshape(-1)
    by_class = np.argsort(y, kind="stable")
    sorted_y = y[by_class]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_y)) + 1]
    counts = np.diff(np.r_[starts, len(y)])
    rank = np.empty(len(y), dtype=np.int64)
    rank[by_class] = np.arange(len(y)) - np.repeat(starts, counts)
    return np.lexsort((y, rank))


def take_subset(name: str, which: str, n: int, x: np.ndarray, y: np.ndarray):
    if n == 0:
        return x, y
    if n > len(y):
        raise ConfigError(f"{which}_subset={n} exceeds the {len(y)} {which} points of {name}")
    # Kept in stored order, so a subset of every point is the whole split.
    keep = np.sort(class_mixed_order(y)[:n])
    return x[keep], y[keep]


# Generated sets are cached as .npz under the data root: building them needs scikit-learn,
# whose import costs about a second per process, more than a smoke-scale training job.
GENERATED = ("digits", "digits_pseudo", "moons", "circles")
CACHE_VERSION = 2
SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _build(info: DatasetInfo, root: Path, download: bool) -> dict[str, np.ndarray]:
    arrays = dict(zip(SPLIT_KEYS, info.read(root, download), strict=True))
    if info.pool is not None:
        arrays["x_pool"], arrays["y_pool"] = info.pool()
    return arrays


def read_arrays(info: DatasetInfo, root: Path, download: bool) -> dict[str, np.ndarray]:
    if info.name not in GENERATED:
        return _build(info, root, download)
    cache = root / "generated" / f"{info.name}-v{CACHE_VERSION}.npz"
    if cache.is_file():
        try:
            with np.load(cache) as saved:
                return {k: saved[k] for k in saved.files}
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache: rebuild it below
    arrays = _build(info, root, download)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    except OSError:
        pass  # a read-only data root only costs the rebuild next time
    return arrays

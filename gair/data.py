"""Datasets held as tensors on the device, and the batch pipeline that feeds training.

Images are kept as uint8 NCHW tensors on the device and turned into float32 in [0, 1] one
batch at a time (the paper scales every pixel by 1/255, Appendix C.8). Augmentation is the
standard CIFAR one the paper uses: a random crop with 4-pixel zero padding followed by a
random horizontal flip, done for a whole batch with two gathers, on the device.

Real datasets (``cifar10``, ``cifar100``, ``svhn``, ``mnist``) are read from torchvision's
on-disk layout under ``root``. Offline datasets need no files and no network:

- ``digits``: scikit-learn's 1797 real 8x8 handwritten digits, pixel values 0..16 scaled to
  uint8 0..255, one channel, a fixed stratified split of 1437 train / 360 test points.
- ``moons``, ``circles``: scikit-learn's two-moons (noise 0.1) and two-circles (noise 0.05,
  factor 0.5) with a fixed random state, 1000 train / 500 test points, 2 classes. Both
  coordinates are mapped by one common affine map into [0.1, 0.9], so a PGD clamp to [0, 1]
  never moves a clean point; an ``eps`` for these sets is measured in these units (1.0 is
  1.25 times the larger of the two original coordinate ranges).
- ``digits_pseudo``: see :func:`_read_digits_pseudo`.

Determinism: the order and the augmentation of epoch ``e`` are drawn from one generator on
the data's device seeded from ``(seed, e)`` only, so a resumed run sees exactly the batches
an uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gair.atomic import atomic_path
from gair.errors import ConfigError, DataError

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test


# --------------------------------------------------------------------------- the split type
@dataclass
class DataSplit:
    """A dataset's train and test split as tensors on one device.

    ``in_channels`` is the number of input channels of an image, or the number of input
    coordinates (2) of a point set. ``augment_pad`` and ``augment_flip`` are the dataset's
    training augmentation, to pass on to :func:`iterate_batches`.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    in_channels: int
    image_size: int
    kind: str
    name: str = ""
    augment_pad: int = 4
    augment_flip: bool = True
    n_labelled: int = 0  # > 0: only the first n_labelled training points carry true labels

    def to(self, device: str | torch.device) -> DataSplit:
        """The same split with every tensor on ``device``."""
        return dataclasses.replace(
            self,
            x_train=self.x_train.to(device),
            y_train=self.y_train.to(device),
            x_test=self.x_test.to(device),
            y_test=self.y_test.to(device),
        )


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
    description: str
    read: Callable[[Path, bool], Arrays] = dataclasses.field(repr=False, compare=False)


# --------------------------------------------------------------------------- file readers
def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _require(
    name: str,
    paths: Callable[[], list[Path]],
    hint: str,
    fetch: Callable[[], None],
    download: bool,
) -> None:
    """Fetch missing files once when allowed; raise one line naming what is still missing."""
    missing = [p for p in paths() if not p.is_file()]
    if missing and download:
        _try_download(fetch)
        missing = [p for p in paths() if not p.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(
            f"{name}: missing {missing[0]}{more}; {hint}, or run once with network access"
        )


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


def _unpickle(name: str, path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            # The CIFAR batches are Python 2 pickles; latin1 turns their byte keys into str.
            obj = pickle.load(fh, encoding="latin1")
    except (OSError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise DataError(f"{name}: cannot read {path}: {_one_line(exc)}") from exc
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


def _read_cifar10(root: Path, download: bool) -> Arrays:
    base = root / "cifar-10-batches-py"
    train = [base / f"data_batch_{i}" for i in range(1, 6)]
    test = [base / "test_batch"]
    hint = (
        "download CIFAR-10 (python version) from https://www.cs.toronto.edu/~kriz/cifar.html "
        f"and unpack it under {root}"
    )
    _require("cifar10", lambda: train + test, hint, _torchvision_fetch("CIFAR10", root), download)
    return (*_cifar_batches("cifar10", train, "labels"), *_cifar_batches("cifar10", test, "labels"))


def _read_cifar100(root: Path, download: bool) -> Arrays:
    base = root / "cifar-100-python"
    train, test = [base / "train"], [base / "test"]
    hint = (
        "download CIFAR-100 (python version) from https://www.cs.toronto.edu/~kriz/cifar.html "
        f"and unpack it under {root}"
    )
    _require("cifar100", lambda: train + test, hint, _torchvision_fetch("CIFAR100", root), download)
    return (
        *_cifar_batches("cifar100", train, "fine_labels"),
        *_cifar_batches("cifar100", test, "fine_labels"),
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


def _read_svhn(root: Path, download: bool) -> Arrays:
    train, test = root / "train_32x32.mat", root / "test_32x32.mat"
    hint = (
        "download train_32x32.mat and test_32x32.mat from http://ufldl.stanford.edu/housenumbers/ "
        f"into {root}"
    )

    def fetch() -> None:
        _torchvision_fetch("SVHN", root, split="train")()
        _torchvision_fetch("SVHN", root, split="test")()

    _require("svhn", lambda: [train, test], hint, fetch, download)
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


def _read_mnist(root: Path, download: bool) -> Arrays:
    raw = root / "MNIST" / "raw"
    names = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]

    def paths() -> list[Path]:
        # torchvision keeps both the .gz download and the unpacked file; either will do.
        return [raw / f"{n}.gz" if (raw / f"{n}.gz").is_file() else raw / n for n in names]

    hint = (
        "download the four MNIST idx files from https://ossci-datasets.s3.amazonaws.com/mnist/ "
        f"into {raw}"
    )
    _require("mnist", paths, hint, _torchvision_fetch("MNIST", root), download)
    xtr, ytr, xte, yte = (_read_idx(p) for p in paths())
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


@functools.cache
def _digits_pseudo_labels() -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    xtr, ytr, _, _ = _digits_split()
    n = len(ytr)
    order = np.random.RandomState(1).permutation(n)
    labelled, unlabelled = order[: n // 2], order[n // 2 :]
    flat = xtr.reshape(n, -1).astype(np.float64) / 255.0
    clf = LogisticRegression(max_iter=2000).fit(flat[labelled], ytr[labelled])
    labels = ytr.copy()
    labels[unlabelled] = clf.predict(flat[unlabelled]).astype(np.int64)
    return labels


def _read_digits_pseudo(root: Path, download: bool) -> Arrays:
    """A small stand-in for the 500K pseudo-labelled images that GAIR-RST (Table 3) adds.

    The images are the ``digits`` training split. A fixed half of them (the first 718 of a
    fixed permutation, ``np.random.RandomState(1)``) keeps its true labels; the other half
    gets the labels predicted by a logistic regression fit on the first half, as robust
    self-training labels unlabelled data with a classifier trained on labelled data. The
    test split is the ``digits`` test split.
    """
    xtr, _, xte, yte = _digits_split()
    return xtr.copy(), _digits_pseudo_labels().copy(), xte.copy(), yte.copy()


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
        DatasetInfo("cifar10", "image", 10, 3, 32, 4, True, "CIFAR-10", _read_cifar10),
        DatasetInfo("cifar100", "image", 100, 3, 32, 4, True, "CIFAR-100", _read_cifar100),
        # The authors' code augments SVHN like CIFAR-10 and does not augment MNIST.
        DatasetInfo("svhn", "image", 10, 3, 32, 4, True, "SVHN (train/test)", _read_svhn),
        DatasetInfo("mnist", "image", 10, 1, 28, 0, False, "MNIST", _read_mnist),
        # An 8x8 digit shifted by 4 would lose half of itself, and digits are not mirror
        # symmetric: one pixel of shift, no flip.
        DatasetInfo("digits", "image", 10, 1, 8, 1, False, "sklearn digits", _read_digits),
        DatasetInfo("moons", "points", 2, 2, 0, 0, False, "two moons", _read_moons),
        DatasetInfo("circles", "points", 2, 2, 0, 0, False, "two circles", _read_circles),
        DatasetInfo(
            "digits_pseudo",
            "image",
            10,
            1,
            8,
            1,
            False,
            "digits with half of the training labels pseudo-labelled",
            _read_digits_pseudo,
        ),
    )
}


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


def _subset(name: str, which: str, n: int, x: np.ndarray, y: np.ndarray):
    if n == 0:
        return x, y
    if n > len(y):
        raise ConfigError(f"{which}_subset={n} exceeds the {len(y)} {which} points of {name}")
    # Kept in stored order, so a subset of every point is the whole split.
    keep = np.sort(class_mixed_order(y)[:n])
    return x[keep], y[keep]


def load_dataset(
    name: str,
    *,
    root: str | Path = "resources/data",
    device: str | torch.device = "cpu",
    train_subset: int = 0,
    test_subset: int = 0,
    download: bool = True,
) -> DataSplit:
    """Read a registered dataset into tensors on ``device``.

    Images come back as uint8 NCHW, point sets as float32 (N, 2); labels are int64.
    ``train_subset``/``test_subset`` = n > 0 keep the first n points of
    :func:`class_mixed_order`, a fixed order that does not depend on any seed.
    """
    info = dataset_info(name)
    for which, n in (("train", train_subset), ("test", test_subset)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"{which}_subset={n!r} must be an integer >= 0 (0: every point)")
    xtr, ytr, xte, yte = _read_cached(info, Path(root), download)
    xtr, ytr = _subset(name, "train", train_subset, xtr, ytr)
    xte, yte = _subset(name, "test", test_subset, xte, yte)

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device)

    return DataSplit(
        x_train=tensor(xtr),
        y_train=tensor(ytr.astype(np.int64, copy=False)),
        x_test=tensor(xte),
        y_test=tensor(yte.astype(np.int64, copy=False)),
        num_classes=info.num_classes,
        in_channels=info.in_channels,
        image_size=info.image_size,
        kind=info.kind,
        name=info.name,
        augment_pad=info.augment_pad,
        augment_flip=info.augment_flip,
    )


# Generated sets are cached as .npz under the data root: building them needs scikit-learn,
# whose import costs about a second per process, more than a smoke-scale training job.
GENERATED = ("digits", "digits_pseudo", "moons", "circles")
CACHE_VERSION = 1


def _read_cached(info: DatasetInfo, root: Path, download: bool) -> Arrays:
    if info.name not in GENERATED:
        return info.read(root, download)
    cache = root / "generated" / f"{info.name}-v{CACHE_VERSION}.npz"
    if cache.is_file():
        try:
            with np.load(cache) as saved:
                return tuple(saved[k] for k in ("x_train", "y_train", "x_test", "y_test"))  # type: ignore[return-value]
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache: rebuild it below
    arrays = info.read(root, download)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle, **dict(zip(("x_train", "y_train", "x_test", "y_test"), arrays, strict=True))
            )
    except OSError:
        pass  # a read-only data root only costs the rebuild next time
    return arrays


# --------------------------------------------------------------------------- batches
def as_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1] (pixel / 255); float tensors unchanged."""
    if x.dtype == torch.uint8:
        return x.to(torch.float32).div_(255.0)
    return x


def epoch_generator(seed: int, epoch: int, device: str | torch.device) -> torch.Generator:
    """A generator on ``device`` whose stream depends only on ``(seed, epoch)``."""
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed((seed * 100_003 + epoch) % 2**63)
    return gen


def epoch_order(n: int, *, seed: int, epoch: int, device: str | torch.device) -> torch.Tensor:
    """The permutation of ``range(n)`` that :func:`iterate_batches` uses in ``epoch``."""
    return torch.randperm(n, generator=epoch_generator(seed, epoch, device), device=device)


def draw_crop_flip(
    n: int,
    generator: torch.Generator,
    *,
    pad: int,
    device: str | torch.device,
    flip: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample crop offsets in [0, 2 * pad] (rows, then columns) and flip bits.

    The flip bits are drawn even with ``flip=False`` (then all false), so the generator's
    stream after this call does not depend on ``flip``.
    """
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=device)
    flips = torch.randint(0, 2, (n,), generator=generator, device=device) == 1
    return dy, dx, flips if flip else torch.zeros_like(flips)


def crop_flip(
    x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flips: torch.Tensor, *, pad: int
) -> torch.Tensor:
    """Zero-pad NCHW images by ``pad``, crop each back to H x W at its own offset
    ``(dy[i], dx[i])``, and mirror the crops where ``flips[i]`` holds.

    Two gathers on the device (rows, then columns); no loop over samples.
    """
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad)) if pad else x
    rows = dy[:, None] + torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device).expand(n, w)
    # Crop then flip (as torchvision composes them): output column j reads column w-1-j.
    cols = torch.where(flips[:, None], w - 1 - cols, cols) + dx[:, None]
    out = padded.gather(2, rows[:, None, :, None].expand(n, c, h, padded.shape[3]))
    return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))


def augment(
    x: torch.Tensor, generator: torch.Generator, *, pad: int = 4, flip: bool = True
) -> torch.Tensor:
    """Random crop with ``pad``-pixel zero padding, then a random horizontal flip (Appendix
    C.8's standard augmentation), drawn independently for every image of the NCHW batch."""
    if x.dim() != 4:
        raise ConfigError(f"augment expects NCHW images, got a tensor of shape {tuple(x.shape)}")
    if pad < 0:
        raise ConfigError(f"augment pad={pad} must be >= 0")
    if pad == 0 and not flip:
        return x
    dy, dx, flips = draw_crop_flip(x.shape[0], generator, pad=pad, device=x.device, flip=flip)
    return crop_flip(x, dy, dx, flips, pad=pad)


def iterate_batches(
    split_x: torch.Tensor,
    split_y: torch.Tensor,
    *,
    batch_size: int,
    seed: int,
    epoch: int,
    shuffle: bool = True,
    augment_images: bool = True,
    drop_last: bool = False,
    pad: int = 4,
    flip: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield ``(indices, x, y)`` batches of one epoch; ``x`` is float32, augmented when it
    holds images and ``augment_images`` is set (point sets are never augmented).

    With ``shuffle`` the order is :func:`epoch_order`; the augmentation of every point is
    drawn once per epoch from the same generator, indexed by the point, so it depends on
    ``(seed, epoch)`` only, not on the batch size.
    """
    if batch_size <= 0:
        raise ConfigError(f"batch_size={batch_size} must be >= 1")
    n, device = split_x.shape[0], split_x.device
    gen = epoch_generator(seed, epoch, device)
    if shuffle:
        order = torch.randperm(n, generator=gen, device=device)
    else:
        order = torch.arange(n, device=device)
    images = split_x.dim() == 4 and augment_images and (pad > 0 or flip)
    if images:
        dy, dx, flips = draw_crop_flip(n, gen, pad=pad, device=device, flip=flip)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        x = as_float(split_x[idx])
        if images:
            x = crop_flip(x, dy[idx], dx[idx], flips[idx], pad=pad)
        yield idx, x, split_y[idx]


def iterate_mixed_batches(
    split_x: torch.Tensor,
    split_y: torch.Tensor,
    *,
    n_labelled: int,
    batch_size: int,
    unsup_fraction: float,
    seed: int,
    epoch: int,
    augment_images: bool = True,
    pad: int = 4,
    flip: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """RST's batches: a fixed share of pseudo-labelled points in every batch.

    An epoch has ceil(n_labelled / batch_size) batches. Each holds
    ``batch_size - int(batch_size * unsup_fraction)`` labelled points, taken in order from
    fresh permutations of the labelled set, and ``int(batch_size * unsup_fraction)``
    pseudo-labelled points (rows ``n_labelled:``) drawn uniformly with replacement, shuffled
    within the batch. Every draw comes from the (seed, epoch) generator, so resume is exact.
    """
    if batch_size <= 0:
        raise ConfigError(f"batch_size={batch_size} must be >= 1")
    if not 0 <= unsup_fraction < 1:
        raise ConfigError(f"unsup_fraction = {unsup_fraction!r} is invalid: it must be in [0, 1)")
    n, device = split_x.shape[0], split_x.device
    if not 0 < n_labelled < n:
        raise ConfigError(f"n_labelled = {n_labelled} is invalid: it must be in [1, {n - 1}]")
    gen = epoch_generator(seed, epoch, device)
    batches = -(-n_labelled // batch_size)
    n_unsup = int(batch_size * unsup_fraction)
    n_sup = batch_size - n_unsup
    reps = -(-batches * n_sup // n_labelled)
    sup = torch.cat(
        [torch.randperm(n_labelled, generator=gen, device=device) for _ in range(reps)]
    )[: batches * n_sup].view(batches, n_sup)
    unsup = n_labelled + torch.randint(
        0, n - n_labelled, (batches, n_unsup), generator=gen, device=device
    )
    order = torch.cat([sup, unsup], 1)
    order = order.gather(1, torch.rand(order.shape, generator=gen, device=device).argsort(1))
    images = split_x.dim() == 4 and augment_images and (pad > 0 or flip)
    if images:
        dy, dx, flips = draw_crop_flip(order.numel(), gen, pad=pad, device=device, flip=flip)
    for b in range(batches):
        idx = order[b]
        x = as_float(split_x[idx])
        if images:
            sl = slice(b * batch_size, (b + 1) * batch_size)
            x = crop_flip(x, dy[sl], dx[sl], flips[sl], pad=pad)
        yield idx, x, split_y[idx]

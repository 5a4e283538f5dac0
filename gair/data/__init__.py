"""The dataset catalogue: one record per dataset (shape, size, augmentation, title, reader).

Plain numpy (no torch), so that the spec, the plan and the cost model can ask a dataset's
name and size without importing torch. File readers and generators live in
:mod:`gair.data.readers`; :mod:`gair.data.tensors` turns their arrays into device tensors and
batches. Adding a dataset is a reader there and one record below.

Real datasets (``cifar10``, ``cifar100``, ``svhn``, ``mnist``, ``fashion_mnist``) are read
from torchvision's on-disk layout under the data root (``fashion_mnist`` also from Debian's
``/usr/share/datasets/fashion-mnist/``); ``digits``, ``digits_pseudo``, ``moons`` and ``circles``
are generated offline (their records have no files) and cached as ``.npz`` under the data
root.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gair.data import readers
from gair.data.readers import Arrays, FileSet
from gair.errors import ConfigError, DataError
from gair.io import atomic_path


@dataclass(frozen=True)
class DatasetInfo:
    """A catalogue record: the dataset's shape and how to read it."""

    name: str
    kind: str  # "image" | "points"
    num_classes: int
    in_channels: int  # image channels, or the coordinates of a point set
    image_size: int  # 0 for point sets
    augment_pad: int  # random-crop padding of training images (0: no crop)
    augment_flip: bool  # random horizontal flip of training images
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


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="cifar10", kind="image", num_classes=10, in_channels=3, image_size=32,
            augment_pad=4, augment_flip=True, title="CIFAR-10", n_train=50000, n_test=10000,
            read=readers.read_cifar10, files=readers.CIFAR10_FILES,
        ),
        DatasetInfo(
            name="cifar100", kind="image", num_classes=100, in_channels=3, image_size=32,
            augment_pad=4, augment_flip=True, title="CIFAR-100", n_train=50000, n_test=10000,
            read=readers.read_cifar100, files=readers.CIFAR100_FILES,
        ),
        # The authors' code augments SVHN like CIFAR-10 and does not augment MNIST.
        DatasetInfo(
            name="svhn", kind="image", num_classes=10, in_channels=3, image_size=32,
            augment_pad=4, augment_flip=True, title="SVHN", n_train=73257, n_test=26032,
            read=readers.read_svhn, files=readers.SVHN_FILES,
        ),
        DatasetInfo(
            name="mnist", kind="image", num_classes=10, in_channels=1, image_size=28,
            augment_pad=0, augment_flip=False, title="MNIST", n_train=60000, n_test=10000,
            read=readers.read_mnist, files=readers.MNIST_FILES,
        ),
        # Fashion-MNIST (Xiao et al. 2017): MNIST's format and size, not augmented like MNIST.
        DatasetInfo(
            name="fashion_mnist", kind="image", num_classes=10, in_channels=1, image_size=28,
            augment_pad=0, augment_flip=False, title="Fashion-MNIST", n_train=60000,
            n_test=10000, read=readers.read_fashion_mnist, files=readers.FASHION_MNIST_FILES,
        ),
        # Not augmented, like MNIST: a one-pixel shift of an 8x8 digit moves an eighth of
        # it, and with it the same AT MLP had 54% test error after 2 epochs instead of 22%.
        DatasetInfo(
            name="digits", kind="image", num_classes=10, in_channels=1, image_size=8,
            augment_pad=0, augment_flip=False, title="digits (8x8)", n_train=1437, n_test=360,
            read=readers.read_digits,
        ),
        DatasetInfo(
            name="moons", kind="points", num_classes=2, in_channels=2, image_size=0,
            augment_pad=0, augment_flip=False, title="moons", n_train=1000, n_test=500,
            read=readers.read_moons,
        ),
        DatasetInfo(
            name="circles", kind="points", num_classes=2, in_channels=2, image_size=0,
            augment_pad=0, augment_flip=False, title="circles", n_train=1000, n_test=500,
            read=readers.read_circles,
        ),
        DatasetInfo(
            name="digits_pseudo", kind="image", num_classes=10, in_channels=1, image_size=8,
            augment_pad=0, augment_flip=False, title="digits + pseudo-labels", n_train=718,
            n_test=360, read=readers.read_digits_pseudo, pool=readers.digits_pseudo_pool,
        ),
    )
}  # fmt: skip


def fetch_missing(name: str, root: str | Path) -> tuple[list[Path], str]:
    """Try once to download a real dataset whose files are missing under ``root``; returns
    the files still missing and how a person gets them (empty for generated sets)."""
    info = dataset_info(name)
    if info.files is None:
        return [], ""
    root = Path(root)
    missing = [p for p in info.files.paths(root) if not p.is_file()]
    if missing:
        readers.try_download(lambda: info.files.fetch(root))  # type: ignore[union-attr]
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


# The validation split's seed: every run of a dataset and subset withholds the same points.
VALIDATION_SEED = 0


def validation_split(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, withheld): the indices of ``n`` training points that a run with ``val_split =
    k`` trains on and holds out, each in stored order. The ``k`` withheld ones are drawn
    without replacement by numpy's PCG64 generator seeded with :data:`VALIDATION_SEED`, so
    that every run and method of the same data withholds the same points (runs compared by
    seed trained on the same set)."""
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < n:
        raise ConfigError(
            f"val_split = {k!r} is invalid: it must be an integer in [0, {n - 1}] "
            f"(the run has {n} training points)"
        )
    withheld = np.sort(np.random.default_rng(VALIDATION_SEED).choice(n, size=k, replace=False))
    kept = np.setdiff1d(np.arange(n), withheld, assume_unique=True)
    return kept, withheld


# The selection split's seed: every run of a dataset that evaluates the same test points
# selects on the same ones (another seed than the validation split's).
SELECTION_SEED = 1


def selection_split(n: int, k: int) -> np.ndarray:
    """The ``k`` of ``n`` evaluated test points (positions in the test split) that choose a
    run's best_val checkpoint, sorted; drawn without replacement by numpy's PCG64 generator
    seeded with :data:`SELECTION_SEED`, so that every run and method of the same data selects
    on the same points and is judged on the same others (the report split)."""
    if isinstance(k, bool) or not isinstance(k, int) or not 0 < k < n:
        raise ConfigError(
            f"selection_points = {k!r} is invalid: it must be an integer in [1, {n - 1}] "
            f"(the run evaluates {n} test points)"
        )
    return np.sort(np.random.default_rng(SELECTION_SEED).choice(n, size=k, replace=False))


def selection_record(n: int, k: int) -> dict[str, object]:
    """What a run records of its selection split (run.json, the metrics' Parquet metadata):
    the seed, the count, the evaluated points it was drawn from, and the indices."""
    return {"seed": SELECTION_SEED, "count": k, "of": n, "indices": selection_split(n, k).tolist()}


# Generated sets are cached as .npz under the data root: building them needs scikit-learn,
# whose import costs about a second per process, more than a smoke-scale training job.
CACHE_VERSION = 2
SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _build(info: DatasetInfo, root: Path, download: bool) -> dict[str, np.ndarray]:
    arrays = dict(zip(SPLIT_KEYS, info.read(root, download), strict=True))
    if info.pool is not None:
        arrays["x_pool"], arrays["y_pool"] = info.pool()
    return arrays


def read_arrays(info: DatasetInfo, root: Path, download: bool) -> dict[str, np.ndarray]:
    """The dataset's arrays (SPLIT_KEYS, and x_pool, y_pool where it brings a pool); a
    generated set is built once and then read from its cache."""
    if info.files is not None:
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

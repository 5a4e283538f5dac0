"""Tiny dataset files in the real on-disk formats, for tests that go through the real readers:
CIFAR-10's and CIFAR-100's Python pickles (protocol 2, byte keys, as the real files), SVHN's
.mat files, MNIST's idx files and RST's pseudo-labelled pickle. Pixels are random."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import scipy.io


def write_cifar10(root: Path, per_batch: int = 3, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """cifar-10-batches-py/{data_batch_1..5, test_batch}; returns (every row, every label)."""
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, per_batch)]
        with (base / name).open("wb") as fh:
            pickle.dump({b"batch_label": b"x", b"data": x, b"labels": y}, fh, protocol=2)
        rows.append(x)
        labels.append(y)
    return np.concatenate(rows), np.concatenate(labels)


def write_cifar100(root: Path, n_train: int = 8, n_test: int = 4, seed: int = 2) -> None:
    base = root / "cifar-100-python"
    base.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, n in (("train", n_train), ("test", n_test)):
        batch = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"fine_labels": [int(v) for v in rng.integers(0, 100, n)],
            b"coarse_labels": [int(v) for v in rng.integers(0, 20, n)],
        }
        (base / name).write_bytes(pickle.dumps(batch, protocol=2))


def write_svhn(root: Path, n_train: int = 8, n_test: int = 4, seed: int = 3) -> None:
    """{train,test}_32x32.mat: X (32, 32, 3, N) uint8, y (N, 1) in 1..10 (10 is the digit 0)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = rng.integers(1, 11, (n, 1)).astype(np.uint8)
        scipy.io.savemat(root / f"{name}_32x32.mat", {"X": x, "y": y})


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">i", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, n_train: int = 8, n_test: int = 4, seed: int = 4) -> None:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    write_idx(raw / "train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 28, 28)))
    write_idx(raw / "train-labels-idx1-ubyte", rng.integers(0, 10, n_train))
    write_idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28)))
    write_idx(raw / "t10k-labels-idx1-ubyte", rng.integers(0, 10, n_test))


def write_rst_pickle(path: Path, n: int = 8, shape: tuple[int, int, int] = (32, 32, 3)) -> Path:
    """RST's ti_500K_pseudo_labeled.pickle: {'data': uint8 (N, H, W, C), 'extrapolated_targets'}."""
    rng = np.random.default_rng(5)
    content = {
        "data": rng.integers(0, 256, (n, *shape), dtype=np.uint8),
        "extrapolated_targets": rng.integers(0, 10, n).astype(np.int64),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(content, protocol=4))
    return path


def write_all(root: Path, per_batch: int = 4) -> Path:
    """Every real dataset under ``root`` (a data_root), CIFAR-10 with 5 x ``per_batch``
    training images; returns ``root``."""
    write_cifar10(root, per_batch)
    write_cifar100(root)
    write_svhn(root)
    write_mnist(root)
    return root

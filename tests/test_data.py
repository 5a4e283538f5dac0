"""Dataset readers, offline datasets, augmentation and the epoch batch order."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import realformat
import scipy.io
import torch

from gair import data as datasets
from gair.data import readers
from gair.data import tensors as data
from gair.errors import ConfigError, DataError

torch.set_num_threads(1)


# --------------------------------------------------------------------------- file fixtures
def _write_cifar10(root: Path, per_batch: int = 3) -> tuple[np.ndarray, np.ndarray]:
    return realformat.write_cifar10(root, per_batch)


_write_idx = realformat.write_idx


def test_cifar10_pixels_and_labels(tmp_path: Path) -> None:
    rows, labels = _write_cifar10(tmp_path)
    split = data.load_dataset("cifar10", root=tmp_path, download=False)
    assert split.x_train.shape == (15, 3, 32, 32) and split.x_train.dtype == torch.uint8
    assert split.x_test.shape == (3, 3, 32, 32)
    assert split.y_train.dtype == torch.int64
    assert split.y_train.tolist() == labels[:15].tolist()
    assert split.y_test.tolist() == labels[15:].tolist()
    # row layout: 1024 red, 1024 green, 1024 blue, each row-major over 32 x 32
    x = split.x_train.numpy()
    for i, c, h, w in [(0, 0, 0, 0), (4, 1, 5, 17), (14, 2, 31, 31), (7, 2, 0, 31)]:
        assert x[i, c, h, w] == rows[i, c * 1024 + h * 32 + w]
    assert np.array_equal(split.x_test.numpy().reshape(3, -1), rows[15:])
    assert (split.num_classes, split.in_channels, split.image_size, split.kind) == (
        10,
        3,
        32,
        "image",
    )


def test_cifar100_fine_labels(tmp_path: Path) -> None:
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    rng = np.random.default_rng(2)
    content = {}
    for name, n in (("train", 4), ("test", 2)):
        content[name] = (rng.integers(0, 256, (n, 3072), dtype=np.uint8), [99, 0, 57, 3][:n])
        with (base / name).open("wb") as fh:
            pickle.dump(
                {"data": content[name][0], "fine_labels": content[name][1], "coarse_labels": [0]},
                fh,
            )
    split = data.load_dataset("cifar100", root=tmp_path, download=False)
    assert split.num_classes == 100
    assert split.y_train.tolist() == [99, 0, 57, 3] and split.y_test.tolist() == [99, 0]
    assert np.array_equal(split.x_train.numpy().reshape(4, -1), content["train"][0])


def test_svhn_layout_and_label_ten_is_zero(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    stored = {}
    for split_name, labels in (("train", [10, 1, 5, 10]), ("test", [3, 10])):
        x = rng.integers(0, 256, (32, 32, 3, len(labels)), dtype=np.uint8)
        y = np.array(labels, dtype=np.uint8)[:, None]
        scipy.io.savemat(tmp_path / f"{split_name}_32x32.mat", {"X": x, "y": y})
        stored[split_name] = x
    split = data.load_dataset("svhn", root=tmp_path, download=False)
    assert split.y_train.tolist() == [0, 1, 5, 0] and split.y_test.tolist() == [3, 0]
    assert split.x_train.shape == (4, 3, 32, 32)
    x = split.x_train.numpy()
    for i, c, h, w in [(0, 0, 0, 0), (1, 2, 3, 30), (3, 1, 31, 7), (2, 0, 12, 0)]:
        assert x[i, c, h, w] == stored["train"][h, w, c, i]
    assert split.x_test[1, 2, 4, 9].item() == stored["test"][4, 9, 2, 1]


def test_mnist_idx_files(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(4)
    xtr = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    xte = rng.integers(0, 256, (2, 28, 28), dtype=np.uint8)
    _write_idx(raw / "train-images-idx3-ubyte", xtr)
    _write_idx(raw / "train-labels-idx1-ubyte", np.array([7, 2, 1, 0, 4]))
    _write_idx(raw / "t10k-images-idx3-ubyte", xte)
    _write_idx(raw / "t10k-labels-idx1-ubyte", np.array([9, 5]))
    # torchvision may leave only the compressed file
    packed = gzip.compress((raw / "t10k-labels-idx1-ubyte").read_bytes())
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(packed)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    split = data.load_dataset("mnist", root=tmp_path, download=False)
    assert split.x_train.shape == (5, 1, 28, 28) and split.in_channels == 1
    assert np.array_equal(split.x_train[:, 0].numpy(), xtr)
    assert np.array_equal(split.x_test[:, 0].numpy(), xte)
    assert split.y_train.tolist() == [7, 2, 1, 0, 4] and split.y_test.tolist() == [9, 5]


def test_truncated_idx_file_is_a_data_error(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        _write_idx(raw / name, np.zeros((2, 28, 28)))
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        _write_idx(raw / name, np.zeros(2))
    (raw / "t10k-labels-idx1-ubyte").write_bytes((raw / "t10k-labels-idx1-ubyte").read_bytes()[:-1])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        data.load_dataset("mnist", root=tmp_path, download=False)


def test_missing_files_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        data.load_dataset("cifar10", root=tmp_path, download=False)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("cifar10: missing ")
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_1") in message
    assert "(and 5 more)" in message
    with pytest.raises(DataError, match=r"svhn: missing .*train_32x32\.mat \(and 1 more\)"):
        data.load_dataset("svhn", root=tmp_path, download=False)


def test_failed_download_still_reports_missing_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def offline(cls_name: str, root: Path, **kwargs: object):
        def fetch() -> None:
            calls.append(cls_name)
            raise OSError("network unreachable")

        return fetch

    monkeypatch.setattr(readers, "_torchvision_fetch", offline)
    with pytest.raises(DataError, match="MNIST/raw/train-images-idx3-ubyte"):
        data.load_dataset("mnist", root=tmp_path, download=True)
    assert calls == ["MNIST"]


def test_unknown_dataset_lists_valid_names() -> None:
    with pytest.raises(DataError) as err:
        data.load_dataset("imagenet")
    for name in ("cifar10", "svhn", "digits", "moons", "digits_pseudo"):
        assert name in str(err.value)
    assert set(datasets.dataset_names()) == {
        "cifar10",
        "cifar100",
        "svhn",
        "fashion_mnist",
        "mnist",
        "digits",
        "moons",
        "circles",
        "digits_pseudo",
    }


# --------------------------------------------------------------------------- offline sets
def test_digits_split_is_fixed_and_real() -> None:
    from sklearn.datasets import load_digits

    a = data.load_dataset("digits")
    b = data.load_dataset("digits")
    assert len(a.y_train) + len(a.y_test) == 1797
    assert (len(a.y_train), len(a.y_test)) == (1437, 360)
    assert a.x_train.dtype == torch.uint8 and a.x_train.shape[1:] == (1, 8, 8)
    assert int(a.x_train.max()) == 255 and int(a.x_train.min()) == 0
    assert set(a.y_test.tolist()) == set(range(10)) and a.num_classes == 10
    for t in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, t), getattr(b, t))
    # every stored image is one of sklearn's digits, scaled by 255/16
    ref = np.rint(load_digits().data * 255 / 16).astype(np.uint8)
    assert {r.tobytes() for r in a.x_test.reshape(360, 64).numpy()} <= {r.tobytes() for r in ref}


def test_subsets_hold_every_class_and_are_fixed() -> None:
    full = data.load_dataset("digits")
    small = data.load_dataset("digits", train_subset=10, test_subset=20)
    assert sorted(small.y_train.tolist()) == list(range(10))
    assert torch.bincount(small.y_test).tolist() == [2] * 10
    # a subset is made of points of the full split, in stored order
    rows = {r.tobytes(): i for i, r in enumerate(full.x_train.reshape(1437, -1).numpy())}
    positions = [rows[r.tobytes()] for r in small.x_train.reshape(10, -1).numpy()]
    assert positions == sorted(positions)
    everything = data.load_dataset("digits", train_subset=1437)
    assert torch.equal(everything.x_train, full.x_train)
    with pytest.raises(ConfigError, match="train_subset=2000"):
        data.load_dataset("digits", train_subset=2000)


def test_class_mixed_order_round_robin() -> None:
    y = np.array([2, 2, 0, 1, 0, 2, 1])
    order = datasets.class_mixed_order(y)
    assert order.tolist() == [2, 3, 0, 4, 6, 1, 5]


@pytest.mark.parametrize("name", ["moons", "circles"])
def test_point_sets(name: str) -> None:
    a = data.load_dataset(name)
    b = data.load_dataset(name)
    assert a.x_train.shape == (1000, 2) and a.x_test.shape == (500, 2)
    assert a.x_train.dtype == torch.float32 and a.kind == "points" and a.image_size == 0
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    both = torch.cat([a.x_train, a.x_test])
    assert both.min() >= 0.0 and both.max() <= 1.0
    assert set(a.y_train.tolist()) == {0, 1} and a.num_classes == 2
    assert torch.equal(data.as_float(a.x_train), a.x_train)


def test_digits_pseudo_is_a_labelled_half_and_a_pseudo_labelled_pool() -> None:
    digits = data.load_dataset("digits")
    pseudo = data.load_dataset("digits_pseudo")
    n = len(digits.y_train)
    order = np.random.RandomState(1).permutation(n)
    labelled, unlabelled = np.sort(order[: n // 2]), np.sort(order[n // 2 :])
    assert pseudo.n_labelled == len(labelled) == 718 and pseudo.n_pseudo == len(unlabelled)
    x_lab, y_lab = pseudo.labelled()
    # the labelled half keeps its true labels; the pool holds the other half's images
    assert torch.equal(x_lab, digits.x_train[labelled])
    assert torch.equal(y_lab, digits.y_train[labelled])
    assert torch.equal(pseudo.x_train[718:], digits.x_train[unlabelled])
    assert torch.equal(pseudo.x_test, digits.x_test) and torch.equal(pseudo.y_test, digits.y_test)
    # a linear classifier on digits is good but not perfect: some, not many, labels differ
    changed = int((pseudo.y_train[718:] != digits.y_train[unlabelled]).sum())
    assert 0 < changed < len(unlabelled) // 10
    # a training subset applies to the labelled points only; the pool stays whole
    small = data.load_dataset("digits_pseudo", train_subset=100)
    assert small.n_labelled == 100 and small.n_pseudo == pseudo.n_pseudo


def test_to_moves_every_tensor() -> None:
    split = data.load_dataset("moons", train_subset=8).to("meta")
    assert all(t.device.type == "meta" for t in (split.x_train, split.y_test))
    assert split.num_classes == 2


# --------------------------------------------------------------------------- augmentation
def _reference_crop_flip(x: torch.Tensor, dy: int, dx: int, flip: bool, pad: int) -> torch.Tensor:
    """One image: zero pad, crop at (dy, dx), then mirror."""
    c, h, w = x.shape
    padded = torch.zeros(c, h + 2 * pad, w + 2 * pad, dtype=x.dtype)
    padded[:, pad : pad + h, pad : pad + w] = x
    crop = padded[:, dy : dy + h, dx : dx + w]
    return crop.flip(-1) if flip else crop


def test_as_float_scales_uint8() -> None:
    x = torch.tensor([0, 51, 255], dtype=torch.uint8)
    assert torch.allclose(data.as_float(x), torch.tensor([0.0, 0.2, 1.0]))
    assert data.as_float(x).dtype == torch.float32


def test_crop_flip_matches_per_sample_reference() -> None:
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(6, 2, 5, 7, generator=gen)
    dy = torch.tensor([0, 3, 6, 2, 1, 6])
    dx = torch.tensor([6, 0, 3, 2, 5, 0])
    flips = torch.tensor([False, True, True, False, True, False])
    out = data.crop_flip(x, dy, dx, flips, pad=3)
    for i in range(6):
        ref = _reference_crop_flip(x[i], int(dy[i]), int(dx[i]), bool(flips[i]), 3)
        assert torch.equal(out[i], ref)


def test_augment_outputs_are_shifted_flipped_copies() -> None:
    pad = 2
    gen = torch.Generator().manual_seed(6)
    # distinct positive values, so a crop identifies its offset and flip uniquely
    x = torch.rand(40, 3, 6, 6, generator=gen) + 0.5
    out = data.augment(x, torch.Generator().manual_seed(7), pad=pad)
    assert out.shape == x.shape and out.dtype == x.dtype
    seen = set()
    for i in range(len(x)):
        matches = [
            (dy, dx, f)
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
            for f in (False, True)
            if torch.equal(out[i], _reference_crop_flip(x[i], dy, dx, f, pad))
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    # 40 draws over 50 cases: many distinct offsets, both flip states
    assert len(seen) > 15 and {f for _, _, f in seen} == {False, True}
    again = data.augment(x, torch.Generator().manual_seed(7), pad=pad)
    assert torch.equal(out, again)
    other = data.augment(x, torch.Generator().manual_seed(8), pad=pad)
    assert not torch.equal(out, other)


def test_augment_without_flip_never_mirrors() -> None:
    x = torch.rand(30, 1, 4, 4) + 0.5
    out = data.augment(x, torch.Generator().manual_seed(9), pad=1, flip=False)
    for i in range(len(x)):
        assert any(
            torch.equal(out[i], _reference_crop_flip(x[i], dy, dx, False, 1))
            for dy in range(3)
            for dx in range(3)
        )


def test_augment_identity_when_disabled() -> None:
    x = torch.rand(4, 3, 8, 8)
    assert torch.equal(data.augment(x, torch.Generator().manual_seed(0), pad=0, flip=False), x)
    with pytest.raises(ConfigError):
        data.augment(x, torch.Generator(), pad=-1)


# --------------------------------------------------------------------------- batch order
def test_epoch_order_is_deterministic_permutation() -> None:
    a = data.epoch_order(100, seed=3, epoch=4, device="cpu")
    assert torch.equal(torch.sort(a).values, torch.arange(100))
    assert torch.equal(a, data.epoch_order(100, seed=3, epoch=4, device="cpu"))
    assert not torch.equal(a, data.epoch_order(100, seed=3, epoch=5, device="cpu"))
    assert not torch.equal(a, data.epoch_order(100, seed=4, epoch=4, device="cpu"))


def test_iterate_batches_covers_every_index_once() -> None:
    split = data.load_dataset("digits", train_subset=103)
    x, y = split.x_train, split.y_train
    batches = list(data.iterate_batches(x, y, batch_size=16, seed=1, epoch=2, pad=1, flip=False))
    assert [len(b[0]) for b in batches] == [16] * 6 + [7]
    idx = torch.cat([b[0] for b in batches])
    assert torch.equal(idx, data.epoch_order(103, seed=1, epoch=2, device="cpu"))
    assert torch.equal(torch.sort(idx).values, torch.arange(103))
    for i, xb, yb in batches:
        assert torch.equal(yb, y[i]) and xb.dtype == torch.float32
    dropped = list(data.iterate_batches(x, y, batch_size=16, seed=1, epoch=2, drop_last=True))
    assert [len(b[0]) for b in dropped] == [16] * 6


def test_iterate_batches_without_augmentation_returns_scaled_pixels() -> None:
    split = data.load_dataset("digits", train_subset=50)
    x, y = split.x_train, split.y_train
    for i, xb, _ in data.iterate_batches(
        x, y, batch_size=20, seed=0, epoch=1, shuffle=False, augment_images=False
    ):
        assert torch.equal(xb, x[i].float() / 255)
    order = torch.cat(
        [b[0] for b in data.iterate_batches(x, y, batch_size=7, seed=0, epoch=1, shuffle=False)]
    )
    assert torch.equal(order, torch.arange(50))


def test_iterate_batches_augmentation_depends_on_seed_and_epoch_only() -> None:
    gen = torch.Generator().manual_seed(11)
    x = torch.randint(1, 256, (37, 3, 6, 6), generator=gen, dtype=torch.uint8)
    y = torch.arange(37)

    def epoch_images(batch_size: int, epoch: int) -> torch.Tensor:
        out = torch.empty(x.shape)
        for i, xb, _ in data.iterate_batches(x, y, batch_size=batch_size, seed=2, epoch=epoch):
            out[i] = xb
        return out

    a = epoch_images(5, 3)
    assert torch.equal(a, epoch_images(5, 3))  # a resumed epoch sees the same images
    assert torch.equal(a, epoch_images(16, 3))  # however the epoch is cut into batches
    assert not torch.equal(a, epoch_images(5, 4))
    assert not torch.equal(a, x.float() / 255)
    for i in range(len(x)):
        assert any(
            torch.allclose(a[i], _reference_crop_flip(x[i].float() / 255, dy, dx, f, 4))
            for dy in range(9)
            for dx in range(9)
            for f in (False, True)
        )


def test_iterate_batches_never_augments_points() -> None:
    split = data.load_dataset("moons", train_subset=30)
    for i, xb, _ in data.iterate_batches(
        split.x_train, split.y_train, batch_size=8, seed=0, epoch=1
    ):
        assert torch.equal(xb, split.x_train[i])


def test_mixed_batches_keep_rst_composition() -> None:
    """RST's batches: a fixed labelled/pseudo-labelled split per batch, labelled points cycled."""
    from gair.data.tensors import iterate_mixed_batches

    n_lab, n_all, bs = 50, 200, 16
    x = torch.arange(n_all, dtype=torch.float32)[:, None].repeat(1, 2)
    y = torch.arange(n_all)

    def epoch(e: int) -> list[torch.Tensor]:
        batches = iterate_mixed_batches(
            x, y, n_labelled=n_lab, batch_size=bs, unsup_fraction=0.5, seed=3, epoch=e
        )
        return [
            idx
            for idx, xb, yb in batches
            if torch.equal(yb, idx) and torch.equal(xb[:, 0].long(), idx)
        ]

    first = epoch(0)
    assert len(first) == -(-n_lab // bs)  # ceil(labelled / batch) batches, every one well formed
    for idx in first:
        assert (idx < n_lab).sum() == bs - bs // 2 and (idx >= n_lab).sum() == bs // 2
    labelled = torch.cat([idx[idx < n_lab] for idx in first])
    # Labelled points come from a permutation: none repeats before all have been used.
    assert labelled.numel() == len(first) * (bs - bs // 2)
    assert labelled[:n_lab].unique().numel() == min(labelled.numel(), n_lab)
    assert all(torch.equal(a, b) for a, b in zip(first, epoch(0), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, epoch(1), strict=True))


def test_generated_sets_are_cached_and_a_bad_cache_is_rebuilt(tmp_path: Path) -> None:
    fresh = data.load_dataset("moons", root=tmp_path / "a")
    cache = tmp_path / "a" / "generated" / f"moons-v{datasets.CACHE_VERSION}.npz"
    assert cache.is_file()
    again = data.load_dataset("moons", root=tmp_path / "a")  # read back from the cache
    assert torch.equal(fresh.x_train, again.x_train) and torch.equal(fresh.y_test, again.y_test)
    cache.write_bytes(b"not an npz file")
    rebuilt = data.load_dataset("moons", root=tmp_path / "a")
    assert torch.equal(fresh.x_train, rebuilt.x_train)
    assert np.load(cache)["x_train"].shape == tuple(fresh.x_train.shape)


@pytest.mark.parametrize("name", ["digits", "digits_pseudo"])
def test_training_on_digits_sees_the_stored_images(name: str) -> None:
    """Digits are not augmented (like MNIST in the authors' code): a training epoch's batches
    are the stored images, scaled, with augmentation on in the run's settings."""
    from gair.spec import RunSpec
    from gair.train.loop import Run

    spec = RunSpec(dataset=name, model="mlp", depth=1, width=8, method="at", epochs=1,
                   train_subset=64, batch_size=16)  # fmt: skip
    assert spec.augment
    run = Run(spec, Path("unused"), log=lambda _: None)
    batches, n = run.epoch_batches(1)
    seen = 0
    for index, xb, _ in batches:
        assert torch.equal(xb, run.data.x_train[index].float() / 255)
        seen += 1
    assert seen == n

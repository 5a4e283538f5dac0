"""Datasets held as tensors on the device, and the batch pipeline that feeds training.

Images are kept as uint8 NCHW tensors on the device and turned into float32 in [0, 1] one
batch at a time (the paper scales every pixel by 1/255, Appendix C.8). Augmentation is the
standard CIFAR one the paper uses: a random crop with 4-pixel zero padding followed by a
random horizontal flip, done for a whole batch with two gathers, on the device. Which
datasets exist and how their files are read: :mod:`gair.data`.

Pseudo-labelled data (GAIR-RST, Table 3): a run's ``unlabeled_path`` names RST's pickle
(:func:`gair.data.readers.read_pseudo_labelled`), or the dataset brings a pool of its own
(``digits_pseudo``). Either way :func:`attach_pseudo_labelled` appends the pool to the
training split and sets ``n_labelled``, and training draws RST's mixed batches
(:func:`iterate_mixed_batches`).

Determinism: the order and the augmentation of epoch ``e`` are drawn from one generator on
the data's device seeded from ``(seed, e)`` only, so a resumed run sees exactly the batches
an uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gair.data import dataset_info, read_arrays, take_subset, validation_split
from gair.data.readers import read_pseudo_labelled
from gair.errors import ConfigError, DataError


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
    # > 0: the first n_labelled training points carry true labels and the rest are the
    # pseudo-labelled pool (RST); training then draws mixed batches.
    n_labelled: int = 0
    pool_source: str = ""  # where the pseudo-labelled pool came from (file or dataset)
    # The validation split withheld from the labelled training points (None: none), in the
    # same form as the training split; never in a training batch.
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None

    @property
    def n_pseudo(self) -> int:
        """Points of the pseudo-labelled pool (0 without one)."""
        return int(self.y_train.shape[0]) - self.n_labelled if self.n_labelled else 0

    def labelled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The training points with true labels (every training point without a pool)."""
        n = self.n_labelled or int(self.y_train.shape[0])
        return self.x_train[:n], self.y_train[:n]

    def to(self, device: str | torch.device) -> DataSplit:
        """The same split with every tensor on ``device``."""
        return dataclasses.replace(
            self,
            x_train=self.x_train.to(device),
            y_train=self.y_train.to(device),
            x_test=self.x_test.to(device),
            y_test=self.y_test.to(device),
            x_val=None if self.x_val is None else self.x_val.to(device),
            y_val=None if self.y_val is None else self.y_val.to(device),
        )


def attach_pseudo_labelled(
    split: DataSplit, x: np.ndarray, y: np.ndarray, source: str
) -> DataSplit:
    """``split`` with a pseudo-labelled pool (x uint8 NCHW, y int64) appended to its training
    set on the split's device, ``n_labelled`` set to the number of labelled points."""
    want = (split.in_channels, split.image_size, split.image_size)
    if split.kind != "image" or tuple(x.shape[1:]) != want:
        raise DataError(
            f"{source} holds images of shape {tuple(x.shape[1:])} (C, H, W), but dataset "
            f"{split.name!r} has {want}"
        )
    if len(y) == 0:
        raise DataError(f"{source} holds no pseudo-labelled points")
    if y.min() < 0 or y.max() >= split.num_classes:
        raise DataError(f"{source} has pseudo-labels outside 0..{split.num_classes - 1}")
    device = split.x_train.device
    return dataclasses.replace(
        split,
        x_train=torch.cat([split.x_train, torch.from_numpy(x).to(device)]),
        y_train=torch.cat([split.y_train, torch.from_numpy(y).to(device)]),
        n_labelled=int(split.y_train.shape[0]),
        pool_source=source,
    )


def load_dataset(
    name: str,
    *,
    root: str | Path = "resources/data",
    device: str | torch.device = "cpu",
    train_subset: int = 0,
    test_subset: int = 0,
    download: bool = True,
    unlabeled_path: str | Path = "",
    val_split: int = 0,
) -> DataSplit:
    """Read a registered dataset into tensors on ``device``.

    Images come back as uint8 NCHW, point sets as float32 (N, 2); labels are int64.
    ``train_subset``/``test_subset`` = n > 0 keep the first n points of
    :func:`gair.data.class_mixed_order`, a fixed order that does not depend on any seed; a
    subset applies to the labelled points, never to a pseudo-labelled pool. ``val_split`` =
    k > 0 withholds k of those labelled points (:func:`gair.data.validation_split`) as
    ``x_val``/``y_val``; the rest, in stored order, are the training split. ``unlabeled_path``
    (RST's pickle) or the dataset's own pool is attached by :func:`attach_pseudo_labelled`.
    """
    info = dataset_info(name)
    for which, n in (("train", train_subset), ("test", test_subset)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"{which}_subset={n!r} must be an integer >= 0 (0: every point)")
    if unlabeled_path and info.pool is not None:
        raise ConfigError(
            f"unlabeled_path {str(unlabeled_path)!r} is set, but dataset {name!r} brings its "
            "own pseudo-labelled pool; leave unlabeled_path empty"
        )
    arrays = read_arrays(info, Path(root), download)
    xtr, ytr = take_subset(name, "train", train_subset, arrays["x_train"], arrays["y_train"])
    xte, yte = take_subset(name, "test", test_subset, arrays["x_test"], arrays["y_test"])
    xva = yva = None
    if val_split:
        kept, withheld = validation_split(len(ytr), val_split)
        xva, yva, xtr, ytr = xtr[withheld], ytr[withheld], xtr[kept], ytr[kept]

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device)

    split = DataSplit(
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
        x_val=None if xva is None else tensor(xva),
        y_val=None if yva is None else tensor(yva.astype(np.int64, copy=False)),
    )
    if unlabeled_path:
        x, y = read_pseudo_labelled(unlabeled_path)
        return attach_pseudo_labelled(split, x, y, f"unlabeled_path {str(unlabeled_path)!r}")
    if info.pool is not None:
        return attach_pseudo_labelled(
            split, arrays["x_pool"], arrays["y_pool"], f"dataset {name!r}'s pool"
        )
    return split


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

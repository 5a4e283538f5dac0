"""``python -m gair geometry``: kappa, logits and their 2-D PCA for points of a checkpoint's
dataset (Figs. 3, 7 and 8), drawn per class at random, written as Parquet.

The mathematics is :mod:`gair.paper.geometry`'s: kappa (Algorithm 1, from x itself) and the
PCA; this module loads the checkpoint safely, draws the points and writes the file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from gair import provenance
from gair.errors import ConfigError
from gair.io import write_parquet
from gair.paper import attacks
from gair.paper.geometry import kappa_of, pca_2d, select_per_class
from gair.train.build import load_model_from_checkpoint, resolve_device
from gair.train.checkpoint import load_checkpoint


def checkpoint_geometry(
    path: str | Path,
    *,
    split: str = "train",
    per_class: int = 1000,
    eps: float = 0.031,
    alpha: float = 0.031 / 4,
    steps: int = 10,
    seed: int = 0,
    device: str = "auto",
) -> tuple[Any, pd.DataFrame]:
    """kappa (Algorithm 1, from x itself), logits and their 2-D PCA for ``per_class`` points
    of each class of a checkpoint's ``split``, drawn at random with ``seed``. Returns the
    run spec and a frame: index, label, pred, kappa, pc1, pc2, logit0.. (and x1, x2 for
    point sets)."""
    if split not in ("train", "test"):
        raise ConfigError(f"split {split!r} is invalid; valid splits are: train, test")
    attacks.check_budget(eps, alpha, steps)
    if steps < 1:
        raise ConfigError(f"steps {steps} is invalid: kappa needs at least 1 step")
    ckpt = load_checkpoint(path)
    model, spec, data = load_model_from_checkpoint(ckpt, resolve_device(device), source=path)
    x, y = data.labelled() if split == "train" else (data.x_test, data.y_test)
    index = select_per_class(y, per_class, data.num_classes, seed=seed)
    xs, ys = x[index], y[index]
    torch.manual_seed(seed)
    model.eval()
    kappa, logits = kappa_of(model, xs, ys, eps=eps, alpha=alpha, steps=steps)
    pcs = pca_2d(logits)
    frame = pd.DataFrame(
        {
            "index": index.cpu().numpy(),
            "label": ys.cpu().short().numpy(),
            "pred": logits.argmax(1).cpu().short().numpy(),
            "kappa": kappa.cpu().short().numpy(),
            "pc1": pcs[:, 0].cpu().numpy(),
            "pc2": pcs[:, 1].cpu().numpy(),
        }
    )
    # The logits themselves, so that a figure can redo the PCA on any pair of classes.
    values = logits.cpu().float().numpy()
    frame = frame.join(pd.DataFrame({f"logit{c}": values[:, c] for c in range(values.shape[1])}))
    if data.kind == "points":
        frame["x1"] = xs[:, 0].cpu().double().numpy()
        frame["x2"] = xs[:, 1].cpu().double().numpy()
    return spec, frame


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gair geometry",
        description="kappa and the 2-D PCA of logits for points of a run's dataset",
    )
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--split", choices=("train", "test"), default="train")
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--eps", type=float, default=0.031)
    parser.add_argument("--alpha", type=float, default=0.031 / 4)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-class sample")
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    spec, frame = checkpoint_geometry(
        args.checkpoint,
        split=args.split,
        per_class=args.per_class,
        eps=args.eps,
        alpha=args.alpha,
        steps=args.steps,
        seed=args.seed,
        device=args.device,
    )
    computed = provenance.collect(resolve_device(args.device))
    write_parquet(args.out, frame, {"gair.run": spec.run_name(), **provenance.metadata([computed])})
    print(f"{len(frame)} points, kappa mean {frame['kappa'].mean():.2f} -> {args.out}")
    return 0

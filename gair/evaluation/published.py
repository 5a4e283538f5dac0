"""Published checkpoints under the same attacks as ours: RobustBench's zoo and the formats the
authors' training scripts write, loaded safely, evaluated, and tabulated beside the numbers
their papers and RobustBench report.

Sources (an entry of the config's ``published.models``):

- ``source: robustbench``: a RobustBench model by its name (``Zhang2020Geometry`` is the
  authors' GAIR-RST WRN-28-10). The architecture is RobustBench's own (its model zoo, from the
  ``robustbench`` package); the weights are the file in RobustBench's local layout,
  ``<model_dir>/cifar10/Linf/<name>.pt``, as ``robustbench.utils.load_model`` downloads it.
- ``source: file``: a checkpoint written by the authors' scripts, loaded into this project's
  architecture (``model``, ``depth``, ``width``). ``format`` says which script wrote it:

  - ``gairat``, ``fat``: ``checkpoint.pth.tar`` / ``bestpoint.pth.tar``, a dict whose
    ``state_dict`` holds DataParallel's ``module.`` keys;
  - ``trades``, ``mart``: ``torch.save(model.state_dict())``, a raw state dict;
  - ``rst``: RST's and GAIR-RST's ``checkpoint-epochN.pt``, a dict with ``state_dict``.

  Their Wide ResNet is the TRADES lineage's (``block1.layer.0.convShortcut``, a final
  ``bn1``, an unused ``sub_block1``); its keys are mapped onto ours (:func:`our_keys`), and
  PreAct ResNet's ``shortcut.0`` onto our bare shortcut. Anything left unmatched is a one-line
  error naming the file and the keys.

Every file is read with ``torch.load(weights_only=True)`` through
:func:`gair.train.checkpoint.load_tensors`: a file that asks to unpickle anything but tensors and
plain values is refused. :func:`export` writes one of our runs in RobustBench's format.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from gair import provenance
from gair.data.tensors import load_dataset
from gair.errors import CheckpointError, ConfigError
from gair.evaluation.kernels import evaluate_model
from gair.evaluation.registry import EvalBudget
from gair.evaluation.zoo import (
    FORMATS,
    SOURCES,
    entry_file,
    eps_title,
    evaluation_plan,
    robustbench_file,
)
from gair.io import atomic_path, write_parquet
from gair.models import build_model
from gair.train.build import load_weights, resolve_device, spec_from_checkpoint
from gair.train.checkpoint import load_checkpoint, load_tensors

# ---------------------------------------------------------------------------- key mapping
# (theirs, ours) regular-expression pairs, applied in order to every key.
_WRN_TO_OURS = [
    (r"^block(\d)\.layer\.(\d+)\.convShortcut\.", r"block\1.\2.shortcut."),
    (r"^block(\d)\.layer\.(\d+)\.", r"block\1.\2."),
    (r"^bn1\.", "bn."),
]


_PREACT_TO_OURS = [(r"^(layer\d\.\d+)\.shortcut\.0\.", r"\1.shortcut.")]


def strip_prefixes(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Keys without DataParallel's ``module.`` (and wrappers' ``model.``) prefixes."""
    out = {}
    for key, value in state.items():
        for prefix in ("module.", "model."):
            key = key.removeprefix(prefix)
        out[key] = value
    return out


def our_keys(state: Mapping[str, Tensor], model: str) -> dict[str, Tensor]:
    """The authors' architecture's state dict in this project's key names (``model``: our
    registry name). TRADES' unused ``sub_block1`` is dropped: it takes no part in forward."""
    rules = {"wrn": _WRN_TO_OURS, "preactresnet18": _PREACT_TO_OURS}.get(model, [])
    out = {}
    for key, value in strip_prefixes(state).items():
        if model == "wrn" and key.startswith("sub_block1."):
            continue
        for pattern, repl in rules:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def robustbench_keys(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Our WRN's state dict in the TRADES lineage's names (RobustBench's ``WideResNet``)."""
    out = {}
    for key, value in state.items():
        key = re.sub(r"^block(\d)\.(\d+)\.shortcut\.", r"block\1.layer.\2.convShortcut.", key)
        key = re.sub(r"^block(\d)\.(\d+)\.", r"block\1.layer.\2.", key)
        key = re.sub(r"^bn\.", "bn1.", key)
        out[key] = value
    return out


# ---------------------------------------------------------------------------- loading
def _weights(raw: Any, path: Path, fmt: str) -> Mapping[str, Tensor]:
    if fmt in ("gairat", "fat", "rst") or (isinstance(raw, dict) and "state_dict" in raw):
        if not isinstance(raw, dict) or "state_dict" not in raw:
            raise CheckpointError(
                f"checkpoint {str(path)!r} has no 'state_dict': not a {fmt} checkpoint"
            )
        raw = raw["state_dict"]
    if not isinstance(raw, dict) or not all(isinstance(v, Tensor) for v in raw.values()):
        raise CheckpointError(f"checkpoint {str(path)!r} holds no state dict of tensors")
    return raw


def import_robustbench() -> Any:
    """The ``robustbench`` package. Its 1.1.1 release imports AutoAttack as ``autoattack``
    (the name of the authors' GitHub package) while depending on PyPI's ``pyautoattack``,
    the same code under another name: the name is pointed at it before the import."""
    if "autoattack" not in sys.modules:
        try:
            importlib.import_module("autoattack")
        except ImportError:
            sys.modules["autoattack"] = importlib.import_module("pyautoattack")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pkg_resources' and torch.jit's deprecation notes
        return importlib.import_module("robustbench")


def robustbench_model(name: str, dataset: str = "cifar10") -> nn.Module:
    """RobustBench's architecture for a model name (untrained), from its model zoo."""
    import_robustbench()
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    zoo = model_dicts[BenchmarkDataset(dataset)][ThreatModel.Linf]
    if name not in zoo:
        raise ConfigError(
            f"RobustBench has no {dataset} Linf model {name!r}; e.g. Zhang2020Geometry, "
            "Carmon2019Unlabeled, Zhang2019Theoretically"
        )
    return zoo[name]["model"]()


def load_entry(entry: Mapping[str, Any], *, model_dir: str | Path = "") -> nn.Module:
    """The model an entry of ``published.models`` names, weights loaded, in eval mode."""

    source = entry.get("source")
    if source not in SOURCES:
        raise ConfigError(f"source {source!r} is unknown; valid sources are: {', '.join(SOURCES)}")
    if source == "robustbench":
        path = robustbench_file(model_dir, entry["name"], entry.get("dataset", "cifar10"))
        model = robustbench_model(entry["name"], entry.get("dataset", "cifar10"))
        state = strip_prefixes(_weights(load_tensors(path), path, "robustbench"))
    else:
        fmt = entry.get("format")
        if fmt not in FORMATS:
            raise ConfigError(f"format {fmt!r} is unknown; valid formats are: {', '.join(FORMATS)}")
        path = Path(entry["file"])
        model = build_model(
            entry["model"], depth=entry.get("depth"), width=entry.get("width"), num_classes=10
        )
        state = our_keys(_weights(load_tensors(path), path, fmt), entry["model"])
    load_weights(model, state, source=path)
    return model.eval()


# ---------------------------------------------------------------------------- export
def export(checkpoint: str | Path, out: str | Path) -> dict[str, Any]:
    """One of our WRN runs in RobustBench's format: ``{'state_dict': ...}`` in the names of
    RobustBench's ``WideResNet(depth, widen_factor)``, at ``out``; returns that architecture's
    description. Inputs in [0, 1], no normalisation, as our models are trained."""

    ckpt = load_checkpoint(checkpoint)
    spec = spec_from_checkpoint(ckpt, source=checkpoint)
    if spec.model != "wrn":
        raise ConfigError(
            f"{checkpoint}: model {spec.model!r} has no RobustBench counterpart here; "
            "export takes Wide ResNet runs (RobustBench's WideResNet)"
        )
    depth, width = spec.depth or 34, spec.width or 10
    if (depth - 4) % 6:
        # Madry's WRN-32-10 has (32 - 2) / 6 = 5 blocks per stage: RobustBench's depth 34
        depth = 6 * ((depth - 2) // 6) + 4
    state = robustbench_keys(ckpt["model"])
    with atomic_path(out) as tmp:
        torch.save({"state_dict": state}, tmp)
    return {
        "architecture": "WideResNet",
        "depth": depth,
        "widen_factor": width,
        "run": spec.run_name(),
    }


# ---------------------------------------------------------------------------- evaluation
def evaluate_entry(
    name: str,
    entry: Mapping[str, Any],
    attacks: list[str],
    budget: Mapping[str, Any],
    *,
    model_dir: str | Path,
    data_root: str | Path,
    samples_limit: int = 0,
    device: str = "auto",
) -> list[dict[str, Any]]:
    """Rows of :func:`gair.evaluation.kernels.evaluate_model` for one published model on its
    test set, at the budget's eps and at each eps of its reported numbers
    (:func:`gair.evaluation.zoo.evaluation_plan`); each row records its eps."""

    dev = resolve_device(device)
    model = load_entry(entry, model_dir=model_dir).to(dev)
    data = load_dataset(entry.get("dataset", "cifar10"), root=data_root, device=dev)
    x, y = data.x_test, data.y_test
    if samples_limit:
        x, y = x[:samples_limit], y[:samples_limit]
    rows = []
    for eps, names in evaluation_plan(entry, attacks, float(budget["eps"])):
        print(f"eps {eps_title(eps)}:")
        result = evaluate_model(model, x, y, names, EvalBudget(**{**budget, "eps": eps}), log=print)
        rows += result.rows
    for row in rows:
        row.update(model=name, checkpoint=str(entry_file(entry, model_dir)))
    return rows


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gair published",
        description="Evaluate a published checkpoint, or export one of our runs to RobustBench "
        "(the table and figure: python -m gair table|figure published).",
    )
    sub = parser.add_subparsers(dest="what", required=True)
    ev = sub.add_parser("evaluate", help="evaluate one entry of published.models")
    ev.add_argument("--name", required=True)
    ev.add_argument("--entry", required=True, help="the entry as JSON")
    ev.add_argument("--attacks", required=True)
    ev.add_argument("--budget", required=True, help="EvalBudget fields as JSON")
    ev.add_argument("--model-dir", default="resources/published")
    ev.add_argument("--data-root", default="resources/data")
    ev.add_argument("--samples-limit", type=int, default=0)
    ev.add_argument("--device", default="auto")
    ev.add_argument("--out", required=True)
    ex = sub.add_parser("export", help="a Wide ResNet run in RobustBench's format")
    ex.add_argument("--checkpoint", required=True)
    ex.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.what == "export":
        info = export(args.checkpoint, args.out)
        print(f"{args.out}: RobustBench WideResNet(depth={info['depth']}, "
              f"widen_factor={info['widen_factor']}) from {info['run']}")  # fmt: skip
        return 0

    entry, budget = json.loads(args.entry), json.loads(args.budget)
    rows = evaluate_entry(
        args.name, entry, [a for a in args.attacks.split(",") if a], budget,
        model_dir=args.model_dir, data_root=args.data_root, samples_limit=args.samples_limit,
        device=args.device,
    )  # fmt: skip
    computed = provenance.collect(resolve_device(args.device))
    write_parquet(args.out, pd.DataFrame(rows), provenance.metadata([computed]))
    return 0

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
:func:`gair.checkpoint.load_tensors`: a file that asks to unpickle anything but tensors and
plain values is refused. :func:`export` writes one of our runs in RobustBench's format.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gair.errors import CheckpointError, ConfigError
from gair.io import read_json_argument

if TYPE_CHECKING:  # torch is imported where it is used: the plan reads this module too
    from torch import Tensor, nn

FORMATS = ("gairat", "fat", "trades", "mart", "rst")
SOURCES = ("robustbench", "file")
# The eps of each reported number (an entry's ``reported``): ``eps`` is RobustBench's, for its
# clean and AutoAttack accuracy; ``paper_eps`` the model's paper's, for ``paper_robust``.
REPORTED_EPS = {"eps": ("clean", "autoattack"), "paper_eps": ("paper_robust",)}
# The attacks run again at a reported number's own eps (besides the paper's eps, where every
# attack runs): those that compare with the reported robust numbers.
AT_REPORTED_EPS = ("pgd20", "autoattack")


def same_eps(a: float, b: float) -> bool:
    return abs(a - b) < 1e-9


def reported_eps(reported: Mapping[str, Any], where: str) -> float:
    """An entry's reported eps as a number (the config may write 8/255); ConfigError naming the
    key where a number it qualifies has none."""
    from gair.spec import coerce

    key = "published.models.<name>.reported"
    if where not in reported:
        numbers = [k for k in REPORTED_EPS[where] if k in reported]
        raise ConfigError(
            f"{key} has {numbers[0]!r} but no {where!r}: give the eps it was measured at "
            "(e.g. 8/255 for RobustBench's leaderboard, 0.031 where its footnote says so)"
        )
    value = coerce(f"{key}.{where}", reported[where], float)
    if not value > 0:
        raise ConfigError(f"{key}.{where} = {value!r} is invalid: it must be an eps > 0")
    return value


def checked_reported(reported: Mapping[str, Any]) -> dict[str, Any]:
    """``reported`` with each eps that one of its numbers needs, as a float."""
    out = dict(reported)
    for where, numbers in REPORTED_EPS.items():
        if any(k in reported for k in numbers) or where in reported:
            out[where] = reported_eps(reported, where)
    return out


def evaluation_plan(
    entry: Mapping[str, Any], attacks: list[str], eps: float
) -> list[tuple[float, list[str]]]:
    """(eps, attacks) of one model's evaluation: every attack at ``eps`` (the paper's, as our
    own tables), then at each other eps a reported number of the entry was measured at, the
    attacks of :data:`AT_REPORTED_EPS` that are among ``attacks``."""
    reported = entry.get("reported") or {}
    plan = [(eps, list(attacks))]
    compared = [a for a in attacks if a in AT_REPORTED_EPS]
    for where in REPORTED_EPS:
        if where not in reported or not compared:
            continue
        other = float(reported[where])
        if not any(same_eps(other, e) for e, _ in plan):
            plan.append((other, compared))
    return plan


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
    from torch import Tensor

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
    import importlib
    import sys
    import warnings

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


def robustbench_file(model_dir: str | Path, name: str, dataset: str = "cifar10") -> Path:
    """Where RobustBench keeps a model's weights under ``model_dir``."""
    return Path(model_dir) / dataset / "Linf" / f"{name}.pt"


def load_entry(entry: Mapping[str, Any], *, model_dir: str | Path = "") -> nn.Module:
    """The model an entry of ``published.models`` names, weights loaded, in eval mode."""
    from gair.checkpoint import load_tensors
    from gair.models import build_model
    from gair.runtime import load_weights

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


def entry_file(entry: Mapping[str, Any], model_dir: str | Path) -> Path:
    """The weights file an entry reads."""
    if entry.get("source") == "robustbench":
        return robustbench_file(model_dir, entry["name"], entry.get("dataset", "cifar10"))
    return Path(entry["file"])


def download_hint(entry: Mapping[str, Any], model_dir: str | Path) -> str:
    if entry.get("source") == "robustbench":
        return (
            f"robustbench.utils.load_model('{entry['name']}', model_dir='{model_dir}', "
            "dataset='cifar10', threat_model='Linf') downloads it"
        )
    return str(entry.get("download", "the authors' release (see the entry's cite)"))


# ---------------------------------------------------------------------------- export
def export(checkpoint: str | Path, out: str | Path) -> dict[str, Any]:
    """One of our WRN runs in RobustBench's format: ``{'state_dict': ...}`` in the names of
    RobustBench's ``WideResNet(depth, widen_factor)``, at ``out``; returns that architecture's
    description. Inputs in [0, 1], no normalisation, as our models are trained."""
    import torch

    from gair.checkpoint import load_checkpoint
    from gair.io import atomic_path
    from gair.runtime import spec_from_checkpoint

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
    """Rows of :func:`gair.evaluate.evaluate_model` for one published model on its test set, at
    the budget's eps and at each eps of its reported numbers (:func:`evaluation_plan`); each
    row records its eps."""
    from gair.data.tensors import load_dataset
    from gair.evaluate import EvalBudget, evaluate_model
    from gair.runtime import resolve_device

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


def eps_title(eps: float) -> str:
    """An eps as papers write it: k/255 where it is one, else its decimal (0.031)."""
    k = eps * 255
    return f"{round(k)}/255" if abs(k - round(k)) < 1e-6 else f"{eps:g}"


# ---------------------------------------------------------------------------- the report
GAPS = {"natural": "clean", "autoattack": "autoattack"}  # our attack -> RobustBench's number


def column(attack: str, eps: float, main_eps: float) -> str:
    """The summary's column of our accuracy under ``attack`` at ``eps``: the attack's name at
    the paper's eps (and for natural accuracy), ``<attack>@<eps>`` at any other."""
    if attack == "natural" or same_eps(eps, main_eps):
        return attack
    return f"{attack}@{eps_title(eps)}"


def summary(manifest: Mapping[str, Any]) -> Any:
    """One row per published model: our accuracy (percent) under every attack evaluated, at
    the paper's eps and at the eps of each reported number; RobustBench's clean and
    AutoAttack numbers and the paper's own robust number, each with its eps; the gaps ours
    minus RobustBench's, ours taken at RobustBench's eps (AutoAttack only where ours is the
    standard version)."""
    import math

    import pandas as pd

    from gair import report

    main_eps = float(manifest["eps"])
    rows = []
    for name, model in manifest["models"].items():
        frame = report.read_eval(model["eval"])
        if "eps" not in frame:
            frame["eps"] = main_eps
        ours = {
            column(a, e, main_eps): acc
            for a, e, acc in zip(frame["attack"], frame["eps"], frame["accuracy_pct"], strict=True)
        }
        reported = model.get("reported") or {}
        row: dict[str, Any] = {"model": name, "source": model.get("source", "")}
        row.update(ours)
        rb_eps = reported.get("eps", math.nan)
        row["robustbench_clean"] = reported.get("clean", math.nan)
        row["robustbench_autoattack"] = reported.get("autoattack", math.nan)
        row["robustbench_eps"] = rb_eps
        row["paper_robust"] = reported.get("paper_robust", math.nan)
        row["paper_attack"] = reported.get("paper_attack", "")
        row["paper_eps"] = reported.get("paper_eps", math.nan)
        for attack, theirs in GAPS.items():
            at_rb = math.nan if math.isnan(rb_eps) else ours.get(column(attack, rb_eps, main_eps))
            row[f"gap_{attack}"] = (math.nan if at_rb is None else at_rb) - reported.get(
                theirs, math.nan
            )
        rows.append(row)
    if not rows:
        raise ConfigError("no published model to report: every file is missing")
    return pd.DataFrame(rows)


def our_columns(frame: Any, main_eps: float) -> list[tuple[str, str]]:
    """(column, heading) of our accuracies: the registry's order of attacks, the paper's eps
    first, then each other eps in increasing order."""
    from gair import evaluation_attacks

    def split(col: str) -> tuple[str, float]:
        attack, _, eps = col.partition("@")
        return attack, main_eps if not eps else _eps_value(eps)

    cols = [c for c in frame.columns if _known(c.partition("@")[0])]
    by_eps: dict[float, list[str]] = {}
    for c in cols:
        by_eps.setdefault(split(c)[1], []).append(c)
    out = []
    for eps in sorted(by_eps, key=lambda e: (not same_eps(e, main_eps), e)):
        named = {split(c)[0]: c for c in by_eps[eps]}
        for attack in evaluation_attacks.order(named):
            title = evaluation_attacks.title(attack)
            heading = title if attack == "natural" else f"{title} (eps {eps_title(eps)})"
            out.append((named[attack], heading))
    return out


def _eps_value(text: str) -> float:
    from gair.spec import coerce

    return coerce("eps", text, float)


def write_report(manifest: Mapping[str, Any], table: str | Path, figure: str | Path) -> Any:
    """TABLE.csv/.md/.tex and FIGURE.pdf/.png/.json of :func:`summary`. Every heading of a
    robust number names its eps; RobustBench's numbers and the gaps get a column per eps."""
    import math

    from gair import report

    frame = summary(manifest)
    main_eps = float(manifest["eps"])
    ours = our_columns(frame, main_eps)
    rb_eps = sorted({e for e in frame["robustbench_eps"] if e == e})
    header = ["Model", *(h for _, h in ours), "RobustBench clean"]
    header += [f"RobustBench AA (eps {eps_title(e)})" for e in rb_eps]
    header += ["paper (its attack, eps)", "natural - RB"]
    header += [f"AA - RB (eps {eps_title(e)})" for e in rb_eps]
    body = []
    for r in frame.to_dict("records"):
        at_rb = [same_eps(r["robustbench_eps"], e) for e in rb_eps]
        rb_aa = [r["robustbench_autoattack"] if hit else math.nan for hit in at_rb]
        gap_aa = [r["gap_autoattack"] if hit else math.nan for hit in at_rb]
        paper = report.number(r["paper_robust"])
        if r["paper_attack"] or not math.isnan(r["paper_eps"]):
            what = [str(r["paper_attack"])] if r["paper_attack"] else []
            what += [] if math.isnan(r["paper_eps"]) else [f"eps {eps_title(r['paper_eps'])}"]
            paper = f"{paper} ({', '.join(what)})"
        body.append([
            r["model"], *(report.number(r.get(c, math.nan)) for c, _ in ours),
            report.number(r["robustbench_clean"]),
            *(report.number(v) for v in rb_aa),
            paper, report.number(r["gap_natural"], signed=True),
            *(report.number(v, signed=True) for v in gap_aa),
        ])  # fmt: skip
    missing = manifest.get("missing") or []
    lines = [
        "# Published checkpoints under our attacks",
        "",
        "Test accuracy (%) of each released model under our attacks, beside RobustBench's "
        "clean and AutoAttack accuracy and the robust accuracy its paper reports under its own "
        "attack; every robust number names the eps it was measured at. Our attacks run at the "
        f"paper's eps ({eps_title(main_eps)}) and again at the eps of each reported number; "
        "the gaps are ours minus RobustBench's at RobustBench's eps (AutoAttack only for the "
        "standard version).",
        "",
        *report.markdown_table(header, body),
    ]
    if missing:
        lines += ["", f"Not audited (file missing): {', '.join(missing)}."]
    tex = ["% published checkpoints: test accuracy (%); needs \\usepackage{booktabs}",
           *report.latex_table(header, body), ""]  # fmt: skip
    report.write_table_files(
        table, csv=frame.to_csv(index=False, float_format="%.4f"), md="\n".join(lines) + "\n",
        tex="\n".join(tex),
    )  # fmt: skip
    fig = plot(frame, ours)
    report.save_figure(fig, figure, {"figure": "published", "models": list(frame["model"])})
    return frame


def _known(name: str) -> bool:
    from gair import evaluation_attacks

    if name == evaluation_attacks.WORST_CASE:
        return True
    try:
        evaluation_attacks.find(name)
    except ConfigError:
        return False
    return True


def plot(frame: Any, columns: list[tuple[str, str]]) -> Any:
    """Per model, our accuracy under each attack (bars), RobustBench's AutoAttack number (a
    black cross) and the paper's own robust number (an open triangle)."""
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    attacks = [c for c, _ in columns]
    titles = dict(columns)
    models = list(frame["model"])
    fig = Figure(figsize=(max(6.0, 1.4 * len(models) + 3), 4.2), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / max(1, len(attacks))
    shades = matplotlib.colormaps["viridis"](np.linspace(0.05, 0.9, len(attacks)))
    colors = dict(zip(attacks, shades, strict=True))
    x = np.arange(len(models))
    for k, attack in enumerate(attacks):
        ax.bar(x + (k - (len(attacks) - 1) / 2) * width, frame[attack], width=width,
               color=colors[attack], label=f"ours: {titles[attack]}")  # fmt: skip
    ax.scatter(x, frame["robustbench_autoattack"], marker="x", color="black", zorder=3,
               label="RobustBench: AutoAttack")  # fmt: skip
    ax.scatter(x, frame["paper_robust"], marker="^", facecolors="none", edgecolors="black",
               zorder=3, label="paper: its own attack")  # fmt: skip
    ax.set_xticks(x, models, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, frameon=True, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("Published checkpoints: our attacks beside the reported numbers", fontsize=10)
    return fig


def cli(argv: list[str]) -> int:
    import json

    parser = argparse.ArgumentParser(
        prog="python -m gair published",
        description="Evaluate a published checkpoint, or export one of our runs to RobustBench.",
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
    rp = sub.add_parser("report", help="the table and figure of every evaluated model")
    rp.add_argument("--manifest", required=True, help="JSON text or file from the workflow")
    rp.add_argument("--table", required=True, help="table prefix")
    rp.add_argument("--figure", required=True, help="figure prefix")
    args = parser.parse_args(argv)
    if args.what == "report":
        manifest = read_json_argument(args.manifest, "--manifest")
        frame = write_report(manifest, args.table, args.figure)
        print(f"published: {len(frame)} models -> {args.table}.md, {args.figure}.png")
        return 0
    if args.what == "export":
        info = export(args.checkpoint, args.out)
        print(f"{args.out}: RobustBench WideResNet(depth={info['depth']}, "
              f"widen_factor={info['widen_factor']}) from {info['run']}")  # fmt: skip
        return 0
    import pandas as pd

    from gair.io import write_parquet

    entry, budget = json.loads(args.entry), json.loads(args.budget)
    rows = evaluate_entry(
        args.name, entry, [a for a in args.attacks.split(",") if a], budget,
        model_dir=args.model_dir, data_root=args.data_root, samples_limit=args.samples_limit,
        device=args.device,
    )  # fmt: skip
    write_parquet(args.out, pd.DataFrame(rows))
    return 0

"""``python -m gair protocol TARGET``: every run a target trains, with its resolved settings
and what each epoch does, without training anything.

Per epoch: the learning rate (at the epoch's first step; ``a->b`` where an iteration-based
schedule changes it within the epoch), tau (early-stopped attacks), lambda and whether the
loss is reweighted (reweighting methods), whether a snapshot is kept and whether the epoch
may become the best checkpoint. The values come from the same functions the training loop
calls (:func:`gair.schedules.lr_at`, ``RunSpec.tau_at``, ``lam_at``, ``reweighting``,
``in_best_window``), so what is printed is what runs. Consecutive epochs that agree are
printed as one range unless ``--every-epoch`` is given; ``--json`` prints everything.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from gair.data import SELECTION_SEED
from gair.methods import method_info
from gair.plan import Plan
from gair.plan.config import load_config, validate
from gair.schedules import check_schedule, lr_at
from gair.spec import RunSpec, batches_per_epoch


@dataclass
class EpochRow:
    """What one epoch of a run does."""

    epoch: int
    lr: float
    lr_end: float  # the LR of the epoch's last step (differs only for iteration schedules)
    tau: int
    lam: float | None  # None: the method does not reweight
    reweighting: bool | None
    snapshot: bool
    best_window: bool


def epoch_rows(spec: RunSpec, *, weighted: bool) -> list[EpochRow]:
    """Every epoch of ``spec`` as the training loop will run it."""
    check_schedule(spec)
    steps = batches_per_epoch(spec)
    rows = []
    for epoch in range(1, spec.epochs + 1):
        first = (epoch - 1) * steps
        rows.append(
            EpochRow(
                epoch=epoch,
                lr=lr_at(spec, epoch, first),
                lr_end=lr_at(spec, epoch, first + steps - 1),
                tau=spec.tau_at(epoch),
                lam=spec.lam_at(epoch) if weighted else None,
                reweighting=spec.reweighting(epoch) if weighted else None,
                snapshot=epoch in spec.snapshots,
                best_window=spec.in_best_window(epoch),
            )
        )
    return rows


# Shown for every run, default or not: what a reader compares with the paper first.
CORE = (
    "dataset", "model", "depth", "width", "method", "epochs", "seed", "batch_size", "optimizer",
    "lr", "momentum", "weight_decay", "nesterov", "lr_schedule", "eps", "alpha", "steps",
    "random_start",
)  # fmt: skip


def shown_settings(spec: RunSpec) -> dict[str, Any]:
    """The core settings of ``spec``, then every other one that differs from its default."""
    out = {name: getattr(spec, name) for name in CORE}
    out["test_eps"], out["test_alpha"] = spec.test_eps, spec.test_alpha
    for f in fields(RunSpec):
        if f.name in out or f.name in RunSpec.NON_IDENTITY:
            continue
        value = getattr(spec, f.name)
        default = f.default_factory() if callable(f.default_factory) else f.default
        if value != default:
            out[f.name] = value
    return out


def selection_of(spec: RunSpec) -> dict[str, int] | None:
    """Which test points choose a run's best_val (its selection split: seed, count, and the
    evaluated points they are drawn from; the run records the indices), None without one."""
    if not spec.selection_points:
        return None
    return {
        "seed": SELECTION_SEED,
        "count": spec.selection_points,
        "of": spec.evaluated_test_points,
    }


def describe(plan: Plan, target: str) -> dict[str, Any]:
    """The target's runs, their uses, settings and epoch rows, and its evaluation sets."""
    uses: dict[str, list[dict[str, Any]]] = {}
    for exp in plan.experiments:
        for group, label, entry in plan.entries(exp):
            use = {"experiment": exp, "group": group, "label": label, "seed": entry.seed}
            uses.setdefault(entry.run, []).append(use)
    own = plan.target_experiments(target)  # a run's uses there; the claims': any
    runs = []
    for name in plan.target_runs(target):
        spec = plan.runs[name]
        weighted = method_info(spec.method).weighted
        runs.append(
            {
                "name": name,
                "uses": [u for u in uses[name] if u["experiment"] in own] or uses[name],
                "settings": shown_settings(spec),
                "selection": selection_of(spec),
                "epochs": [asdict(r) for r in epoch_rows(spec, weighted=weighted)],
            }
        )
    sets = {}
    for exp in plan.target_experiments(target):
        cfg = plan.config["experiments"][exp]
        if cfg.get("evaluation"):  # every checkpoint some run of it is evaluated at
            checkpoints = [c for _, _, e in plan.entries(exp) for c in e.checkpoints]
            sets[cfg["evaluation"]] = dict(
                plan.evaluations[cfg["evaluation"]], checkpoints=list(dict.fromkeys(checkpoints))
            )
    audited = target in ("audit", "all") or target.startswith("audit_")
    for table in plan.audit:
        if table in plan.target_experiments(target):
            sets[plan.audit[table]] = dict(
                plan.evaluations[plan.audit[table]], checkpoints=plan.config["audit"]["checkpoints"]
            )
        if audited and table in plan.masking and table in plan.target_experiments(target):
            checked = [c for e in plan.masking_entries(table)
                       for c in plan.audit_checkpoints(table, e, masking=True)]  # fmt: skip
            sets[plan.masking[table]] = dict(
                plan.evaluations[plan.masking[table]],
                checkpoints=list(dict.fromkeys(checked)),
                seeds=sorted({e.seed for e in plan.masking_entries(table)}),
            )
    return {"target": target, "runs": runs, "evaluations": sets, "estimate": plan.estimate(target)}


def _cells(row: dict[str, Any]) -> list[str]:
    lr = f"{row['lr']:.6g}" + (f"->{row['lr_end']:.6g}" if row["lr_end"] != row["lr"] else "")
    lam = "-" if row["lam"] is None else f"{row['lam']:g}"
    rew = "-" if row["reweighting"] is None else ("on" if row["reweighting"] else "off")
    return [
        lr,
        str(row["tau"]),
        lam,
        rew,
        "yes" if row["snapshot"] else "",
        "yes" if row["best_window"] else "",
    ]


def format_text(described: dict[str, Any], *, every_epoch: bool = False) -> str:
    header = ["epochs", "lr", "tau", "lambda", "reweight", "snapshot", "best-window"]
    cost = described["estimate"]
    lines = [
        f"{described['target']}: {cost['runs']} training runs, {cost['evaluations']} evaluations; "
        f"about {cost['train_hours']:.0f} + {cost['eval_hours']:.0f} GPU-hours (FLOP model)"
    ]
    for run in described["runs"]:
        lines += ["", f"== {run['name']}"]
        for use in run["uses"]:
            lines.append(
                f"   {use['experiment']} / {use['group']} / {use['label']} / seed {use['seed']}"
            )
        settings = ", ".join(f"{k}={v}" for k, v in run["settings"].items())
        lines.append(f"   settings: {settings}")
        sel = run.get("selection")
        if sel:
            lines.append(
                f"   best_val: chosen on {sel['count']} of the {sel['of']} evaluated test points "
                f"(selection split, seed {sel['seed']}); reported on the other "
                f"{sel['of'] - sel['count']}"
            )
        groups: list[tuple[int, int, list[str]]] = []
        for row in run["epochs"]:
            cells = _cells(row)
            if groups and not every_epoch and groups[-1][2] == cells:
                groups[-1] = (groups[-1][0], row["epoch"], cells)
            else:
                groups.append((row["epoch"], row["epoch"], cells))
        table = [header] + [[f"{a}" if a == b else f"{a}-{b}", *cells] for a, b, cells in groups]
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        for r in table:
            lines.append("   " + "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
    if described["evaluations"]:
        lines += ["", "evaluation sets:"]
        for name, e in described["evaluations"].items():
            budget = ", ".join(f"{k}={v}" for k, v in e.items() if k != "attacks")
            lines.append(f"   {name}: {', '.join(e['attacks'])} ({budget})")
    return "\n".join(lines) + "\n"


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gair protocol",
        description="Print every run a target trains, epoch by epoch, without training.",
    )
    parser.add_argument("target", help="a workflow target: fig4, table1, audit, all, ...")
    parser.add_argument(
        "--configfile",
        action="append",
        default=[],
        help="config merged over config/paper.yaml, as for snakemake (repeatable)",
    )
    parser.add_argument("--every-epoch", action="store_true", help="one line per epoch")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    config = load_config(args.configfile)
    validate(config)
    plan = Plan(config)
    described = describe(plan, args.target)
    if args.json:
        print(json.dumps(described, indent=1, default=str))
    else:
        print(format_text(described, every_epoch=args.every_epoch), end="")
    return 0

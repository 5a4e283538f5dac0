"""The published checkpoints' table: our accuracy under every attack beside the numbers
RobustBench and each model's paper report, each with its eps (the figure:
:mod:`gair.report.figures.published`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from gair.errors import ConfigError
from gair.evaluation import registry
from gair.evaluation.zoo import eps_title, same_eps
from gair.report import read, text, write
from gair.report.catalogue import table
from gair.report.manifest import Manifest
from gair.spec import coerce

GAPS = {"natural": "clean", "autoattack": "autoattack"}  # our attack -> RobustBench's number


def column(attack: str, eps: float, main_eps: float) -> str:
    """The summary's column of our accuracy under ``attack`` at ``eps``: the attack's name at
    the paper's eps (and for natural accuracy), ``<attack>@<eps>`` at any other."""
    if attack == "natural" or same_eps(eps, main_eps):
        return attack
    return f"{attack}@{eps_title(eps)}"


def summary(manifest: Manifest) -> pd.DataFrame:
    """One row per published model: our accuracy (percent) under every attack evaluated, at
    the paper's eps and at the eps of each reported number; RobustBench's clean and
    AutoAttack numbers and the paper's own robust number, each with its eps; the gaps ours
    minus RobustBench's, ours taken at RobustBench's eps (AutoAttack only where ours is the
    standard version)."""

    main_eps = float(manifest.eps or 0.0)
    rows = []
    for name, model in manifest.models.items():
        frame = read.read_eval(model.eval)
        if "eps" not in frame:
            frame["eps"] = main_eps
        ours = {
            column(a, e, main_eps): acc
            for a, e, acc in zip(frame["attack"], frame["eps"], frame["accuracy_pct"], strict=True)
        }
        reported = model.reported
        row: dict[str, Any] = {"model": name, "source": model.source}
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
        for attack in registry.order(named):
            title = registry.title(attack)
            heading = title if attack == "natural" else f"{title} (eps {eps_title(eps)})"
            out.append((named[attack], heading))
    return out


def _eps_value(text: str) -> float:
    return coerce("eps", text, float)


@table("published")
def write_published(manifest: Manifest, prefix: str | Path) -> pd.DataFrame:
    """PREFIX.csv/.md/.tex of :func:`summary`. Every heading of a robust number names its
    eps; RobustBench's numbers and the gaps get a column per eps."""
    frame = summary(manifest)
    main_eps = float(manifest.eps or 0.0)
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
        paper = text.number(r["paper_robust"])
        if r["paper_attack"] or not math.isnan(r["paper_eps"]):
            what = [str(r["paper_attack"])] if r["paper_attack"] else []
            what += [] if math.isnan(r["paper_eps"]) else [f"eps {eps_title(r['paper_eps'])}"]
            paper = f"{paper} ({', '.join(what)})"
        body.append([
            r["model"], *(text.number(r.get(c, math.nan)) for c, _ in ours),
            text.number(r["robustbench_clean"]),
            *(text.number(v) for v in rb_aa),
            paper, text.number(r["gap_natural"], signed=True),
            *(text.number(v, signed=True) for v in gap_aa),
        ])  # fmt: skip
    missing = manifest.missing
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
        *text.computed_lines(read.computed_on(manifest.data_files())),
        *text.markdown_table(header, body),
    ]
    if missing:
        lines += ["", f"Not audited (file missing): {', '.join(missing)}."]
    tex = ["% published checkpoints: test accuracy (%); needs \\usepackage{booktabs}",
           *text.latex_table(header, body), ""]  # fmt: skip
    write.write_table_files(
        prefix, csv=frame.to_csv(index=False, float_format="%.4f"), md="\n".join(lines) + "\n",
        tex="\n".join(tex),
    )  # fmt: skip
    return frame


def _known(name: str) -> bool:
    if name == registry.WORST_CASE:
        return True
    try:
        registry.find(name)
    except ConfigError:
        return False
    return True

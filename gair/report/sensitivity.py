"""The sensitivity target: each method pair's gain under one-factor-at-a-time changes of the
settings the paper leaves to its scripts, judged by the claims' rule, and an answer per factor.

Input: the target's manifest (``python -m gair table sensitivity --manifest FILE --out
PREFIX``; the figure: :mod:`gair.report.figures.sensitivity`). Its groups are the base
group (the paper's settings) and one group per factor level (:mod:`gair.plan.resolve`); its
``sensitivity`` field lists the ``pairs`` ([method, baseline] labels) and the
``variations``: each factor level (its group at the compared checkpoint) and the selection
rule (the base group at each of its checkpoints: best by the test set, best by validation,
last), with whether it is the paper's setting for each pair. ``columns`` are the attacks.

Each (variation, pair, attack) is a claim of :mod:`gair.report.claims` made here: the gain
of the method over its baseline under the attack at the variation's checkpoint, paired by
seed and test point, with its 95% interval and verdict (``claims.judge``: supported,
contradicted, inconclusive, not run; AutoAttack read as the cheap setting where only that
was run). A factor's answer for a pair and an attack (:func:`answer`):

- **holds** when the gain is supported at every level of the factor;
- **reverses when** it is contradicted at some level (those named);
- **vanishes when** it is supported at some levels and inconclusive at the others (named);
- **is inconclusive** when it is supported at no level and contradicted at none;
- **not run** when a level's inputs are missing.

The brief form "holds / reverses / vanishes otherwise" would call a gain that no level
supports "vanished"; the fourth answer says instead that the runs cannot tell.

Outputs: ``PREFIX.csv`` (one row per variation, pair and attack), ``PREFIX.md`` (the answers,
then the gains per factor) and ``PREFIX.tex``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gair.errors import ConfigError
from gair.evaluation import registry
from gair.report import claims, read, text, write
from gair.report.catalogue import table
from gair.report.manifest import Manifest

COLUMNS = [
    "factor", "level", "group", "checkpoint", "method", "baseline", "attack", "paper", "gain",
    "low", "high", "detectable", "verdict", "n_seeds", "n_points", "reason",
]  # fmt: skip
ANSWER_RULE = (
    "Answer per factor: the gain **holds** when it is supported at every level, **reverses "
    "when** it is contradicted at some level, **vanishes when** it is supported at some "
    "levels and inconclusive at the others, and **is inconclusive** when no level supports or "
    "contradicts it (**not run** where a level's inputs are missing)."
)


@dataclass(frozen=True)
class Pair:
    method: str
    baseline: str

    def words(self) -> str:
        """``GAIRAT's gain over AT`` (a name ending in s takes a bare apostrophe)."""
        owner = f"{self.method}'" if self.method.lower().endswith("s") else f"{self.method}'s"
        return f"{owner} gain over {self.baseline}"

    def short(self) -> str:
        return f"{self.method} - {self.baseline}"


def _layout(manifest: Manifest) -> tuple[list[Pair], list[dict[str, Any]], list[str]]:
    layout = manifest.sensitivity
    if not layout.get("pairs") or not layout.get("variations"):
        raise ConfigError(
            f"manifest {manifest.name!r} has no sensitivity layout (pairs and variations); "
            "the plan writes it for an experiment with `factors`"
        )
    pairs = [Pair(str(a), str(b)) for a, b in layout["pairs"]]
    attacks = list(manifest.columns or ["pgd20", "autoattack"])
    return pairs, list(layout["variations"]), attacks


def gains(manifest: Manifest) -> pd.DataFrame:
    """One row per variation, pair and attack: the paired gain, its interval and verdict."""
    pairs, variations, attacks = _layout(manifest)
    rows = []
    for v in variations:
        labels = manifest.groups.get(v["group"], {})
        for k, pair in enumerate(pairs):
            for attack in attacks:
                claim = claims.Claim(
                    id=f"{v['group']}|{v['checkpoint']}|{pair.short()}|{attack}",
                    entry=manifest.name, paper="not in the paper", quote="",
                    source=manifest.name, statistic="gain",
                    a=claims.Ref(pair.method, v["group"]), b=claims.Ref(pair.baseline, v["group"]),
                    quantity=claims.Quantity(attack=attack, checkpoint=v["checkpoint"]),
                )  # fmt: skip
                runs = {"a": labels.get(pair.method, []), "b": labels.get(pair.baseline, [])}
                judged = claims.judge(Manifest(name=manifest.name, groups={claim.id: runs}), claim)
                est = judged.estimate
                rows.append(
                    {
                        "factor": v["factor"], "level": v["level"], "group": v["group"],
                        "checkpoint": v["checkpoint"], "method": pair.method,
                        "baseline": pair.baseline, "attack": judged.claim.quantity.attack,
                        "paper": bool(v["paper"][k]),
                        "gain": est.value if est else math.nan,
                        "low": est.low if est else math.nan,
                        "high": est.high if est else math.nan,
                        "detectable": est.detectable if est else math.nan,
                        "verdict": judged.verdict, "n_seeds": est.n_seeds if est else 0,
                        "n_points": est.n_points if est else 0, "reason": judged.reason,
                    }
                )  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def answer(levels: Sequence[tuple[str, str]]) -> str:
    """A factor's answer from its levels' (level, verdict) for one pair and attack (the
    module docstring's rule)."""
    verdicts = [v for _, v in levels]
    missing = [lev for lev, v in levels if v == "not run"]
    if missing:
        return f"is not run at {', '.join(missing)}"
    if any(v == "this run" for v in verdicts):  # one seed: described, not judged
        return "is described for one seed only (this run)"
    against = [lev for lev, v in levels if v == "contradicted"]
    if against:
        return f"reverses when it is {', '.join(against)}"
    if all(v == "supported" for v in verdicts):
        return "holds"
    if "supported" in verdicts:
        gone = [lev for lev, v in levels if v != "supported"]
        return f"vanishes when it is {', '.join(gone)}"
    return "is inconclusive"


def answers(frame: pd.DataFrame) -> dict[str, str]:
    """factor -> one line: each pair's answer under each attack."""
    out = {}
    for factor, part in frame.groupby("factor", sort=False):
        clauses = []
        for (method, baseline), rows in part.groupby(["method", "baseline"], sort=False):
            by_attack = {
                attack: answer(list(zip(r["level"], r["verdict"], strict=True)))
                for attack, r in rows.groupby("attack", sort=False)
            }
            said = dict.fromkeys(by_attack.values())
            if len(said) == 1:  # the same answer under every attack
                words = f"{next(iter(said))} under {' and '.join(map(registry.title, by_attack))}"
            else:
                words = " and ".join(
                    f"{ans} under {registry.title(a)}" for a, ans in by_attack.items()
                )
            clauses.append(f"{Pair(str(method), str(baseline)).words()} {words}")
        out[str(factor)] = "; ".join(clauses) + "."
    return out


def level_words(rows: pd.DataFrame) -> str:
    """A level as the table shows it, marked where it is the paper's setting."""
    level = str(rows["level"].iloc[0])
    paper = rows.groupby(["method", "baseline"], sort=False)["paper"].first()
    if paper.all():
        return f"{level} (the paper's)"
    if paper.any():
        which = ", ".join(f"{m} - {b}" for (m, b), p in paper.items() if p)
        return f"{level} (the paper's for {which})"
    return level


def cell(r: pd.Series) -> str:
    if math.isnan(r["gain"]):
        return claims.verdict_cell({"verdict": r["verdict"], "reason": r["reason"],
                                    "detectable": r["detectable"]})  # fmt: skip
    gain = text.number(r["gain"], signed=True) + text.interval(r["low"], r["high"], signed=True)
    return f"{gain} {r['verdict']}"


def _display(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    keys = list(
        dict.fromkeys(zip(frame["method"], frame["baseline"], frame["attack"], strict=True))
    )
    header = ["Factor", "Level"] + [f"{m} - {b}: {registry.title(a)}" for m, b, a in keys]
    rows = []
    for (factor, _), part in frame.groupby(["factor", "level"], sort=False):
        by_key = part.set_index(["method", "baseline", "attack"])
        cells = [cell(by_key.loc[k]) if k in by_key.index else "-" for k in keys]
        rows.append([str(factor), level_words(part), *cells])
    return header, rows


def to_markdown(frame: pd.DataFrame, title: str, note: str = "", computed: str = "") -> str:
    header, rows = _display(frame)
    lines = [
        f"# {title}",
        "",
        *text.trained_lines(note),
        *text.computed_lines(computed),
        "Each cell: the paired gain of the method over its baseline in accuracy points (same "
        "seeds, same test points) [95% interval over seeds and test points], and its verdict. "
        "Every variation is compared at the best checkpoint (the paper's rule) unless the "
        "factor is the selection rule.",
        "",
        claims.marginal_rule(),
        "",
        ANSWER_RULE,
        "",
        "## Answers",
        "",
        *(f"- **{factor}**: {line}" for factor, line in answers(frame).items()),
        "",
        "## Gains",
        "",
        *text.markdown_table(header, rows, left=2),
    ]
    return "\n".join(lines) + "\n"


def to_latex(frame: pd.DataFrame, title: str, computed: str = "") -> str:
    header, rows = _display(frame)
    lines = [
        f"% {title}; needs \\usepackage{{booktabs}}",
        "% " + claims.marginal_rule().replace("**", ""),
        "% " + ANSWER_RULE.replace("**", ""),
        *(["% computed on: " + computed] if computed else []),
        *(f"% {factor}: {line}" for factor, line in answers(frame).items()),
        *text.latex_table(header, rows, left=2),
        "",
    ]
    return "\n".join(lines)


def sensitivity_of(manifest: Manifest) -> tuple[pd.DataFrame, str, str]:
    """The gains of a manifest, the note of what was trained and where it was computed."""
    frame = gains(manifest)
    note = read.trained_note(manifest.metrics_files())
    computed = read.computed_on(manifest.data_files())
    return frame, note, computed


@table("sensitivity")
def write_sensitivity(manifest: Manifest, prefix: str | Path) -> pd.DataFrame:
    """PREFIX.csv, .md and .tex: every variation's gains, verdicts and the answers."""
    frame, note, computed = sensitivity_of(manifest)
    title = manifest.title or manifest.name
    write.write_table_files(
        prefix,
        csv=frame.to_csv(index=False, float_format="%.6g"),
        md=to_markdown(frame, title, note, computed),
        tex=to_latex(frame, title, computed),
    )
    return frame

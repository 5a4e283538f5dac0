"""The sensitivity target: each method pair's gain under one-factor-at-a-time changes of the
settings the paper leaves to its scripts, judged by the claims' rule, and an answer per factor.

Input: the target's manifest (``python -m gair table sensitivity --manifest FILE --out
PREFIX``; the figure: :mod:`gair.report.figures.sensitivity`). Its groups are the base
group (the paper's settings) and one group per factor level (:mod:`gair.plan.resolve`); its
``sensitivity`` field lists the ``pairs`` ([method, baseline] labels) and the
``variations``: each factor level (its group at the compared checkpoint) and the selection
rule (the base group at each of its checkpoints: best by the test set, best_val (held out),
last), with whether it is the paper's setting for each pair. ``columns`` are the attacks.

Each (variation, pair, attack) is a claim of :mod:`gair.report.claims` made here: the gain
of the method over its baseline under the attack at the variation's checkpoint, paired by
seed and test point, with its 95% interval and verdict (``claims.judge``: supported,
contradicted, inconclusive, not run; AutoAttack read as the cheap setting where only that
was run). Each level's gain is also compared with the paper's setting's: its **change**, the
level's gain minus the base's, paired by seed and point (a difference of significances is not
a significant difference), with its 95% interval (:func:`gains`). A factor's answer for a pair
and an attack (:func:`answer`), from the changes:

- **reverses when** a level's gain shrinks (its change lies below 0) and is contradicted;
- **vanishes when** it shrinks and is inconclusive; **shrinks when** it shrinks and is still
  supported; **grows when** its change lies above 0;
- **holds** when no level changes it detectably and the base gain is supported; **is
  inconclusive** when no level changes it detectably and the base gain is not supported;
- **is described for one seed only** with one seed (its intervals cover those runs only);
  **not run** when a level's inputs are missing.

Outputs: ``PREFIX.csv`` (one row per variation, pair and attack), ``PREFIX.md`` (the answers,
then the gains per factor) and ``PREFIX.tex``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from gair.errors import ConfigError
from gair.evaluation import registry
from gair.report import claims, evidence, read, stats, text, write
from gair.report.catalogue import table
from gair.report.manifest import Manifest

COLUMNS = [
    "factor", "level", "group", "checkpoint", "method", "baseline", "attack", "paper", "gain",
    "low", "high", "detectable", "verdict", "n_seeds", "n_points", "reason", "change",
    "change_low", "change_high", "changed",
]  # fmt: skip
ANSWER_RULE = (
    "Answer per factor, from each level's change (its gain minus the paper's setting's, paired "
    "by seed and point, 95% interval): the gain **reverses when** it shrinks (the change lies "
    "below 0) and is contradicted there, **vanishes when** it shrinks and is inconclusive, "
    "**shrinks when** it shrinks and is still supported, **grows when** the change lies above "
    "0; it **holds** when no level changes it detectably and the base gain is supported, and "
    "**is inconclusive** when no level changes it and the base gain is not supported (**not "
    "run** where a level's inputs are missing; one seed: described only)."
)
# A level's change, in words (the `changed` column).
SHRINKS, GROWS, SAME, BASE = "shrinks", "grows", "no detectable change", "the base"


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
                if judged.verdict == "descriptive" and est is not None:
                    # best is chosen on the points that judge it: the level's own verdict is
                    # marginal and says so; the answer reads the change against the base.
                    judged = replace(judged, verdict=stats.verdict(est, "greater"))
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
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return _changes(manifest, frame)


def _changes(manifest: Manifest, frame: pd.DataFrame) -> pd.DataFrame:
    """Each level's gain minus the paper's setting's gain (same pair and attack), paired by
    seed and point, with its 95% interval (the crossed mean of the difference of the two
    per-point differences) and what it says (`changed`)."""
    frame = frame.copy()
    frame["changed"] = frame["changed"].astype(object)
    for _, part in frame.groupby(["method", "baseline", "attack"], sort=False):
        base = part[part["paper"]]
        if base.empty:
            continue
        b = base.iloc[0]
        for i, r in part.iterrows():
            if i == b.name:
                frame.loc[i, "changed"] = BASE
                continue
            matrices = []
            for row in (r, b):
                labels = manifest.groups.get(row["group"], {})
                for label in (row["method"], row["baseline"]):
                    matrices.append((labels.get(label, []), row["checkpoint"]))
            ckpts = (r["checkpoint"], b["checkpoint"])
            seeds = evidence.common_seeds(*(items for items, _ in matrices))
            m = [
                evidence.eval_matrix(evidence.by_seed(items, seeds), ckpt, r["attack"],
                                     compared=ckpts)
                for items, ckpt in matrices
            ]  # fmt: skip
            if any(x is None for x in m) or len({x.shape for x in m}) != 1:  # type: ignore[union-attr]
                continue
            d = (m[0] - m[1]) - (m[2] - m[3])  # type: ignore[operator]
            est = stats.crossed_mean(100.0 * d)
            said = stats.decide(est.low, est.high, "greater")
            changed = GROWS if said == "supported" else SHRINKS if said == "contradicted" else SAME
            if est.n_seeds < 2:
                changed = "this run"
            frame.loc[i, ["change", "change_low", "change_high"]] = [est.value, est.low, est.high]
            frame.loc[i, "changed"] = changed
    return frame


def answer(levels: Sequence[Mapping[str, Any]]) -> str:
    """A factor's answer for one pair and attack from its levels' rows (``level``,
    ``verdict``, ``changed``; the base level's ``changed`` is "the base"), by the module
    docstring's rule."""
    if any(r["verdict"] == "not run" for r in levels):
        missing = [str(r["level"]) for r in levels if r["verdict"] == "not run"]
        return f"is not run at {', '.join(missing)}"
    if any("this run" in (r["verdict"], r.get("changed")) for r in levels):
        return "is described for one seed only (this run)"
    clauses = []
    for word, test in (
        ("reverses", lambda r: r["changed"] == SHRINKS and r["verdict"] == "contradicted"),
        ("vanishes", lambda r: r["changed"] == SHRINKS and r["verdict"] == "inconclusive"),
        ("shrinks", lambda r: r["changed"] == SHRINKS and r["verdict"] == "supported"),
        ("grows", lambda r: r["changed"] == GROWS),
    ):
        named = [str(r["level"]) for r in levels if test(r)]
        if named:
            clauses.append(f"{word} when it is {', '.join(named)}")
    if clauses:
        return "; ".join(clauses)
    base = [r for r in levels if r.get("changed") == BASE]
    return "holds" if base and base[0]["verdict"] == "supported" else "is inconclusive"


def answers(frame: pd.DataFrame) -> dict[str, str]:
    """factor -> one line: each pair's answer under each attack."""
    out = {}
    for factor, part in frame.groupby("factor", sort=False):
        clauses = []
        for (method, baseline), rows in part.groupby(["method", "baseline"], sort=False):
            by_attack = {
                attack: answer(r.to_dict("records"))
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
    out = f"{gain} {r['verdict']}"
    if not math.isnan(r.get("change", math.nan)):
        change = text.number(r["change"], signed=True)
        interval = text.interval(r["change_low"], r["change_high"], signed=True)
        out += f"; change {change}{interval}: {r['changed']}"
    return out


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
    seeds = int(frame["n_seeds"].max()) if len(frame) else 1
    covers = text.interval_words(seeds).replace("intervals", "interval")
    lines = [
        f"# {title}",
        "",
        *text.trained_lines(note),
        *text.computed_lines(computed),
        "Each cell: the paired gain of the method over its baseline in accuracy points (same "
        f"seeds, same test points) [{covers}], and its verdict. "
        "Every variation is compared at the experiment's first checkpoint (best_val, held "
        "out, in the paper config) unless the factor is the selection rule; where a level "
        "differs from the paper's setting, its change (its gain minus the base's) follows.",
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

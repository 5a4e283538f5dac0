"""How numbers and tables are written: percentages with two decimals, ``median ± std``
cells, ``[low, high]`` intervals, Markdown and booktabs LaTeX tables."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def number(value: float | None, *, signed: bool = False, unit: str = "") -> str:
    """A percentage (or point difference) with two decimals; '-' where there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return (f"{value:+.2f}" if signed else f"{value:.2f}") + unit


def cell(median: float, std: float) -> str:
    """``median ± std``, or the median alone where the spread is undefined (one seed)."""
    return number(median) if math.isnan(std) else f"{median:.2f} ± {std:.2f}"


def interval(low: float, high: float, *, signed: bool = False) -> str:
    """`` [low, high]`` (a 95% interval, with a leading space), or nothing where it is unknown."""
    if math.isnan(low) or math.isnan(high):
        return ""
    return f" [{number(low, signed=signed)}, {number(high, signed=signed)}]"


def tex_escape(text: str) -> str:
    """Escape LaTeX's special characters and write ± as $\\pm$."""
    out = text.replace("\\", r"\textbackslash{}")
    for ch in "&%$#_{}":
        out = out.replace(ch, "\\" + ch)
    return out.replace("±", r"$\pm$")


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1
) -> list[str]:
    """Lines of a Markdown table, the first ``left`` columns left-aligned."""
    align = ["---"] * left + ["---:"] * (len(header) - left)
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(align) + "|",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def latex_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1
) -> list[str]:
    """Lines of a booktabs tabular, the first ``left`` columns left-aligned."""
    return [
        "\\begin{tabular}{" + "l" * left + "r" * (len(header) - left) + "}",
        "\\toprule",
        " & ".join(tex_escape(h) for h in header) + " \\\\",
        "\\midrule",
        *(" & ".join(tex_escape(c) for c in r) + " \\\\" for r in rows),
        "\\bottomrule",
        "\\end{tabular}",
    ]


def trained_lines(note: str) -> list[str]:
    """A Markdown table's line saying what was trained for it (:func:`trained_note`)."""
    return [f"Trained here: {note}.", ""] if note else []


def computed_lines(computed: str) -> list[str]:
    """A Markdown table's line saying where its numbers were computed
    (:func:`gair.report.read.computed_on`)."""
    return [f"Computed on: {computed}.", ""] if computed else []


def selection_lines(checkpoints: Iterable[str]) -> list[str]:
    """What a best_val checkpoint is, for a table that shows one (none otherwise)."""
    if "best_val" not in set(checkpoints):
        return []
    return [
        "best_val: held-out selection in the same run. Its epoch is the one, in the window of "
        "best, with the highest PGD-20 accuracy on the run's selection split (seeded test points, "
        "the same for every run of the data); its numbers, and both sides of every gain at it, "
        "are computed on the other test points (the report split). best (chosen on every test "
        "point: the paper's rule) and last are reported on every test point. (A run that withholds "
        "training points instead, val_split, selects on those and reports on every test point.)",
        "",
    ]


def interval_words(n_seeds: int) -> str:
    """What a 95% interval covers, for a footer or a table note: seeds and test points with
    several seeds, the test points of one run only with one (its effect, not the method's)."""
    if n_seeds > 1:
        return "95% intervals over seeds and test points"
    return "95% intervals over test points only (one seed: this run, not the method)"

"""The numbers GAIRAT's tables report, as data, for side-by-side comparison.

Test accuracy in percent; ``(median, std)`` over five seeds for Tables 1 and 2 (std is None
where the paper gives none). Keys: table -> method label -> checkpoint -> attack name, with
the attack names of ``python -m gair evaluate`` (natural, pgd20, pgd_plus, autoattack).
"""

from __future__ import annotations

Number = tuple[float, float | None]
TableNumbers = dict[str, dict[str, dict[str, Number]]]


def _row(natural: Number, pgd20: Number, pgd_plus: Number) -> dict[str, Number]:
    return {"natural": natural, "pgd20": pgd20, "pgd_plus": pgd_plus}


# Table 1: WRN-32-10 on CIFAR-10; best checkpoint (epochs 59-100, by PGD-20) and last (120).
TABLE1: TableNumbers = {
    "AT": {
        "best": _row((86.92, 0.24), (51.96, 0.21), (51.28, 0.23)),
        "last": _row((86.62, 0.22), (46.73, 0.08), (46.08, 0.07)),
    },
    "FAT": {
        "best": _row((89.16, 0.15), (51.24, 0.14), (46.14, 0.19)),
        "last": _row((88.18, 0.19), (46.79, 0.34), (45.80, 0.16)),
    },
    "GAIRAT": {
        "best": _row((85.75, 0.23), (57.81, 0.54), (55.61, 0.61)),
        "last": _row((85.49, 0.25), (53.76, 0.49), (50.32, 0.48)),
    },
    "GAIR-FAT": {
        "best": _row((88.59, 0.12), (56.21, 0.52), (53.50, 0.60)),
        "last": _row((88.44, 0.10), (50.64, 0.56), (47.51, 0.51)),
    },
}

# Table 2: WRN-34-10 on CIFAR-10, beta 6; best checkpoint (epochs 75-100) and last (100).
TABLE2: TableNumbers = {
    "TRADES": {
        "best": _row((84.88, 0.35), (56.43, 0.24), (54.33, 0.38)),
        "last": _row((85.66, 0.33), (53.31, 0.25), (50.11, 0.25)),
    },
    "GAIR-TRADES": {
        "best": _row((86.99, 0.31), (63.32, 0.50), (56.77, 0.87)),
        "last": _row((86.86, 0.26), (60.65, 1.00), (52.70, 0.93)),
    },
}

# Table 3: WRN-28-10 with 500K pseudo-labelled images, natural and AutoAttack accuracy. Only
# GAIR-RST is trained here; the other rows are the AutoAttack leaderboard entries the paper
# quotes, listed for context.
TABLE3: TableNumbers = {
    "GAIR-RST": {"last": {"natural": (89.36, None), "autoattack": (59.64, None)}},
}
TABLE3_OTHERS: dict[str, dict[str, float]] = {
    "Gowal et al. (2020)": {"natural": 89.48, "autoattack": 62.60},
    "Wu et al. (2020)": {"natural": 88.25, "autoattack": 60.04},
    "Carmon et al. (2019)": {"natural": 89.69, "autoattack": 59.53},
    "Sehwag et al. (2020)": {"natural": 88.98, "autoattack": 57.14},
    "Wang et al. (2020b)": {"natural": 87.50, "autoattack": 56.29},
    "Hendrycks et al. (2019)": {"natural": 87.11, "autoattack": 54.92},
}

# The Diff. columns Table 1 prints (method minus AT, medians), kept to check the transcription.
TABLE1_DIFF: dict[str, dict[str, dict[str, float]]] = {
    "FAT": {
        "best": {"natural": 2.24, "pgd20": -0.72, "pgd_plus": -5.14},
        "last": {"natural": 1.56, "pgd20": 0.06, "pgd_plus": -0.28},
    },
    "GAIRAT": {
        "best": {"natural": -1.17, "pgd20": 5.85, "pgd_plus": 4.33},
        "last": {"natural": -1.13, "pgd20": 7.03, "pgd_plus": 4.24},
    },
    "GAIR-FAT": {
        "best": {"natural": 1.67, "pgd20": 4.25, "pgd_plus": 2.22},
        "last": {"natural": 1.82, "pgd20": 3.91, "pgd_plus": 1.43},
    },
}

PAPER: dict[str, TableNumbers] = {"table1": TABLE1, "table2": TABLE2, "table3": TABLE3}


def paper_number(table: str, method: str, checkpoint: str, attack: str) -> Number | None:
    """The paper's (median, std) for one cell, or None where the paper has no such cell."""
    return PAPER.get(table, {}).get(method, {}).get(checkpoint, {}).get(attack)

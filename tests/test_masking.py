"""The gradient-masking checks: their attacks, their flags on hand-made arrays, and on two
hand-built models whose answer is known.

The models classify 8x8 one-channel images in [0, 1] by their nearest of ten prototypes (a
linear model: logit_c = p_c . x - |p_c|^2 / 2). For a linear model the smallest L-inf
perturbation that changes its decision is computed exactly (:func:`eps_min`: for each other
class the margin against the largest decrease a perturbation of radius e can make inside the
box, bisected on e), so the test points are chosen with a known answer: 25 fragile points
(broken at 0.6 eps) and 25 solid ones (robust beyond 1.4 eps, broken before eps 0.45).

- the plain model: every check passes (PGD finds what the exact computation finds);
- the same model behind a quantising input layer (round to 1/32: zero gradient almost
  everywhere, the classic obfuscated gradient): PGD cannot move, so the eps sweep stays high,
  the unbounded attack leaves every point, and the black-box Square breaks fragile points
  that every white-box attack left standing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import Tensor, nn

from gair.errors import ConfigError
from gair.evaluation import evaluate, registry
from gair.evaluation.autoattack import autoattack_correct, build_ensemble
from gair.evaluation.kernels import evaluate_model
from gair.evaluation.registry import EvalBudget
from gair.paper.robustness import pgd_correct
from gair.report import masking
from gair.report.manifest import Item, Manifest

torch.set_num_threads(1)

EPS = 0.08
MASKING = [
    "natural", "pgd10", "pgd20", "pgd40", "pgd60", "pgd80", "pgd100", "pgd20_x0.25",
    "pgd20_x0.5", "pgd20_x2", "pgd20_x4", "pgd20_eps0.5", "pgd100_unbounded", "apgd_ce",
    "apgd_t", "square",
]  # fmt: skip


# ------------------------------------------------------------------------- flags on arrays
def column(ones: int, n: int = 100) -> np.ndarray:
    return np.arange(n) < ones


def test_eps_flag_on_hand_made_arrays() -> None:
    falling = [column(90), column(60), column(20), column(0)]
    assert not masking.eps_flag([0.01, 0.02, 0.04, 0.5], falling).raised
    # One point in 100 left at the largest eps: an attack there must leave none.
    left = masking.eps_flag([0.01, 0.5], [column(90), column(1)])
    assert left.raised and "1.0% of the points survive eps 0.5" in left.sentence
    # A rise of 30 points from eps 0.02 to 0.04 is far beyond noise (given in any order).
    up = masking.eps_flag([0.04, 0.01, 0.02, 0.5], [column(60), column(90), column(30), column(0)])
    assert up.raised and "rises from eps 0.02 to 0.04" in up.sentence
    # Two points more at the larger eps (the same points plus two): within noise.
    assert not masking.eps_flag([0.01, 0.02, 0.5], [column(50), column(52), column(0)]).raised


def test_steps_flag_on_hand_made_arrays() -> None:
    assert not masking.steps_flag([10, 20, 40], [column(50), column(48), column(48)]).raised
    assert not masking.steps_flag([10, 20], [column(50), column(51)]).raised  # one point
    up = masking.steps_flag([10, 20, 100], [column(50), column(48), column(70)])
    assert up.raised and "PGD-20 to PGD-100" in up.sentence


def test_a_rise_is_paired_over_seeds_and_points() -> None:
    """Seeds x points matrices: a rise on every seed is flagged, one balanced by a fall on
    another seed is not."""
    both = [np.stack([column(50), column(50)]), np.stack([column(70), column(70)])]
    assert masking.steps_flag([10, 20], both).raised
    mixed = [np.stack([column(50), column(70)]), np.stack([column(70), column(50)])]
    assert not masking.steps_flag([10, 20], mixed).raised


def test_unbounded_and_black_box_flags_on_hand_made_arrays() -> None:
    assert not masking.unbounded_flag(column(0)).raised
    assert masking.unbounded_flag(column(3)).raised
    white = {"APGD-CE": column(60), "PGD-20": column(50) | (np.arange(100) == 70)}
    # Points 0-49 survive every white-box attack (point 70 survives PGD-20 only); Square
    # breaks points 40-49 and point 70.
    black = column(40) | ((np.arange(100) >= 50) & (np.arange(100) != 70))
    flag = masking.black_box_flag(white, black)
    assert flag.raised and flag.sentence.startswith("10 of 100 points broken")
    assert not masking.black_box_flag(white, column(50)).raised
    with pytest.raises(ValueError, match="at least one white-box"):
        masking.black_box_flag({}, black)


# ------------------------------------------------------------------------- the attacks
def test_the_masking_attacks_have_entries_titles_and_costs() -> None:
    budget = EvalBudget(eps=0.031, alpha=0.003, autoattack_version="cheap")
    x2 = registry.setting("pgd20_x2", budget)
    assert (x2.steps, x2.eps, x2.alpha, x2.random_start) == (20, 0.062, pytest.approx(0.006), True)
    quarter = registry.setting("pgd20_x0.25", EvalBudget(eps=0.031))
    assert quarter.eps == pytest.approx(0.00775) and quarter.alpha == pytest.approx(0.031 / 16)
    half = registry.setting("pgd20_eps0.5", EvalBudget(eps=0.1))
    assert (half.eps, half.alpha) == (0.5, pytest.approx(0.125))
    unbounded = registry.setting("pgd100_unbounded", budget)
    assert (unbounded.eps, unbounded.alpha, unbounded.random_start) == (1.0, 0.025, False)
    assert registry.setting("pgd20", budget).eps is None
    titles = {
        "pgd20_x2": "PGD-20 at 2 eps", "pgd20_eps0.5": "PGD-20 at eps 0.5",
        "pgd100_unbounded": "PGD-100 unbounded", "apgd_t": "APGD-T",
        "square_cheap": "Square (cheap)", "fab_t": "FAB-T",
    }  # fmt: skip
    assert {name: registry.title(name) for name in titles} == titles
    # The cheap ensemble names each of its attacks so; FAB-T is not part of it.
    assert registry.setting("apgd_ce", budget).name == "apgd_ce_cheap"
    assert registry.setting("square", EvalBudget(eps=0.1)).name == "square"
    with pytest.raises(ConfigError, match="FAB-T is not part of the autoattack_cheap"):
        registry.setting("fab_t", budget)
    assert registry.is_black_box("square") and not registry.is_black_box("apgd_t")
    standard, cheap = {"aa_version": "standard"}, {"aa_version": "cheap"}
    assert registry.passes("pgd20_x4", standard) == 20 and registry.passes("pgd100_unbounded", {})
    assert registry.passes("apgd_t", standard) == 900 and registry.passes("apgd_t", cheap) == 60
    assert registry.passes("fab_t", standard) == 1800
    assert registry.passes("square", standard) == pytest.approx(5000 / 3)
    for bad in ("pgd20_x", "pgd20_eps", "pgd0_unbounded", "square_fast", "apgd"):
        with pytest.raises(ConfigError, match="is unknown"):
            registry.find(bad)


# ------------------------------------------------------------------------- the models
def eps_min(x: np.ndarray, y: int, protos: np.ndarray) -> float:
    """The smallest L-inf radius inside [0, 1]^d at which the nearest-prototype model can be
    made to misclassify x (0 if it already does): per other class j, the margin
    m = (p_y - p_j) . x - (|p_y|^2 - |p_j|^2) / 2 against the largest decrease a radius e can
    make, sum_i |w_i| min(e, room_i) (room: how far x_i can move the harmful way), bisected."""
    bias = -(protos**2).sum(1) / 2
    best = np.inf
    for j in range(protos.shape[0]):
        if j == y:
            continue
        w = protos[y] - protos[j]
        margin = w @ x + bias[y] - bias[j]
        if margin <= 0:
            return 0.0
        room = np.where(w > 0, x, 1 - x)
        if margin - np.abs(w) @ room > 0:
            continue  # no perturbation in the box flips it to j
        low, high = 0.0, 1.0
        for _ in range(40):
            mid = (low + high) / 2
            low, high = (
                (mid, high) if margin - np.abs(w) @ np.minimum(mid, room) > 0 else (low, mid)
            )
        best = min(best, high)
    return best


class Prototypes(nn.Module):
    """Nearest prototype (a linear model), optionally behind an input rounded to 1/``levels``
    (zero gradient almost everywhere)."""

    def __init__(self, protos: np.ndarray, levels: int = 0) -> None:
        super().__init__()
        self.register_buffer("w", torch.tensor(protos, dtype=torch.float32))
        self.levels = levels

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)
        if self.levels:
            x = torch.round(x * self.levels) / self.levels
        return x @ self.w.T - (self.w**2).sum(1) / 2


@pytest.fixture(scope="module")
def points() -> tuple[np.ndarray, Tensor, Tensor, np.ndarray]:
    """Prototypes, 50 points (25 fragile, then 25 solid) as images, labels, and each point's
    exact smallest breaking radius."""
    rng = np.random.default_rng(0)
    protos = rng.uniform(0.2, 0.8, size=(10, 64))
    fragile: list[tuple[np.ndarray, int, float]] = []
    solid: list[tuple[np.ndarray, int, float]] = []
    while len(fragile) < 25 or len(solid) < 25:
        y, j = (int(v) for v in rng.choice(10, 2, replace=False))
        if len(fragile) < 25:  # 40% of the way to another class's prototype
            x = np.clip(
                protos[y] + 0.4 * (protos[j] - protos[y]) + rng.uniform(-0.1, 0.1, 64), 0, 1
            )
            e = eps_min(x, y, protos)
            if 0.025 < e < 0.6 * EPS:
                fragile.append((x, y, e))
        x = np.clip(protos[y] + rng.uniform(-0.1, 0.1, 64), 0, 1)
        e = eps_min(x, y, protos)
        if len(solid) < 25 and 1.4 * EPS < e < 0.45:
            solid.append((x, y, e))
    chosen = fragile + solid
    x = torch.tensor(np.stack([c[0] for c in chosen]), dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor([c[1] for c in chosen])
    return protos, x, y, np.array([c[2] for c in chosen])


def masking_eval(model: nn.Module, x: Tensor, y: Tensor):
    return evaluate_model(model, x, y, MASKING, EvalBudget(eps=EPS, autoattack_version="cheap"))


def flags_of(result) -> dict[str, masking.Flag]:
    radii = {row["attack"]: row["eps"] for row in result.rows}
    points = {name: c.numpy() for name, c in result.correct.items()}
    return {f.check: f for f in masking.check(points, radii, EPS)}


def test_the_scaled_attacks_run_pgd_at_their_radius(points) -> None:
    protos, x, y, _ = points
    model = Prototypes(protos).eval()
    budget = EvalBudget(eps=EPS)
    for name, eps, alpha, start in (("pgd20_x2", 2 * EPS, EPS / 2, True),
                                    ("pgd100_unbounded", 1.0, 0.025, False)):  # fmt: skip
        torch.manual_seed(3)
        got = registry.run(model, x, y, registry.setting(name, budget), budget, 256)
        torch.manual_seed(3)
        want = pgd_correct(model, x, y, eps=eps, alpha=alpha, steps=registry.setting(
            name, budget).steps, random_start=start)  # fmt: skip
        assert torch.equal(got, want), name


def test_the_plain_model_raises_no_flag(points) -> None:
    protos, x, y, radius = points
    result = masking_eval(Prototypes(protos).eval(), x, y)
    acc = {row["attack"]: row["accuracy"] for row in result.rows}
    # No attack beats the exact answer, and PGD reaches it at eps and at eps 0.5.
    exact = {row["attack"]: float(np.mean(radius > row["eps"])) for row in result.rows}
    for name in MASKING[1:]:
        setting = registry.setting(name, EvalBudget(eps=EPS, autoattack_version="cheap"))
        assert acc[setting.name] >= exact[setting.name] - 1e-9, name
    assert acc["pgd20"] == exact["pgd20"] == 0.5
    assert acc["pgd20_eps0.5"] == exact["pgd20_eps0.5"] == 0.0
    flags = flags_of(result)
    assert list(flags) == list(masking.CHECKS)
    assert not any(f.raised for f in flags.values()), flags
    assert all(f.ran for f in flags.values())
    # The worst case counts the attacks at eps only (the larger balls break everything).
    assert acc["worst_case"] == 0.5


def test_the_masked_model_raises_the_flags_that_apply(points) -> None:
    protos, x, y, radius = points
    result = masking_eval(Prototypes(protos, levels=32).eval(), x, y)
    acc = {row["attack"]: row["accuracy"] for row in result.rows}
    assert acc["natural"] == 1.0 and acc["pgd20"] == 1.0  # PGD cannot move: zero gradient
    assert acc["pgd20"] > np.mean(radius > EPS) + 0.4  # while half the points are breakable
    flags = flags_of(result)
    assert flags["eps"].raised and "survive eps 0.5" in flags["eps"].sentence
    assert flags["unbounded"].raised and flags["unbounded"].sentence.startswith("100.0%")
    black = flags["black box"]
    assert black.raised and "broken by the black-box attack after all 8 white-box" in black.sentence
    # Square broke only fragile points (the first 25): the solid ones are robust in fact.
    broken = ~result.correct["square_cheap"].numpy()
    assert broken.any() and not broken[25:].any()
    # With zero gradient more steps change nothing: no rise, no steps flag.
    assert not flags["steps"].raised


def test_each_attack_of_autoattack_alone_is_the_packages_individual_run(points) -> None:
    """The registry's apgd_ce, apgd_t and square are the package's
    run_standard_evaluation_individual, point by point."""
    protos, x, y, _ = points
    model = Prototypes(protos).eval()
    ensemble = build_ensemble(model, eps=EPS, num_classes=10, version="cheap", seed=0)
    ensemble.verbose = False
    adversarial = ensemble.run_standard_evaluation_individual(x, y, batch_size=64)
    assert set(adversarial) == {"apgd-ce", "apgd-t", "square"}
    with torch.no_grad():
        natural = model(x).argmax(1) == y
        for part, (x_adv, _) in adversarial.items():
            want = natural & (model(x_adv).argmax(1) == y)
            got = autoattack_correct(model, x, y, eps=EPS, version="cheap", part=part)
            assert torch.equal(got, want), part
    with pytest.raises(ConfigError, match="has no attack 'fab-t'"):
        autoattack_correct(model, x, y, eps=EPS, version="cheap", part="fab-t")


# ------------------------------------------------------------------------- the table
def test_the_masking_table_pools_seeds_and_says_what_it_lacks(points, tmp_path: Path) -> None:
    """Two 'seeds' of the masked model and one of the plain one (the same points), written
    as `python -m gair evaluate --samples` writes them, make the table."""
    protos, x, y, _ = points
    runs = {"masked": Prototypes(protos, levels=32).eval(), "plain": Prototypes(protos).eval()}
    groups: dict[str, list[Item]] = {"Masked": [], "Plain": []}
    for label, names in (("Masked", ["masked", "masked"]), ("Plain", ["plain"])):
        for seed, run in enumerate(names):
            attacks = MASKING if label == "Masked" else ["natural", "pgd10", "pgd20", "square"]
            budget = EvalBudget(eps=EPS, autoattack_version="cheap")
            result = evaluate_model(runs[run], x, y, attacks, budget, seed=seed)
            out, samples = (
                tmp_path / f"{label}{seed}.parquet",
                tmp_path / f"{label}{seed}.p.parquet",
            )
            evaluate.write_outputs(result, out, samples)
            groups[label].append(Item(f"{run}-s{seed}", seed, evals={"last": str(out)},
                                      points={"last": str(samples)}))  # fmt: skip
    manifest = Manifest(name="masking_t", renderer="masking", groups={"methods": groups},
                        checkpoints=["last"], eps=EPS)  # fmt: skip
    flags = masking.write_masking(manifest, tmp_path / "masking_t")
    assert list(flags.columns) == masking.FLAG_COLUMNS
    by = {(r.method, r.check): r for r in flags.itertuples()}
    assert {k[0] for k in by} == {"Masked", "Plain"} and len(flags) == 8
    assert by["Masked", "eps"].flag == "FLAG" and by["Masked", "unbounded"].flag == "FLAG"
    assert by["Masked", "eps"].n_seeds == 2 and by["Masked", "eps"].n_points == 50
    assert by["Plain", "eps"].flag == "not run" and by["Plain", "unbounded"].flag == "not run"
    assert by["Plain", "steps"].flag == "ok" and by["Plain", "black box"].flag == "ok"
    md = (tmp_path / "masking_t.md").read_text()
    assert "| Masked | last | unbounded | FLAG | 100.0% of the points survive" in md
    assert "Computed on: device cpu" in md and "PGD-20 at eps 0.5" in md
    assert "of 100 points (2 seeds x 50) broken by the black-box attack" in md
    assert pd.read_csv(tmp_path / "masking_t.csv").shape == (8, len(masking.FLAG_COLUMNS))
    assert "\\toprule" in (tmp_path / "masking_t.tex").read_text()

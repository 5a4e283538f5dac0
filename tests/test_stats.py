"""The statistics of the reports, each against an independent computation: statsmodels' ANOVA
and Wilson interval, scipy's t intervals and Spearman correlation, hand-derived values, and
the coverage of simulated crossed designs whose true mean is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from gair.report import stats


def crossed(s: int, n: int, sd_seed: float, sd_point: float, sd_res: float, rng) -> np.ndarray:
    a = rng.normal(0, sd_seed, (s, 1))
    b = rng.normal(0, sd_point, (1, n))
    return 50.0 + a + b + rng.normal(0, sd_res, (s, n))


def test_mean_squares_are_statsmodels_two_way_anova() -> None:
    smf = __import__("statsmodels.formula.api", fromlist=["ols"])
    from statsmodels.stats.anova import anova_lm

    x = crossed(4, 9, 2.0, 3.0, 1.0, np.random.default_rng(0))
    long = pd.DataFrame(
        [(s, j, x[s, j]) for s in range(4) for j in range(9)], columns=["seed", "point", "x"]
    )
    table = anova_lm(smf.ols("x ~ C(seed) + C(point)", data=long).fit())
    ms = stats.mean_squares(x)
    assert ms.seed == pytest.approx(table.loc["C(seed)", "mean_sq"], rel=1e-10)
    assert ms.point == pytest.approx(table.loc["C(point)", "mean_sq"], rel=1e-10)
    assert ms.res == pytest.approx(table.loc["Residual", "mean_sq"], rel=1e-10)
    assert (ms.df_seed, ms.df_point, ms.df_res) == (3, 8, 24)


def test_one_seed_is_the_one_sample_t_interval_over_points() -> None:
    x = np.random.default_rng(1).normal(70, 10, 40)
    est = stats.crossed_mean(x)
    low, high = sps.t.interval(0.95, 39, loc=x.mean(), scale=sps.sem(x))
    assert (est.low, est.high) == (pytest.approx(low), pytest.approx(high))
    assert est.df == pytest.approx(39) and (est.n_seeds, est.n_points) == (1, 40)


def test_one_number_per_seed_is_the_t_interval_over_seeds() -> None:
    per_seed = np.array([[71.0], [74.0], [72.5], [70.0], [73.0]])
    est = stats.crossed_mean(per_seed)
    low, high = sps.t.interval(0.95, 4, loc=per_seed.mean(), scale=sps.sem(per_seed.ravel()))
    assert (est.low, est.high) == (pytest.approx(low), pytest.approx(high))


def test_crossed_variance_and_satterthwaite_df_by_hand() -> None:
    # 2 seeds x 3 points. Grand mean 3; seed means 2, 4; point means 1.5, 3, 4.5.
    x = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])
    # MS_seed = 3 * (1 + 1) / 1 = 6; MS_point = 2 * (2.25 + 0 + 2.25) / 2 = 4.5;
    # residuals: x - row - col + grand = [[0.5, 0, -0.5], [-0.5, 0, 0.5]] -> 1 / 2 = 0.5.
    ms = stats.mean_squares(x)
    assert (ms.seed, ms.point, ms.res) == (pytest.approx(6.0), pytest.approx(4.5), 0.5)
    est = stats.crossed_mean(x)
    var = (6.0 + 4.5 - 0.5) / 6
    df = var**2 / ((6 / 6) ** 2 / 1 + (4.5 / 6) ** 2 / 2 + (0.5 / 6) ** 2 / 2)
    assert est.se == pytest.approx(math.sqrt(var)) and est.df == pytest.approx(df)
    assert est.high - est.value == pytest.approx(sps.t.ppf(0.975, df) * math.sqrt(var))


def test_negative_components_are_truncated_at_zero() -> None:
    # Seeds identical up to noise smaller than the residual: the seed component is 0, not < 0.
    x = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]]) + np.array([[0.0], [0.0]])
    ms = stats.mean_squares(x)
    assert ms.seed < ms.res
    est = stats.crossed_mean(x)
    assert est.se**2 == pytest.approx(max(ms.point, ms.res) / 8)


@pytest.mark.parametrize(
    ("sd_seed", "sd_point", "sd_res"), [(3.0, 0.0, 1.0), (0.0, 4.0, 1.0), (2.0, 2.0, 2.0)]
)
def test_the_crossed_interval_covers_the_true_mean_about_95_percent(
    sd_seed: float, sd_point: float, sd_res: float
) -> None:
    """Simulated crossed designs with a known mean: whichever source dominates (seeds, points,
    residual), about 95% of the intervals contain it (a naive interval over points only
    covers far less when seeds vary)."""
    rng = np.random.default_rng(2)
    trials = 600
    hits = naive = 0
    for _ in range(trials):
        x = crossed(5, 30, sd_seed, sd_point, sd_res, rng)
        est = stats.crossed_mean(x)
        hits += est.low <= 50.0 <= est.high
        flat = stats.crossed_mean(x.ravel())  # pretends 150 independent points
        naive += flat.low <= 50.0 <= flat.high
    assert 0.92 <= hits / trials <= 0.99
    if sd_seed > 0:
        assert naive / trials < 0.85


def test_wilson_is_statsmodels_wilson() -> None:
    from statsmodels.stats.proportion import proportion_confint

    for correct, n in ((0, 20), (7, 20), (20, 20), (94, 100), (731, 1000)):
        low, high = proportion_confint(correct, n, alpha=0.05, method="wilson")
        got = stats.wilson(100.0 * correct / n, n)
        assert got == (pytest.approx(100 * low), pytest.approx(100 * high))


def test_an_accuracy_at_100_percent_keeps_an_interval() -> None:
    est = stats.accuracy(np.ones((3, 50), dtype=bool))
    assert est.value == 100.0 and est.high == 100.0
    assert est.low == pytest.approx(stats.wilson(100.0, 50)[0]) and est.low < 95.0


def test_100_test_points_pin_an_accuracy_to_about_10_points() -> None:
    """The issue's rule of thumb: +-10 points at n = 100, +-3 at 1,000, +-1 at 10,000."""
    for n, half in ((100, 10), (1000, 3), (10000, 1)):
        x = np.zeros(n, dtype=bool)
        x[: n // 2] = True
        est = stats.accuracy(x)
        assert (est.high - est.low) / 2 == pytest.approx(half, rel=0.05)


def test_a_paired_gain_with_one_seed_is_the_paired_t_interval_or_tangos() -> None:
    rng = np.random.default_rng(3)
    a = rng.random(200) < 0.6
    b = a.copy()
    flip = rng.random(200) < 0.15
    b[flip] = ~b[flip]
    est = stats.paired_gain(a, b)
    ci = sps.ttest_rel(100.0 * a, 100.0 * b).confidence_interval(0.95)
    score = profile_score_interval(float((a & ~b).sum()), float((~a & b).sum()), 200)
    assert est.low == pytest.approx(min(ci.low, score[0]), abs=1e-4)
    assert est.high == pytest.approx(max(ci.high, score[1]), abs=1e-4)
    assert est.value == pytest.approx(100 * (a.mean() - b.mean()))


def profile_score_interval(b: float, c: float, n: int) -> tuple[float, float]:
    """A second implementation of Tango's interval: the restricted maximum likelihood found
    numerically (not from the quadratic), each bound by bisection on the score test."""
    from scipy import optimize

    z = sps.norm.ppf(0.975)

    def accepts(d: float) -> bool:
        lo, hi = max(0.0, -d), (1 - d) / 2
        if hi - lo < 1e-14:
            q = lo
        else:

            def nll(q: float) -> float:
                terms = [(b, q + d), (c, q), (n - b - c, 1 - 2 * q - d)]
                return -sum(k * math.log(max(p, 1e-300)) for k, p in terms if k)

            q = optimize.minimize_scalar(nll, bounds=(lo, hi), method="bounded",
                                         options={"xatol": 1e-12}).x  # fmt: skip
        return abs(b - c - n * d) <= z * math.sqrt(max(n * (2 * q + d - d * d), 0.0)) + 1e-12

    def bound(edge: float) -> float:
        inside, out = (b - c) / n, edge
        if accepts(edge):
            return edge
        for _ in range(50):
            mid = (inside + out) / 2
            inside, out = (mid, out) if accepts(mid) else (inside, mid)
        return inside

    return 100 * bound(-1.0), 100 * bound(1.0)


@pytest.mark.parametrize(
    ("b", "c", "n"),
    [(3, 0, 100), (0, 4, 100), (10, 4, 100), (30, 25, 200), (2.5, 1.0, 100), (100, 0, 100)],
)
def test_tangos_interval_is_the_score_test_inverted(b: float, c: float, n: int) -> None:
    low, high = stats.tango(b, c, n)
    want = profile_score_interval(b, c, n)
    assert (low, high) == (pytest.approx(want[0], abs=1e-4), pytest.approx(want[1], abs=1e-4))


def test_two_methods_that_never_disagree_keep_an_interval() -> None:
    # No discordant point of 100: the score interval is +-z^2 / (n + z^2) by hand (3.70
    # points), where the t interval has zero width.
    z2 = sps.norm.ppf(0.975) ** 2
    a = np.random.default_rng(9).random((1, 100)) < 0.7
    est = stats.paired_gain(a, a.copy())
    assert est.value == 0.0
    assert (est.low, est.high) == (pytest.approx(-100 * z2 / (100 + z2)),
                                   pytest.approx(100 * z2 / (100 + z2)))  # fmt: skip
    # Three seeds that never disagree on the same 100 points: 300 pairs, +-z^2 / (300 + z^2),
    # and the detectable effect is that half-width at 80% power, not the one-point floor.
    est = stats.paired_gain(np.ones((3, 100)), np.ones((3, 100)))
    assert est.high == pytest.approx(100 * z2 / (300 + z2)) and est.low == -est.high
    assert est.detectable == pytest.approx(est.high * (1.959964 + 0.841621) / 1.959964, rel=1e-5)
    # Three points of 100, all for A: the t interval over points reaches down to -0.40 only,
    # the score interval to -0.81, and the gain keeps the wider.
    d = np.zeros(100)
    d[:3] = 1.0
    t_low = sps.ttest_1samp(100 * d, 0).confidence_interval(0.95).low
    assert t_low == pytest.approx(-0.40, abs=0.01)
    assert stats.paired_difference(d).low == pytest.approx(stats.tango(3, 0, 100)[0])
    assert stats.tango(3, 0, 100)[0] == pytest.approx(-0.81, abs=0.01)


def test_pairing_makes_a_gain_more_precise_than_its_accuracies() -> None:
    rng = np.random.default_rng(4)
    easy = rng.random((3, 400)) < 0.7
    a, b = easy.copy(), easy.copy()
    a[:, :20] = True  # A gets 5% more of the points right, the rest agrees
    gain = stats.paired_gain(a, b)
    assert gain.excludes(0.0)
    unpaired_half = (stats.accuracy(a).high - stats.accuracy(a).low) / 2
    assert (gain.high - gain.low) / 2 < unpaired_half / 2


def test_covariance_with_one_seed_is_the_sample_covariance_over_n() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=50), rng.normal(size=50)
    y = y + x
    assert stats.covariance(x, y) == pytest.approx(np.cov(x, y)[0, 1] / 50)
    m = crossed(4, 20, 1.0, 1.0, 1.0, rng)
    ms = stats.mean_squares(m)
    assert stats.covariance(m, m) == pytest.approx((ms.seed + ms.point - ms.res) / 80)


def test_the_share_of_a_gain_matches_a_bootstrap_and_is_withheld_within_noise() -> None:
    rng = np.random.default_rng(6)
    n = 2000
    base = rng.random(n) < 0.5
    pgd = base.copy()
    pgd[:200] = True  # a 10-point PGD gain
    aa = base.copy()
    aa[:100] = True  # half of it survives
    kept, gain = aa.astype(float) - base, pgd.astype(float) - base
    g_kept, g_ref, share = stats.gain_share(kept, gain)
    assert share is not None and share.value == pytest.approx(100 * g_kept.value / g_ref.value)
    boot = []
    for _ in range(2000):
        idx = rng.integers(0, n, n)
        boot.append(100 * kept[idx].mean() / gain[idx].mean())
    assert share.se == pytest.approx(np.std(boot), rel=0.15)
    # a gain within noise has no share
    noise = np.where(rng.random(n) < 0.5, 1.0, -1.0) * (rng.random(n) < 0.02)
    assert stats.gain_share(kept, noise)[2] is None


def test_spearman_is_scipys_with_the_fisher_z_interval() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=300)
    y = x + rng.normal(size=300)
    est = stats.spearman(x, y)
    rho = sps.spearmanr(x, y).statistic
    assert est.value == pytest.approx(rho)
    se = math.sqrt((1 + rho**2 / 2) / 297)
    assert est.low == pytest.approx(math.tanh(math.atanh(rho) - 1.959964 * se), abs=1e-6)
    assert est.high == pytest.approx(math.tanh(math.atanh(rho) + 1.959964 * se), abs=1e-6)


def test_detectable_effect_is_2_8_standard_errors_and_at_least_one_point() -> None:
    x = np.random.default_rng(8).normal(0, 30, 5000)
    est = stats.crossed_mean(x)
    assert est.detectable == pytest.approx((1.959964 + 0.841621) * est.se, rel=1e-3)
    assert stats.crossed_mean(np.zeros(20)).detectable == pytest.approx(5.0)  # 100 / 20


@pytest.mark.parametrize(
    ("shift", "want"),
    [(+0.15, "supported"), (-0.15, "contradicted"), (0.0, "inconclusive")],
)
def test_synthetic_runs_give_each_verdict(shift: float, want: str) -> None:
    """Three seeds of a method and its baseline on 500 points: a clear gain, a clear loss and
    no difference at all come out supported, contradicted and inconclusive."""
    rng = np.random.default_rng(9)
    base = rng.random((3, 500)) < 0.5
    p_flip = abs(shift)
    other = base.copy()
    flips = rng.random((3, 500)) < p_flip
    if shift > 0:
        other |= flips
    elif shift < 0:
        other &= ~flips
    else:  # pure noise: as many points won as lost
        swap = rng.random((3, 500)) < 0.1
        other = np.where(swap, ~base, base)
    est = stats.paired_gain(other, base)
    assert stats.verdict(est, "greater") == want
    assert stats.verdict(None, "greater") == "not run"


def test_a_margin_moves_the_verdict_line() -> None:
    est = stats.Estimate(-0.4, -0.9, 0.1, 0.25, 30, 100, 3, 0.7)
    assert stats.verdict(est, "greater") == "inconclusive"
    assert stats.verdict(est, "greater", margin=-1.0) == "supported"  # within one point
    assert stats.verdict(est, "less", margin=0.5) == "supported"
    assert stats.verdict(est, "less", margin=-1.0) == "contradicted"
    with pytest.raises(ValueError, match="direction 'up' is invalid"):
        stats.verdict(est, "up")  # type: ignore[arg-type]

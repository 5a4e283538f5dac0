"""How sure each number is: intervals for accuracies and paired gains over test points and
seeds, the smallest detectable effect, and the verdict rule of the claims.

An evaluation of S runs (seeds) on the same n test points is a matrix X, S x n, of per-point
results (1: correct, in percent 100). Its mean is the accuracy. Seeds and test points are both
random draws (another seed, another sample of the test distribution), and every run sees the
same points: the design is two-way crossed, without replication,

    x_sj = mu + a_s + b_j + e_sj,   a ~ (0, s2_seed), b ~ (0, s2_point), e ~ (0, s2_res),

so that Var(mean) = s2_seed / S + s2_point / n + s2_res / (S n) = E[MS_seed + MS_point -
MS_res] / (S n). It is estimated by (MS_seed + max(MS_point - MS_res, 0)) / (S n): the seed
mean square is always kept, with its S - 1 degrees of freedom (dropping it when it falls below
the residual one, as a truncated moment estimator does, swaps a t quantile of 4.30 for 1.96
with three seeds and undercovers), and the point term enters where it is positive; the
degrees of freedom are Satterthwaite's (:func:`crossed_variance`). With one seed this is the
one-sample variance over points; with one point per seed, the t interval over seeds. An
interval over one seed covers that run's effect only: a claim about a method needs seeds.

A gain of method A over method B is paired twice: runs with the same seed share their
initialisation and data order, and both are evaluated on the same points. Its matrix is the
per-point difference D = X_A - X_B (values -1, 0, 1), and :func:`paired_gain` is the crossed
mean of D. Pairing removes what the two methods share (most of the point variance: an easy
point is easy for both), which is why a gain is far more precise than either accuracy.

One pivot per statistic (:class:`ScorePivot`) gives both the interval and the p-value. For an
accuracy p or a paired gain d of 0/1 results, it is a score statistic on design-effect-scaled
counts,

    T(theta) = (mean - theta) / sqrt(deff * v(theta) / N),    N = S n,

referred to Student's t with the crossed variance's Satterthwaite degrees of freedom: v is
Wilson's p (1 - p) for an accuracy and Tango's (1998) 2 q(d) + d (1 - d) for a paired gain (q
the restricted maximum-likelihood share of pairs favouring B), and the design effect deff =
max(1, crossed variance / the variance of N independent pairs) carries the seeds' and the
points' correlation. Where results are plentiful T is the crossed t statistic; near 0% or 100%,
or with few discordant pairs (two methods that disagree on 0-5 points of 100, where a t
interval has zero width), it keeps the score interval's shape. The interval is the set of
theta with |T(theta)| <= t_{df, 0.975}; the p-value of theta0 is 2 P(t_df > |T(theta0)|),
which the claims' multiplicity control adjusts (:mod:`gair.report.multiplicity`).

The verdict rule (:func:`verdict`), applied by the claims to their multiplicity-adjusted
intervals: **supported** when the interval lies entirely on the claimed side of the claim's
margin (0 unless the claim states one; for ``within``, inside (-tolerance, tolerance)),
**contradicted** when it lies entirely on the other side (outside the tolerance band),
**inconclusive** otherwise (the effect the design would detect with 80% power, measured from
the margin, is printed beside it: :attr:`Estimate.detectable`; the data rule out only what
lies beyond the interval's ends), **not run** when its inputs are missing.

Seeds alone, for the median +- std the paper prints, follow one rule too (:func:`seed_stats`):
the median, the sample standard deviation (ddof 1) and the number of seeds; with a single
seed the deviation is undefined (NaN) and drawn as no spread at all.

Everything here is numpy, scipy and pandas; nothing reads a file.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

LEVEL = 0.95  # every interval of the reports
POWER = 0.80  # the power at which :attr:`Estimate.detectable` is computed
Direction = Literal["greater", "less", "within"]


@dataclass(frozen=True)
class Estimate:
    """A number with its 95% interval. Units are the inputs' (percent for accuracies)."""

    value: float
    low: float
    high: float
    se: float
    df: float  # Satterthwaite's degrees of freedom (inf: no variance could be estimated)
    n_points: int
    n_seeds: int
    # The distance from the margin a true effect needs for the interval to exclude the margin
    # with 80% power ((t_0.975 + t_0.8) SE), never below one test point's worth (100 / n).
    detectable: float
    # The statistic's pivot (p-values, intervals at other levels); None for estimates that
    # have only a normal approximation.
    pivot: ScorePivot | FiellerPivot | None = field(default=None, compare=False, repr=False)
    # value = sign * (the pivot's value) + shift: an error is 100 minus an accuracy, a gap to
    # a constant is a shift (:meth:`transformed`).
    sign: float = 1.0
    shift: float = 0.0

    def excludes(self, margin: float = 0.0) -> bool:
        return not self.low <= margin <= self.high

    def transformed(self, sign: float = 1.0, shift: float = 0.0) -> Estimate:
        """The estimate of ``sign * value + shift`` (sign +-1), its pivot kept."""
        low, high = sign * self.low + shift, sign * self.high + shift
        return dataclasses.replace(
            self, value=sign * self.value + shift, low=min(low, high), high=max(low, high),
            sign=sign * self.sign, shift=sign * self.shift + shift,
        )  # fmt: skip

    def p_value(self, theta: float = 0.0) -> float:
        """Two-sided p-value of the hypothesis that the true value is ``theta`` (percent)."""
        if self.pivot is not None:
            return self.pivot.p_value((theta - self.shift) / self.sign)
        if self.se <= 0:
            return 0.0 if self.value != theta else 1.0
        t = abs(self.value - theta) / self.se
        return float(2 * (sps.t.sf(t, self.df) if math.isfinite(self.df) else sps.norm.sf(t)))

    def at_level(self, level: float) -> tuple[float, float]:
        """The interval at another confidence level (the same pivot)."""
        if self.pivot is not None:
            low, high = (self.sign * b + self.shift for b in self.pivot.interval(level))
            return min(low, high), max(low, high)
        q = _quantile(0.5 + level / 2, self.df)
        return self.value - q * self.se, self.value + q * self.se

    def text(self, digits: int = 2) -> str:
        """``value [low, high]``."""
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


@dataclass(frozen=True)
class MeanSquares:
    """The two-way ANOVA of an S x n matrix: mean squares and their degrees of freedom."""

    seed: float
    point: float
    res: float
    df_seed: int
    df_point: int
    df_res: int


def _matrix(x: np.ndarray) -> np.ndarray:
    m = np.asarray(x, dtype=float)
    if m.ndim == 1:
        m = m[None, :]
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"expected a seeds x points matrix, got shape {np.shape(x)}")
    if not np.isfinite(m).all():
        raise ValueError("the matrix has NaN or infinite entries")
    return m


def mean_squares(x: np.ndarray, y: np.ndarray | None = None) -> MeanSquares:
    """Mean squares of seeds, points and residual of an S x n matrix (two-way crossed, no
    replication); with ``y`` the mean cross-products of x and y instead (for covariances)."""
    a = _matrix(x)
    b = a if y is None else _matrix(y)
    if a.shape != b.shape:
        raise ValueError(f"matrices of shapes {a.shape} and {b.shape} cannot be paired")
    s, n = a.shape

    def parts(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        grand = m.mean()
        rows = m.mean(axis=1) - grand
        cols = m.mean(axis=0) - grand
        res = m - grand - rows[:, None] - cols[None, :]
        return rows, cols, res

    ra, ca, ea = parts(a)
    rb, cb, eb = parts(b)
    df_seed, df_point, df_res = s - 1, n - 1, (s - 1) * (n - 1)
    return MeanSquares(
        seed=n * float(ra @ rb) / df_seed if df_seed else 0.0,
        point=s * float(ca @ cb) / df_point if df_point else 0.0,
        res=float((ea * eb).sum()) / df_res if df_res else 0.0,
        df_seed=df_seed,
        df_point=df_point,
        df_res=df_res,
    )


def _variance_terms(ms: MeanSquares, s: int, n: int) -> list[tuple[float, int]]:
    """Var(mean) as (coefficient x mean square, df) terms (module docstring): one seed's
    matrix MS_point / n; otherwise MS_seed / (S n), always, and (MS_point - MS_res) / (S n)
    where positive."""
    if s == 1:
        return [(ms.point / n, ms.df_point)] if ms.df_point else []
    sn = s * n
    terms = [(ms.seed / sn, ms.df_seed)]
    if ms.df_point and ms.point > ms.res:
        terms += [(ms.point / sn, ms.df_point), (-ms.res / sn, ms.df_res)]
    return terms


def crossed_variance(x: np.ndarray) -> tuple[float, float]:
    """Var(mean) of an S x n matrix under the crossed model and its Satterthwaite degrees of
    freedom (module docstring); the df of the seed term (or, for one seed, of the points)
    where the variance is 0."""
    m = _matrix(x)
    s, n = m.shape
    terms = _variance_terms(mean_squares(m), s, n)
    var = max(sum(v for v, _ in terms), 0.0)
    df = _satterthwaite(terms, var)
    if not math.isfinite(df) or df <= 0:
        df = float(s - 1 if s > 1 else max(n - 1, 1))
    return var, df


def crossed_mean(x: np.ndarray, level: float = LEVEL) -> Estimate:
    """Mean of an S x n matrix with the t interval of the crossed random-effects model
    (:func:`crossed_variance`), for results that are not 0/1 (per-seed numbers, margins)."""
    m = _matrix(x)
    s, n = m.shape
    var, df = crossed_variance(m)
    return _estimate(float(m.mean()), math.sqrt(var), df, n, s, level)


def _satterthwaite(terms: list[tuple[float, int]], var: float) -> float:
    """(sum of terms)^2 / sum(term^2 / df): the df of a linear combination of mean squares."""
    denominator = sum(v * v / df for v, df in terms if df)
    return max(var * var / denominator, 1.0) if var > 0 and denominator > 0 else math.inf


def _estimate(value: float, se: float, df: float, n: int, s: int, level: float) -> Estimate:
    t, t_power = _quantile(0.5 + level / 2, df), _quantile(POWER, df)
    return Estimate(
        value=value,
        low=value - t * se,
        high=value + t * se,
        se=se,
        df=df,
        n_points=n,
        n_seeds=s,
        detectable=max((t + t_power) * se, 100.0 / n),
    )


def _quantile(q: float, df: float) -> float:
    """Student's t quantile (the normal's for infinite df)."""
    return float(sps.t.ppf(q, df)) if math.isfinite(df) else float(sps.norm.ppf(q))


@dataclass(frozen=True)
class ScorePivot:
    """The pivot of an accuracy or a paired gain of 0/1 results (module docstring), in
    fractions: ``b`` and ``c`` are the counts of pairs favouring A and B (a gain) or of correct
    and wrong results (an accuracy, ``kind`` "proportion"), ``n`` the S x n pairs or results,
    ``deff`` the design effect and ``df`` the t reference's degrees of freedom."""

    kind: Literal["difference", "proportion"]
    b: float
    c: float
    n: float
    deff: float
    df: float

    @property
    def centre(self) -> float:
        return (self.b - self.c) / self.n if self.kind == "difference" else self.b / self.n

    @property
    def edges(self) -> tuple[float, float]:
        return (-1.0, 1.0) if self.kind == "difference" else (0.0, 1.0)

    def variance(self, theta: float) -> float:
        """The per-pair variance under the hypothesis theta (Tango's or Wilson's)."""
        if self.kind == "proportion":
            return theta * (1 - theta)
        b, c, n = self.b, self.c, self.n
        big_b = (2 * n - b + c) * theta - b - c
        q = (-big_b + math.sqrt(max(big_b * big_b + 8 * n * c * theta * (1 - theta), 0.0))) / (
            4 * n
        )
        return 2 * q + theta * (1 - theta)

    def statistic(self, theta: float) -> float:
        """T(theta): signed, infinite where theta leaves no variance and is not the mean."""
        gap = self.centre - theta
        var = self.deff * self.variance(theta) / self.n
        if var <= 0:
            return 0.0 if abs(gap) < 1e-15 else math.copysign(math.inf, gap)
        return gap / math.sqrt(var)

    def p_value(self, theta_pct: float) -> float:
        """Two-sided p-value of the true value theta (percent)."""
        theta = theta_pct / 100.0
        lo, hi = self.edges
        if not lo <= theta <= hi:
            return 0.0
        t = abs(self.statistic(theta))
        return float(2 * sps.t.sf(t, self.df)) if math.isfinite(t) else 0.0

    def interval(self, level: float = LEVEL) -> tuple[float, float]:
        """{theta : |T(theta)| <= t_{df, (1 + level) / 2}}, in percent."""
        crit = _quantile(0.5 + level / 2, self.df)
        centre = self.centre

        def outside(theta: float) -> float:  # > 0 where theta is rejected
            t = self.statistic(theta)
            return abs(t) - crit if math.isfinite(t) else 1.0

        def bound(edge: float) -> float:
            if outside(edge) <= 0:
                return edge
            start = centre + 1e-9 * (edge - centre)
            if outside(start) > 0:
                return centre
            return float(optimize.brentq(outside, *sorted((start, edge)), xtol=1e-12))

        lo, hi = self.edges
        return 100.0 * bound(lo), 100.0 * bound(hi)


def _pivot_estimate(
    m: np.ndarray, kind: Literal["difference", "proportion"], level: float
) -> Estimate:
    """The estimate of a 0/1 (accuracy) or -1/0/1 (gain) matrix from its pivot."""
    s, n = m.shape
    var, df = crossed_variance(m)
    size = float(m.size)
    mean = float(m.mean())
    iid = (float((m * m).mean()) - mean * mean) / size  # N independent pairs' variance
    deff = var / iid if iid > 0 and var > 0 else 1.0
    if kind == "difference":
        pivot = ScorePivot(kind, float((m > 0).sum()), float((m < 0).sum()), size, deff, df)
    else:
        pivot = ScorePivot(kind, float(m.sum()), float(size - m.sum()), size, deff, df)
    low, high = pivot.interval(level)
    se = 100.0 * math.sqrt(deff * pivot.variance(mean) / size)
    t, t_power = _quantile(0.5 + level / 2, df), _quantile(POWER, df)
    # The detectable distance follows the interval actually printed (its half-width scaled
    # from the confidence quantile to confidence plus power), never below one point's worth.
    half = max((high - low) / 2, 1e-12)
    return Estimate(
        value=100.0 * mean, low=low, high=high, se=se, df=df, n_points=n, n_seeds=s,
        detectable=max(half * (t + t_power) / t, 100.0 / n), pivot=pivot,
    )  # fmt: skip


def accuracy(correct: np.ndarray, level: float = LEVEL) -> Estimate:
    """The accuracy (percent) of S seeds on the same n points (an S x n matrix of 0/1 or
    booleans), from its score pivot (module docstring): Wilson's shape on design-effect-scaled
    counts, honest near 0% and 100%, within [0, 100]."""
    m = _matrix(correct)
    if not np.isin(m, (0.0, 1.0)).all():
        raise ValueError("an accuracy needs 0/1 results per point")
    return _pivot_estimate(m, "proportion", level)


def paired_difference(d: np.ndarray, level: float = LEVEL) -> Estimate:
    """A paired gain (percent) from its S x n matrix of per-point differences in {-1, 0, 1}
    (same seeds in rows, same points in columns), from its score pivot (module docstring):
    Tango's shape on design-effect-scaled counts, with the crossed variance's df."""
    m = _matrix(d)
    if not np.isin(m, (-1.0, 0.0, 1.0)).all():
        raise ValueError("a paired gain needs per-point differences in {-1, 0, 1}")
    return _pivot_estimate(m, "difference", level)


def paired_gain(a: np.ndarray, b: np.ndarray, level: float = LEVEL) -> Estimate:
    """The gain of A over B in points (percent) from two S x n matrices of per-point results
    (0/1) whose rows are the same seeds and columns the same test points
    (:func:`paired_difference` of A - B)."""
    x, y = _matrix(a), _matrix(b)
    if x.shape != y.shape:
        raise ValueError(
            f"a paired gain needs the same seeds and points: shapes {x.shape} and {y.shape}"
        )
    return paired_difference(x - y, level)


@dataclass(frozen=True)
class FiellerPivot:
    """The pivot of a share theta = gain_kept / gain_ref (in fractions) from the per-point
    differences K (kept) and R (reference): T(theta) = mean(K - theta R) / SE(K - theta R),
    the crossed t statistic of the matrix K - theta R with its own Satterthwaite df (Fieller's
    construction: no ratio is ever divided)."""

    kept: np.ndarray = field(repr=False)
    ref: np.ndarray = field(repr=False)

    def statistic(self, theta: float) -> tuple[float, float]:
        m = self.kept - theta * self.ref
        var, df = crossed_variance(m)
        mean = float(m.mean())
        if var <= 0:
            return (0.0 if abs(mean) < 1e-15 else math.copysign(math.inf, mean)), df
        return mean / math.sqrt(var), df

    def p_value(self, theta_pct: float) -> float:
        t, df = self.statistic(theta_pct / 100.0)
        return float(2 * sps.t.sf(abs(t), df)) if math.isfinite(t) else 0.0

    def interval(self, level: float = LEVEL) -> tuple[float, float]:
        """{theta : |T(theta)| <= t_df}, in percent; infinite ends where it is unbounded."""
        mean_ref = float(self.ref.mean())
        centre = float(self.kept.mean()) / mean_ref if mean_ref else 0.0

        def outside(theta: float) -> float:
            t, df = self.statistic(theta)
            return abs(t) - _quantile(0.5 + level / 2, df) if math.isfinite(t) else 1.0

        def bound(direction: float) -> float:
            step, edge = 1.0, centre
            for _ in range(12):  # out to +-4,000% of the estimate's distance
                edge = centre + direction * step
                if outside(edge) > 0:
                    return float(optimize.brentq(outside, *sorted((centre, edge)), xtol=1e-10))
                step *= 2
            return direction * math.inf

        return 100.0 * bound(-1.0), 100.0 * bound(1.0)


def gain_share(
    kept: np.ndarray, gain: np.ndarray, level: float = LEVEL
) -> tuple[Estimate, Estimate, Estimate | None]:
    """How much of a gain survives a stronger attack: ``kept`` and ``gain`` are S x n matrices
    of per-point differences (method minus baseline, in 0/1 units) under the strong and the
    reference attack. Returns both gains (percent) and their ratio (a share, percent) with
    Fieller's interval (:class:`FiellerPivot`, whose p-value at 100% tests whether the two
    gains differ); the share is None where the reference gain's interval contains zero (a
    share of a gain within noise means nothing, and Fieller's interval is then unbounded)."""
    k, r = _matrix(kept), _matrix(gain)
    if k.shape != r.shape:
        raise ValueError(f"a share needs the same seeds and points: {k.shape} and {r.shape}")
    g_kept = paired_difference(k, level)
    g_ref = paired_difference(r, level)
    if not g_ref.excludes(0.0):
        return g_kept, g_ref, None
    pivot = FiellerPivot(k, r)
    low, high = pivot.interval(level)
    ratio = 100.0 * g_kept.value / g_ref.value
    _, df = pivot.statistic(ratio / 100.0)
    var, _ = crossed_variance(k - ratio / 100.0 * r)
    se = 100.0 * math.sqrt(var) / abs(float(r.mean()))  # the delta method's, for display
    t, t_power = _quantile(0.5 + level / 2, df), _quantile(POWER, df)
    half = (high - low) / 2 if math.isfinite(high - low) else math.inf
    share = Estimate(
        value=ratio, low=low, high=high, se=se, df=df, n_points=k.shape[1], n_seeds=k.shape[0],
        detectable=half * (t + t_power) / t, pivot=pivot,
    )  # fmt: skip
    return g_kept, g_ref, share


def spearman(x: np.ndarray, y: np.ndarray, level: float = LEVEL) -> Estimate:
    """Spearman's rank correlation with the Fisher-z interval and Bonett and Wright's (2000)
    variance (1 + rho^2 / 2) / (n - 3). Units: the correlation itself."""
    a, b = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if a.shape != b.shape or a.size < 4:
        raise ValueError(f"spearman needs two equal-length samples of >= 4, got {a.size}, {b.size}")
    rho = float(sps.spearmanr(a, b).statistic)
    if not math.isfinite(rho):  # a constant sample: no ranking to correlate
        rho = 0.0
    n = a.size
    se_z = math.sqrt((1 + rho * rho / 2) / (n - 3))
    z = float(sps.norm.ppf(0.5 + level / 2))
    centre = math.atanh(max(-0.999999, min(0.999999, rho)))
    detect = math.tanh((z + float(sps.norm.ppf(POWER))) * se_z)
    return Estimate(
        value=rho,
        low=math.tanh(centre - z * se_z),
        high=math.tanh(centre + z * se_z),
        se=se_z,
        df=math.inf,
        n_points=n,
        n_seeds=1,
        detectable=detect,
    )


def decide(low: float, high: float, direction: Direction, margin: float = 0.0) -> str:
    """The rule on an interval (module docstring): for ``greater`` and ``less`` the margin is
    a line to clear; for ``within`` it is the tolerance of an equivalence claim (supported
    inside (-margin, margin), contradicted entirely outside it)."""
    if direction not in ("greater", "less", "within"):
        raise ValueError(f"direction {direction!r} is invalid: use greater, less or within")
    if direction == "within":
        if margin <= 0:
            raise ValueError(f"tolerance {margin!r} is invalid: `within` needs one > 0")
        if -margin < low and high < margin:
            return "supported"
        return "contradicted" if high < -margin or low > margin else "inconclusive"
    above, below = low > margin, high < margin
    if direction == "greater":
        return "supported" if above else "contradicted" if below else "inconclusive"
    return "supported" if below else "contradicted" if above else "inconclusive"


def verdict(est: Estimate | None, direction: Direction, margin: float = 0.0) -> str:
    """The one rule on an estimate's interval: supported, contradicted, inconclusive, or not
    run where there is no estimate."""
    if est is None:
        if direction not in ("greater", "less", "within"):
            raise ValueError(f"direction {direction!r} is invalid: use greater, less or within")
        return "not run"
    return decide(est.low, est.high, direction, margin)


def claim_p_value(est: Estimate, direction: Direction, margin: float = 0.0) -> float:
    """The p-value that decides a claim at a level alpha exactly when the rule decides on the
    interval at level 1 - alpha (the same pivot): for a direction, the two-sided p of the
    margin; for ``within`` (tolerance ``margin``), twice the larger one-sided p of the two
    bounds where the estimate lies inside (equivalence), else twice the one-sided p of the
    nearer bound (non-equivalence)."""
    if direction != "within":
        return est.p_value(margin)

    def one_sided(theta: float) -> float:
        return est.p_value(theta) / 2  # the estimate lies on one side of theta: half of two

    lo, hi = one_sided(-margin), one_sided(margin)
    if -margin < est.value < margin:
        return min(1.0, 2 * max(lo, hi))
    return min(1.0, 2 * (hi if est.value >= margin else lo))


# ---------------------------------------------------------------------------- seeds


def seed_stats(
    long: pd.DataFrame, keys: Sequence[str], value: str = "accuracy_pct"
) -> pd.DataFrame:
    """Median, sample std (ddof 1; NaN with one seed) and seed count of ``value`` per
    ``keys``, groups in first-seen order."""

    def std(values: pd.Series) -> float:
        return float(values.std(ddof=1)) if len(values) > 1 else math.nan

    grouped = long.groupby(list(keys), sort=False)[value]
    return grouped.agg(median="median", std=std, n_seeds="count").reset_index()


def spread(std: float) -> float:
    """A standard deviation to draw (error bars): NaN, one seed's, draws none."""
    return 0.0 if math.isnan(std) else std

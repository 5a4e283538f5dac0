"""How sure each number is: intervals for accuracies and paired gains over test points and
seeds, the smallest detectable effect, and the verdict rule of the claims.

An evaluation of S runs (seeds) on the same n test points is a matrix X, S x n, of per-point
results (1: correct, in percent 100). Its mean is the accuracy. Seeds and test points are both
random draws (another seed, another sample of the test distribution), and every run sees the
same points: the design is two-way crossed, without replication,

    x_sj = mu + a_s + b_j + e_sj,   a ~ (0, s2_seed), b ~ (0, s2_point), e ~ (0, s2_res),

so that Var(mean) = s2_seed / S + s2_point / n + s2_res / (S n). The three components are
estimated from the ANOVA mean squares (method of moments), negative estimates truncated at
zero, and the interval is mean +- t * SE with Satterthwaite's degrees of freedom
(:func:`crossed_mean`). With one seed this is the one-sample t interval over points; with one
point per seed (a per-seed number only) the t interval over seeds.

A gain of method A over method B is paired twice: runs with the same seed share their
initialisation and data order, and both are evaluated on the same points. Its matrix is the
per-point difference D = X_A - X_B (values -1, 0, 1), and :func:`paired_gain` is the crossed
mean of D. Pairing removes what the two methods share (most of the point variance: an easy
point is easy for both), which is why a gain is far more precise than either accuracy.

An accuracy's interval is the wider of that interval and Wilson's score interval over the n
points (:func:`wilson`), which stays honest near 0% and 100%, where a t interval collapses.
A gain's interval is likewise the wider of the crossed one and Tango's score interval for a
difference of paired proportions over the S n pairs (:func:`tango`): with few discordant
pairs (two methods that disagree on 0-5 points of 100) the t interval is far too narrow (it
has zero width when they never disagree), the score interval is not; where the seeds or the
points matter, the crossed interval is the wider. The detectable effect of a gain follows
the interval printed.

The verdict rule (:func:`verdict`), one for every claim: **supported** when the 95% interval
lies entirely on the claimed side of the claim's margin (0 unless the claim states one),
**contradicted** when it lies entirely on the other side, **inconclusive** when it contains
the margin (the smallest effect the data could have detected is printed beside it:
:attr:`Estimate.detectable`), **not run** when its inputs are missing.

Seeds alone, for the median +- std the paper prints, follow one rule too (:func:`seed_stats`):
the median, the sample standard deviation (ddof 1) and the number of seeds; with a single
seed the deviation is undefined (NaN) and drawn as no spread at all.

Everything here is numpy, scipy and pandas; nothing reads a file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

LEVEL = 0.95  # every interval of the reports
POWER = 0.80  # the power at which :attr:`Estimate.detectable` is computed
VERDICTS = ("supported", "contradicted", "inconclusive", "not run")
Direction = Literal["greater", "less"]


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
    # The smallest true effect the interval would exclude zero for with 80% power, never
    # below one test point's worth (100 / n percent): what an inconclusive verdict can rule out.
    detectable: float

    def excludes(self, margin: float = 0.0) -> bool:
        return not self.low <= margin <= self.high

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
    """Var(mean) as (coefficient x mean square, df), one term per mean square, each variance
    component truncated at zero: s2_seed / S = max(MS_seed - MS_res, 0) / (S n), s2_point / n
    likewise, s2_res / (S n) = MS_res / (S n)."""
    sn = s * n
    res_coef = 1.0 if ms.df_res else 0.0
    terms: list[tuple[float, int]] = []
    for big, df in ((ms.seed, ms.df_seed), (ms.point, ms.df_point)):
        if df and big > ms.res:
            terms.append((big / sn, df))
            res_coef -= 1.0
    if ms.df_res and res_coef:
        terms.append((res_coef * ms.res / sn, ms.df_res))
    return terms


def crossed_mean(x: np.ndarray, level: float = LEVEL) -> Estimate:
    """Mean of an S x n matrix with the interval of the two-way crossed random-effects model
    (module docstring): SE from the truncated variance components, Satterthwaite's df."""
    m = _matrix(x)
    s, n = m.shape
    terms = _variance_terms(mean_squares(m), s, n)
    var = max(sum(v for v, _ in terms), 0.0)
    df = _satterthwaite(terms, var)
    return _estimate(float(m.mean()), math.sqrt(var), df, n, s, level)


def _satterthwaite(terms: list[tuple[float, int]], var: float) -> float:
    """(sum of terms)^2 / sum(term^2 / df): the df of a linear combination of mean squares."""
    denominator = sum(v * v / df for v, df in terms if df)
    return var * var / denominator if var > 0 and denominator > 0 else math.inf


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


def wilson(correct: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson's score interval, in percent, of an accuracy ``correct`` (percent) on n points."""
    if n <= 0:
        raise ValueError(f"n = {n!r} is invalid: an accuracy needs at least one point")
    z = float(sps.norm.ppf(0.5 + level / 2))
    p = correct / 100.0
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return 100.0 * max(0.0, centre - half), 100.0 * min(1.0, centre + half)


def accuracy(correct: np.ndarray, level: float = LEVEL) -> Estimate:
    """The accuracy (percent) of S seeds on the same n points (an S x n matrix of 0/1 or
    booleans): the crossed interval, widened to Wilson's score interval over the n points
    where that is wider (near 0% and 100%), and kept within [0, 100]."""
    m = 100.0 * _matrix(correct)
    est = crossed_mean(m, level)
    low, high = wilson(est.value, est.n_points, level)
    return Estimate(
        value=est.value,
        low=max(0.0, min(est.low, low)),
        high=min(100.0, max(est.high, high)),
        se=est.se,
        df=est.df,
        n_points=est.n_points,
        n_seeds=est.n_seeds,
        detectable=est.detectable,
    )


def tango(b: float, c: float, n: float, level: float = LEVEL) -> tuple[float, float]:
    """Tango's (1998) score interval, in percent, for the difference p_b - p_c of two paired
    proportions: b of n pairs favour the first (1, 0), c the second (0, 1) (a paired gain
    passes its counts pooled over its seeds). The set of differences d whose score statistic
    (b - c - n d) / sqrt(n (2 q + d (1 - d))) is within the normal quantile, q being the
    maximum-likelihood p_c under p_b - p_c = d (the positive root of 2n q^2 + B q + C = 0,
    B = (2n - b + c) d - b - c, C = -c d (1 - d))."""
    if n <= 0 or b < 0 or c < 0 or b + c > n:
        raise ValueError(f"b = {b!r}, c = {c!r} of n = {n!r} pairs are invalid: 0 <= b + c <= n")
    z2 = float(sps.norm.ppf(0.5 + level / 2)) ** 2
    centre = (b - c) / n

    def outside(d: float) -> float:  # > 0 where d is rejected
        big_b = (2 * n - b + c) * d - b - c
        q = (-big_b + math.sqrt(max(big_b * big_b + 8 * n * c * d * (1 - d), 0.0))) / (4 * n)
        return (b - c - n * d) ** 2 - z2 * n * (2 * q + d * (1 - d))

    def bound(edge: float) -> float:
        if outside(edge) <= 0:
            return edge
        # The statistic is 0 at the estimate, where the variance may be 0 too (b = c = 0, or
        # b = n): start the search just inside, where the score test accepts.
        start = centre + 1e-9 * (edge - centre)
        if outside(start) > 0:
            return centre
        return float(optimize.brentq(outside, *sorted((start, edge)), xtol=1e-12))

    return 100.0 * bound(-1.0), 100.0 * bound(1.0)


def paired_difference(d: np.ndarray, level: float = LEVEL) -> Estimate:
    """A paired gain (percent) from its S x n matrix of per-point differences in {-1, 0, 1}
    (same seeds in rows, same points in columns): the crossed mean, its interval widened to
    Tango's score interval over the S n pairs where that is wider."""
    m = _matrix(d)
    est = crossed_mean(100.0 * m, level)
    low, high = tango(float((m > 0).sum()), float((m < 0).sum()), m.size, level)
    low, high = min(est.low, low), max(est.high, high)
    # The detectable effect follows the interval actually printed: its half-width scaled, as
    # the crossed one's, from the confidence quantile to confidence plus power.
    t = _quantile(0.5 + level / 2, est.df)
    detectable = max(est.detectable, (high - low) / 2 * (t + _quantile(POWER, est.df)) / t)
    return Estimate(
        value=est.value,
        low=low,
        high=high,
        se=est.se,
        df=est.df,
        n_points=est.n_points,
        n_seeds=est.n_seeds,
        detectable=detectable,
    )


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


def covariance(x: np.ndarray, y: np.ndarray) -> float:
    """Cov(mean x, mean y) of two S x n matrices over the same seeds and points, from the
    crossed model's mean cross-products (untruncated)."""
    ms = mean_squares(x, y)
    s, n = _matrix(x).shape
    return (ms.seed + ms.point - ms.res) / (s * n)


def gain_share(
    kept: np.ndarray, gain: np.ndarray, level: float = LEVEL
) -> tuple[Estimate, Estimate, Estimate | None]:
    """How much of a gain survives a stronger attack: ``kept`` and ``gain`` are S x n matrices
    of per-point differences (method minus baseline, in 0/1 units) under the strong and the
    reference attack. Returns both gains (percent) and their ratio (a share, percent) with a
    delta-method interval; the share is None where the reference gain's interval contains zero
    (a share of a gain within noise means nothing)."""
    g_kept = paired_difference(kept, level)
    g_ref = paired_difference(gain, level)
    if not g_ref.excludes(0.0):
        return g_kept, g_ref, None
    ratio = g_kept.value / g_ref.value
    var = (
        g_kept.se**2
        - 2 * ratio * covariance(100.0 * _matrix(kept), 100.0 * _matrix(gain))
        + ratio**2 * g_ref.se**2
    ) / g_ref.value**2
    df = min(g_kept.df, g_ref.df)
    share = _estimate(100.0 * ratio, 100.0 * math.sqrt(max(var, 0.0)), df, g_ref.n_points,
                      g_ref.n_seeds, level)  # fmt: skip
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


def verdict(est: Estimate | None, direction: Direction, margin: float = 0.0) -> str:
    """The one rule (module docstring): supported, contradicted, inconclusive or not run."""
    if direction not in ("greater", "less"):
        raise ValueError(f"direction {direction!r} is invalid: use greater or less")
    if est is None:
        return "not run"
    above, below = est.low > margin, est.high < margin
    if direction == "greater":
        return "supported" if above else "contradicted" if below else "inconclusive"
    return "supported" if below else "contradicted" if above else "inconclusive"


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

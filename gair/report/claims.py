"""The paper's claims as data, each judged against our runs by one stated rule.

A claim is an entry of the config's ``claims`` list: its id, where the paper makes it
(``paper``: section and figure), the paper's words (``quote``), the experiment whose runs it
reads (``from``), the statistic, the direction it claims and, where the paper gives one, its
own value. :func:`expand` turns an entry into one claim per compared pair, checkpoint and
attack; the plan resolves each claim's run labels to the runs' files, so that nothing lists
runs twice. The statistics (effects in accuracy points unless said):

- ``gain``: method A minus method B under one quantity, paired by seed and by point (the
  runs of one seed share their initialisation and data order; both see the same points).
  ``best_of`` compares A with the best of several labels: the one with the highest mean on
  the runs' selection split of the test points, the gain then judged on the other points.
- ``gap``: one run's quantity minus another quantity of the same run on the same points,
  e.g. adversarial minus natural training error, or the best epoch minus the last.
- ``reference``: a quantity minus a constant the paper quotes (another paper's number); only
  where the run trained on the dataset the constant was measured on.
- ``spearman``: the rank correlation between kappa and the logit margin (the true class's
  logit minus the largest other) of a geometry job's points (units: the correlation).
- ``kappa_leap``: the change of the mean kappa of the training points at the first epoch
  with a lower learning rate, minus the change one epoch before (units: PGD steps).
- ``share``: the part of A's gain over B under the ``versus`` attack (PGD-20) that survives
  the quantity's stronger attack (percent of the gain), only where that gain is
  distinguishable from zero; otherwise the claim is inconclusive (a share of noise means
  nothing).

A quantity is an attack's accuracy (``measure: error`` turns it into an error: the sign of
every effect flips) either from an evaluation of a checkpoint (``checkpoint``: best, last;
``attack``: any evaluated attack) or from training's own evaluation of an epoch (``epoch``:
best, best_val (then on the report split), last or a number; ``split``: test or train;
``attack``: nat, pgd20, or adv, the run's training attack on training points).

``direction`` is ``greater`` or ``less`` (than ``margin``, 0 unless stated: a margin is a
tolerance fixed in the config before any run, never the paper's own estimate) or ``within``
(an equivalence claim: the effect lies inside +-``tolerance``).

Verdicts (:func:`judge_all`). A claim whose runs are one seed is **this run**: its interval
covers that run's effect over test points, not the method's, so it is described and left out
of the tally; a claim at the test-selected ``best`` checkpoint (or epoch) is **descriptive**:
best was chosen on the points it is judged on (the paper's rule, shown beside best_val). Every
other claim gets a p-value from its estimate's pivot (:func:`gair.report.stats.claim_p_value`),
the families (config entries) go through two-level FDR control at q = 0.05
(:mod:`gair.report.multiplicity`), and a selected claim is **supported** when its adjusted
interval lies on the claimed side of the margin (inside the tolerance), **contradicted** when it
lies on the other side (outside the tolerance); a claim not selected is **inconclusive**; **not
run** where an input is missing. Each row also prints the marginal 95% interval (descriptive)
and, where the paper gives a value, whether it lies inside, above or below the adjusted one.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gair.errors import ConfigError
from gair.evaluation import registry
from gair.report import evidence, multiplicity, read, stats, text, write
from gair.report.catalogue import table
from gair.report.manifest import Item, Manifest
from gair.report.paper_numbers import paper_number

STATISTICS = ("gain", "gap", "reference", "spearman", "kappa_leap", "share")
MEASURES = ("accuracy", "error")
DIRECTIONS = ("greater", "less", "within")
# Every verdict a claim can get, in the tally's order: the first three are inferential.
KINDS = ("supported", "contradicted", "inconclusive", "this run", "descriptive", "not run")
TRAIN_ATTACKS = {"nat": "natural", "pgd20": "pgd20", "adv": "the training attack"}
SPLITS = ("test", "train")
# else accuracy points
UNITS = {"spearman": "rank correlation", "kappa_leap": "PGD steps", "share": "% of the gain"}
WITHIN_NOISE = "the reference gain is within noise"
# The keys of a config entry; a list under one of EXPANDED makes one claim per value.
KEYS = (
    "id", "paper", "quote", "from", "statistic", "pairs", "labels", "across", "best_of",
    "quantity", "versus", "measure", "direction", "margin", "tolerance", "paper_value",
    "reference", "dataset",
)  # fmt: skip
EXPANDED = ("checkpoint", "epoch", "attack", "split")


@dataclass(frozen=True)
class Quantity:
    """What is measured on a run: an attack's accuracy (or error) at a checkpoint's evaluation
    or at an epoch of training's own evaluation, on test or training points."""

    attack: str = "pgd20"
    checkpoint: str = ""  # an evaluated checkpoint (best, last, epochN) ...
    epoch: str = ""  # ... or a training epoch: best, last or its number
    split: str = "test"

    def attack_words(self) -> str:
        if self.checkpoint:
            return registry.title(self.attack)
        return {"nat": "natural", "pgd20": "PGD-20", "adv": "the training attack"}[self.attack]

    def place_words(self) -> str:
        """Where and when: the checkpoint, or the points and the epoch."""
        if self.checkpoint:
            return f"{self.checkpoint} checkpoint"
        points = "training points" if self.split == "train" else "test points"
        return f"{points}, {self.epoch} epoch"

    def words(self) -> str:
        return f"{self.attack_words()} ({self.place_words()})"


@dataclass(frozen=True)
class Ref:
    """A run label of the claim's experiment (``group`` empty where the label is unique)."""

    label: str
    group: str = ""

    def words(self) -> str:
        return f"{self.label} ({self.group})" if self.group else self.label


@dataclass(frozen=True)
class Claim:
    """One expanded claim: a single number to estimate and judge."""

    id: str
    entry: str  # the config entry's id (claims expanded from one entry share it)
    paper: str
    quote: str
    source: str  # the experiment whose runs it reads
    statistic: str
    a: Ref
    b: Ref | None = None
    best_of: tuple[Ref, ...] = ()
    quantity: Quantity = field(default_factory=Quantity)
    versus: Quantity | None = None  # gap: the second quantity
    measure: str = "accuracy"
    direction: str = "greater"
    margin: float = 0.0
    paper_value: float | None = None
    reference: float | None = None
    dataset: str = ""

    @property
    def unit(self) -> str:
        return UNITS.get(self.statistic, "accuracy points")

    def words(self) -> str:
        """What is estimated, in a line."""
        q, v, a = self.quantity, self.versus or self.quantity, self.a.words()
        measure = "error" if self.measure == "error" else "accuracy"
        b = self.b.words() if self.b else "?"
        if self.best_of:
            b = f"the best of {', '.join(r.words() for r in self.best_of)}"
        if self.statistic == "gap":
            if q.place_words() == v.place_words():
                between = f"{q.attack_words()} minus {v.attack_words()}"
                return f"{a}: {measure} under {between} ({q.place_words()})"
            if q.attack == v.attack and q.split == v.split and not q.checkpoint:
                points = "training points" if q.split == "train" else "test points"
                return (
                    f"{a}: {q.attack_words()} {measure} at the {q.epoch} epoch minus at the "
                    f"{v.epoch} ({points})"
                )
            return f"{a}: {measure} under {q.words()} minus {v.words()}"
        words = {
            "gain": f"{a} minus {b}: {measure} under {q.words()}",
            "reference": f"{a}: {measure} under {q.words()} minus {self.reference} "
            f"({self.dataset})",
            "spearman": f"{a}: rank correlation of kappa and the logit margin",
            "kappa_leap": f"{a}: kappa's change at the first LR decay minus the change before",
            "share": f"{a} over {b}: the gain under {q.attack_words()} as a share of the gain "
            f"under {v.attack_words()} ({q.place_words()})",
        }
        return words[self.statistic]


# ---------------------------------------------------------------------------- config -> claims
def _fail(where: str, message: str) -> None:
    raise ConfigError(f"claims {where}: {message}")


def _ref(value: Any, where: str) -> Ref:
    if isinstance(value, str):
        return Ref(value)
    if isinstance(value, Mapping) and len(value) == 1:
        group, label = next(iter(value.items()))
        return Ref(str(label), str(group))
    _fail(where, f"{value!r} is not a run label or a {{group: label}} mapping")
    raise AssertionError


def _slug(text: str) -> str:
    """An id part: lower case, words joined by "-", a sign spelled out (lambda = -1 is
    ``lambda-minus-1``, +inf ``plus-inf``)."""
    text = re.sub(r"(?<![a-z0-9])-(?=\d)", " minus ", text.lower()).replace("+", " plus ")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def _quantities(spec: Mapping[str, Any], where: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Each combination of the list-valued keys of a quantity, with its id suffix."""
    spec = dict(spec or {})
    unknown = sorted(set(spec) - set(EXPANDED))
    if unknown:
        _fail(where, f"quantity key {unknown[0]!r} is unknown; valid: {', '.join(EXPANDED)}")
    keys = [k for k in EXPANDED if isinstance(spec.get(k), list)]
    for values in itertools.product(*(spec[k] for k in keys)):
        one = {**spec, **dict(zip(keys, values, strict=True))}
        yield one, "-".join(_slug(str(v)) for v in values)


def _quantity(values: Mapping[str, Any], where: str) -> Quantity:
    q = Quantity(**{k: str(v) for k, v in values.items()})
    if bool(q.checkpoint) == bool(q.epoch):
        _fail(where, "a quantity names a `checkpoint` (evaluated) or an `epoch` (training)")
    if q.epoch:
        if q.attack not in TRAIN_ATTACKS:
            _fail(
                where, f"training attack {q.attack!r} is unknown; valid: {', '.join(TRAIN_ATTACKS)}"
            )
        if q.split not in SPLITS:
            _fail(where, f"split {q.split!r} is unknown; valid: {', '.join(SPLITS)}")
        if q.attack == "adv" and q.split != "train":
            _fail(where, "attack adv (the training attack) is measured on train points only")
        if (
            q.epoch not in (evidence.BEST, evidence.HELD_OUT, evidence.LAST)
            and not q.epoch.isdigit()
        ):
            _fail(where, f"epoch {q.epoch!r} is invalid: best, best_val, last or an epoch number")
    elif q.attack != registry.WORST_CASE:
        registry.check([q.attack], f"claims {where}: quantity attack")
    return q


def expand(entries: Sequence[Mapping[str, Any]]) -> list[Claim]:
    """Every claim of the config's ``claims`` list, one per compared pair, label and value of
    a list-valued quantity key; ConfigError naming the entry for anything invalid."""
    out: list[Claim] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries or []):
        where = f"[{n}] {entry.get('id', '?')!s}" if isinstance(entry, Mapping) else f"[{n}]"
        if not isinstance(entry, Mapping):
            _fail(where, "each claim is a mapping with id, paper, quote, from, statistic, ...")
        unknown = sorted(set(entry) - set(KEYS))
        if unknown:
            _fail(where, f"key {unknown[0]!r} is unknown; valid keys: {', '.join(KEYS)}")
        for key in ("id", "paper", "quote", "from", "statistic"):
            if not entry.get(key):
                _fail(where, f"needs `{key}`")
        statistic = entry["statistic"]
        if statistic not in STATISTICS:
            _fail(where, f"statistic {statistic!r} is unknown; valid: {', '.join(STATISTICS)}")
        direction = entry.get("direction", "greater")
        if direction not in DIRECTIONS:
            _fail(where, f"direction {direction!r} is invalid: use greater, less or within")
        if direction == "within":
            tolerance = _number(entry.get("tolerance"), where)
            if tolerance is None or not tolerance > 0 or "margin" in entry:
                _fail(where, "direction within needs a `tolerance` > 0 (and no `margin`)")
        elif "tolerance" in entry:
            _fail(where, "`tolerance` is for direction within; a direction has a `margin`")
        measure = entry.get("measure", "accuracy")
        if measure not in MEASURES:
            _fail(where, f"measure {measure!r} is invalid: use accuracy or error")
        for ref_a, ref_b, suffix in _pairs(entry, statistic, where):
            for values, q_suffix in _quantities(entry.get("quantity", {}), where):
                q = (
                    _quantity(values, where)
                    if statistic not in ("spearman", "kappa_leap")
                    else Quantity()
                )
                versus = None
                if statistic in ("gap", "share"):
                    if not entry.get("versus"):
                        _fail(where, f"a {statistic} needs `versus`: the second quantity")
                    versus = _quantity({**values, **entry["versus"]}, where)
                cid = "-".join(x for x in (entry["id"], suffix, q_suffix) if x)
                if cid in seen:
                    _fail(where, f"id {cid!r} is given twice")
                seen.add(cid)
                out.append(
                    Claim(
                        id=cid, entry=str(entry["id"]), paper=str(entry["paper"]),
                        quote=str(entry["quote"]), source=str(entry["from"]),
                        statistic=statistic, a=ref_a, b=ref_b,
                        best_of=tuple(_ref(r, where) for r in entry.get("best_of", [])),
                        quantity=q, versus=versus, measure=measure, direction=direction,
                        margin=float(entry.get("tolerance", entry.get("margin", 0.0))),
                        paper_value=_paper_value(entry, ref_a, ref_b, q),
                        reference=_number(entry.get("reference"), where),
                        dataset=str(entry.get("dataset", "")),
                    )
                )  # fmt: skip
        if statistic == "reference" and (
            entry.get("reference") is None or not entry.get("dataset")
        ):
            _fail(where, "a reference claim needs `reference` (the constant) and its `dataset`")
    return out


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        _fail(where, f"{value!r} is not a number")
        raise


def _pairs(
    entry: Mapping[str, Any], statistic: str, where: str
) -> Iterator[tuple[Ref, Ref | None, str]]:
    """(A, B, id suffix) of an entry: ``pairs`` of labels, ``labels`` (one run each; with
    ``across: {a: group, b: group}`` the same label in two groups)."""
    if "pairs" in entry:
        if statistic not in ("gain", "share"):
            _fail(where, "`pairs` is for gain and share claims; give `labels` instead")
        for pair in entry["pairs"]:
            if not isinstance(pair, list) or len(pair) != 2:
                _fail(where, f"each of `pairs` is [method, baseline], not {pair!r}")
            a, b = _ref(pair[0], where), _ref(pair[1], where)
            yield a, b, f"{_slug(a.label)}-vs-{_slug(b.label)}"
        return
    labels = entry.get("labels")
    if not isinstance(labels, list) or not labels:
        _fail(where, "needs `pairs` (gain) or a list of `labels`")
    across = entry.get("across")
    for label in labels:
        if across:
            yield Ref(str(label), across["a"]), Ref(str(label), across["b"]), _slug(str(label))
        else:
            a = _ref(label, where)
            if statistic == "gain" and not entry.get("best_of"):
                _fail(where, "a gain over `labels` needs `best_of` or `across`")
            yield a, None, _slug(a.label) if len(labels) > 1 else ""


def _paper_value(entry: Mapping[str, Any], a: Ref, b: Ref | None, q: Quantity) -> float | None:
    """The paper's own value: a number, or ``table`` for a gain the paper's table prints
    (its medians, A minus B, at the claim's checkpoint and attack)."""
    value = entry.get("paper_value")
    if value != "table":
        return None if value is None else float(value)
    if b is None or not q.checkpoint:
        return None
    mine = paper_number(str(entry["from"]), a.label, q.checkpoint, q.attack)
    theirs = paper_number(str(entry["from"]), b.label, q.checkpoint, q.attack)
    if mine is None or theirs is None:
        return None
    sign = -1.0 if entry.get("measure") == "error" else 1.0
    return sign * (mine[0] - theirs[0])


# ---------------------------------------------------------------------------- estimates
@dataclass
class Verdict:
    claim: Claim
    estimate: stats.Estimate | None
    verdict: str
    reason: str = ""  # why a claim was not run, or why it is descriptive
    p_value: float = math.nan  # from the estimate's pivot (inferential claims only)
    selected: bool = False  # by the two-level FDR procedure
    level: float = math.nan  # the confidence level of the adjusted interval
    adjusted: tuple[float, float] = (math.nan, math.nan)


def _items(manifest: Manifest, claim: Claim, which: str) -> list[Item]:
    """The runs the plan resolved for one of a claim's references (``a``, ``b`` or
    ``best_of:<i>``); stored in the manifest's groups under the claim's id."""
    return manifest.groups.get(claim.id, {}).get(which, [])


def _matrix(items: Sequence[Item], q: Quantity, claim: Claim) -> np.ndarray | None:
    """Seeds x points of a quantity; a checkpoint's on the report split where the claim
    compares it with, or reads, best_val (:func:`gair.report.evidence.on_report_split`)."""
    if q.checkpoint:
        ckpts = [r.checkpoint for r in (claim.quantity, claim.versus) if r and r.checkpoint]
        return evidence.eval_matrix(items, q.checkpoint, q.attack, compared=ckpts)
    epochs = [r.epoch for r in (claim.quantity, claim.versus) if r and r.epoch]
    report = q.split == "test" and evidence.on_report_split(*epochs)
    return evidence.stack([
        evidence.train_points(i, q.epoch, q.split, q.attack,
                              evidence.selection(i) if report else None)
        for i in items
    ])  # fmt: skip


def _signed(est: stats.Estimate, sign: float) -> stats.Estimate:
    return est if sign > 0 else est.transformed(-1.0)


def _evaluated(items: Sequence[Item], claim: Claim) -> list[Item]:
    """The seeds whose runs have every checkpoint the claim reads (epoch quantities need
    none)."""
    versus = claim.versus or claim.quantity
    return evidence.evaluated(items, claim.quantity.checkpoint, versus.checkpoint)


def _gain(manifest: Manifest, claim: Claim) -> tuple[stats.Estimate | None, str]:
    a = _evaluated(_items(manifest, claim, "a"), claim)
    if claim.best_of:
        candidates = [
            _evaluated(_items(manifest, claim, f"best_of:{i}"), claim)
            for i in range(len(claim.best_of))
        ]
        # The strongest other is chosen on the selection split's points and the gain judged on
        # the others, so that the choice does not flatter it on the points that judge it.
        chosen = next((s for s in map(evidence.selection, a) if s is not None), None)
        means = []
        for items in candidates:
            m = _matrix(items, claim.quantity, claim)
            if m is not None and chosen is not None:
                m = m[:, _on(chosen, m.shape[1])]
            means.append(-math.inf if m is None or not m.size else float(m.mean()))
        if not candidates or max(means) == -math.inf:
            return None, "no per-point results for the compared runs"
        b = candidates[int(np.argmax(means))]
    else:
        b = _evaluated(_items(manifest, claim, "b"), claim)
        chosen = None
    seeds = evidence.common_seeds(a, b)
    if not seeds:
        return None, "the compared runs share no seed"
    ma = _matrix(evidence.by_seed(a, seeds), claim.quantity, claim)
    mb = _matrix(evidence.by_seed(b, seeds), claim.quantity, claim)
    if ma is None or mb is None or ma.shape != mb.shape:
        return None, "per-point results missing (or on different points)"
    if chosen is not None:
        judged = ~_on(chosen, ma.shape[1])
        ma, mb = ma[:, judged], mb[:, judged]
    return stats.paired_gain(ma, mb), ""


def _on(indices: np.ndarray, n: int) -> np.ndarray:
    """A mask over n point columns (point i in column i) of the points in ``indices``."""
    return np.isin(np.arange(n), indices)


def _gap(manifest: Manifest, claim: Claim) -> tuple[stats.Estimate | None, str]:
    a = _evaluated(_items(manifest, claim, "a"), claim)
    first = _matrix(a, claim.quantity, claim)
    second = _matrix(a, claim.versus or claim.quantity, claim)
    if first is None or second is None or first.shape != second.shape:
        return None, "per-point results missing (or on different points)"
    return stats.paired_gain(first, second), ""


def _share(manifest: Manifest, claim: Claim) -> tuple[stats.Estimate | None, str]:
    a = _evaluated(_items(manifest, claim, "a"), claim)
    b = _evaluated(_items(manifest, claim, "b"), claim)
    seeds = evidence.common_seeds(a, b)
    a, b = evidence.by_seed(a, seeds), evidence.by_seed(b, seeds)
    versus = claim.versus or claim.quantity
    parts = [_matrix(x, q, claim) for q in (claim.quantity, versus) for x in (a, b)]
    if any(m is None for m in parts) or len({m.shape for m in parts}) != 1:  # type: ignore[union-attr]
        return None, "per-point results missing (or on different points)"
    strong_a, strong_b, ref_a, ref_b = parts
    _, ref, share = stats.gain_share(strong_a - strong_b, ref_a - ref_b)  # type: ignore[operator]
    if share is None:
        return None, f"{WITHIN_NOISE} ({ref.text()} points)"
    return share, ""


def _reference(manifest: Manifest, claim: Claim) -> tuple[stats.Estimate | None, str]:
    a = _evaluated(_items(manifest, claim, "a"), claim)
    datasets = {
        read.read_metrics(i.metrics)[0].get("dataset") for i in a if Path(i.metrics).is_file()
    }
    if datasets != {claim.dataset}:
        trained = ", ".join(sorted(str(d) for d in datasets)) or "nothing"
        return None, f"the constant is for {claim.dataset}; these runs trained on {trained}"
    m = _matrix(a, claim.quantity, claim)
    if m is None:
        return None, "per-point results missing"
    est = stats.accuracy(m)
    ref = float(claim.reference or 0.0)
    if claim.measure == "error":
        est = est.transformed(-1.0, 100.0)
    return est.transformed(1.0, -ref), ""


def logit_margin(frame: pd.DataFrame) -> np.ndarray:
    """The true class's logit minus the largest other logit, per point of a geometry file."""
    columns = sorted(
        (c for c in frame.columns if re.fullmatch(r"logit\d+", c)), key=lambda c: int(c[5:])
    )
    logits = frame[columns].to_numpy(dtype=float)
    labels = frame["label"].to_numpy(dtype=int)
    own = logits[np.arange(len(labels)), labels]
    others = logits.copy()
    others[np.arange(len(labels)), labels] = -np.inf
    return own - others.max(axis=1)


def _spearman(manifest: Manifest, claim: Claim) -> tuple[stats.Estimate | None, str]:
    a = _items(manifest, claim, "a")
    paths = [i.geometry for i in a if i.geometry]
    if not paths or not Path(paths[0]).is_file():
        return None, "no geometry file"
    frame = read.read_geometry(paths[0])
    return stats.spearman(frame["kappa"].to_numpy(dtype=float), logit_margin(frame)), ""


def kappa_moments(hist: Sequence[int]) -> tuple[float, float, int]:
    """Mean, variance and count of kappa from an epoch's histogram (kappa = 0 .. K)."""
    counts = np.asarray(hist, dtype=float)
    n = int(counts.sum())
    values = np.arange(len(counts), dtype=float)
    mean = float((counts * values).sum() / n)
    var = float((counts * (values - mean) ** 2).sum() / max(n - 1, 1))
    return mean, var, n


def _kappa_leap(manifest: Manifest, claim: Claim) -> tuple[stats.Estimate | None, str]:
    """Per seed: (mean kappa at m - at m-1) - (at m-1 - at m-2), m the first epoch at a lower
    LR; its variance from the histograms as if the epochs were independent (the same points
    at neighbouring epochs correlate positively, so this is conservative); seeds averaged."""
    effects, variances = [], []
    n_points = 0
    for item in _items(manifest, claim, "a"):
        if not Path(item.metrics).is_file():
            return None, "metrics missing"
        _, frame = read.read_metrics(item.metrics)
        lrs = frame["lr"].to_numpy(dtype=float)
        drops = np.flatnonzero(lrs < lrs[0] * (1 - 1e-9))
        if not len(drops) or drops[0] < 2:
            return None, "no LR decay after the second epoch"
        m = int(drops[0])
        moments = [kappa_moments(frame["kappa_hist"].iloc[e]) for e in (m - 2, m - 1, m)]
        (m0, v0, n0), (m1, v1, n1), (m2, v2, n2) = moments
        effects.append((m2 - m1) - (m1 - m0))
        variances.append(v2 / n2 + 4 * v1 / n1 + v0 / n0)
        n_points = n2
    if not effects:
        return None, "no runs"
    s = len(effects)
    value = float(np.mean(effects))
    se = math.sqrt(sum(variances)) / s
    if s > 1:  # the seeds' own spread, where larger than the points'
        se = max(se, float(np.std(effects, ddof=1)) / math.sqrt(s))
    df = float(s - 1) if s > 1 else math.inf  # the seeds' spread enters with its s - 1 df
    t = float(stats.sps.t.ppf(0.975, df)) if s > 1 else 1.959964
    t_power = float(stats.sps.t.ppf(stats.POWER, df)) if s > 1 else 0.841621
    return stats.Estimate(value, value - t * se, value + t * se, se, df, n_points, s,
                          (t + t_power) * se), ""  # fmt: skip


ESTIMATORS = {
    "gain": _gain,
    "gap": _gap,
    "reference": _reference,
    "spearman": _spearman,
    "kappa_leap": _kappa_leap,
    "share": _share,
}


ONE_SEED = "one seed: the interval covers this run's effect, not the method's"
TEST_SELECTED = "best is chosen on the test points it is judged on (the paper's rule)"


def _descriptive(claim: Claim, estimate: stats.Estimate | None) -> tuple[str, str] | None:
    """(kind, reason) of a claim that is described rather than judged, None otherwise."""
    if estimate is None:
        return None
    if estimate.n_seeds < 2:
        return "this run", ONE_SEED
    places = [q for q in (claim.quantity, claim.versus) if q is not None]
    if claim.statistic in ("gain", "gap", "reference", "share") and any(
        evidence.BEST in (q.checkpoint, q.epoch) for q in places
    ):
        return "descriptive", TEST_SELECTED
    return None


def judge(manifest: Manifest, claim: Claim) -> Verdict:
    """A claim's estimate (sign flipped for an error), its marginal verdict (the rule on its
    95% interval, without multiplicity control: what a single comparison says), and its
    p-value; "this run" or "descriptive" where it is not inferential, "not run" with the
    reason where its inputs are missing."""
    claim = _as_evaluated(manifest, claim)
    estimate, reason = ESTIMATORS[claim.statistic](manifest, claim)
    if estimate is not None and claim.measure == "error" and claim.statistic in ("gain", "gap"):
        estimate = _signed(estimate, -1.0)
    direction = claim.direction  # type: ignore[assignment]
    verdict = stats.verdict(estimate, direction, claim.margin)  # type: ignore[arg-type]
    if estimate is None:
        kind = "inconclusive" if reason.startswith(WITHIN_NOISE) else verdict
        p = 1.0 if kind == "inconclusive" else math.nan
        return Verdict(claim, None, kind, reason, p_value=p)
    described = _descriptive(claim, estimate)
    if described:
        return Verdict(claim, estimate, described[0], described[1])
    p = stats.claim_p_value(estimate, direction, claim.margin)  # type: ignore[arg-type]
    return Verdict(claim, estimate, verdict, "", p_value=p)


def _as_evaluated(manifest: Manifest, claim: Claim) -> Claim:
    """The claim with ``autoattack`` read as ``autoattack_cheap`` where its runs' files hold
    only the cheap setting (the smoke config's): every output then names the cheap one."""
    q = claim.quantity
    if q.attack != "autoattack" or not q.checkpoint:
        return claim
    items = _evaluated(_items(manifest, claim, "a"), claim)
    attack = evidence.evaluated_attack(items, q.attack, q.checkpoint)
    return claim if attack == q.attack else replace(claim, quantity=replace(q, attack=attack))


def claims_of(manifest: Manifest) -> list[Claim]:
    return expand(manifest.claims)


def judge_all(manifest: Manifest, q: float = multiplicity.Q) -> list[Verdict]:
    """Every claim of a claims manifest, in config order, with multiplicity control over the
    inferential ones (module docstring): families are the config entries; a selected claim's
    verdict is the rule on its adjusted interval, one not selected is inconclusive."""
    verdicts = [judge(manifest, c) for c in claims_of(manifest)]
    return adjust(verdicts, q)


def adjust(verdicts: list[Verdict], q: float = multiplicity.Q) -> list[Verdict]:
    """The verdicts with two-level FDR control at ``q`` over the inferential ones (those
    with a p-value); the others are returned as they are."""
    families: dict[str, list[int]] = {}
    for i, v in enumerate(verdicts):
        if not math.isnan(v.p_value):
            families.setdefault(v.claim.entry, []).append(i)
    outcome = multiplicity.two_level(
        {name: [verdicts[i].p_value for i in idx] for name, idx in families.items()}, q
    )
    out = list(verdicts)
    for name, idx in families.items():
        family = outcome[name]
        for i, selected, level in zip(idx, family.claims, family.levels, strict=True):
            v = verdicts[i]
            if v.estimate is None:  # a share of a gain within noise: no interval
                out[i] = replace(v, verdict="inconclusive", level=level)
                continue
            low, high = v.estimate.at_level(level)
            direction = v.claim.direction  # type: ignore[assignment]
            decided = stats.decide(low, high, direction, v.claim.margin)  # type: ignore[arg-type]
            kind = decided if selected and decided != "inconclusive" else "inconclusive"
            out[i] = replace(
                v, verdict=kind, selected=selected, level=level, adjusted=(low, high)
            )  # fmt: skip
    return out


# ---------------------------------------------------------------------------- outputs
COLUMNS = [
    "id", "entry", "paper", "source", "statistic", "measured", "reads", "unit", "direction",
    "margin", "effect", "low", "high", "p_value", "selected", "level", "adj_low", "adj_high",
    "detectable", "paper_value", "paper_in", "verdict", "n_seeds", "n_points", "reason",
    "quote",
]  # fmt: skip


def _paper_in(v: Verdict) -> str:
    """Where the paper's value lies against our adjusted interval (the marginal one for a
    claim without): inside, above or below; "" without a paper value or an estimate."""
    if v.claim.paper_value is None or v.estimate is None:
        return ""
    low, high = v.adjusted if not math.isnan(v.adjusted[0]) else (v.estimate.low, v.estimate.high)
    value = v.claim.paper_value
    return "inside" if low <= value <= high else "above" if value > high else "below"


def reads(claim: Claim, est: stats.Estimate | None) -> str:
    """Which checkpoint or epoch a claim reads, on how many seeds and points."""
    places = [claim.quantity.place_words()]
    if claim.versus is not None and claim.versus.place_words() != places[0]:
        places.append(claim.versus.place_words())
    if claim.statistic in ("spearman", "kappa_leap"):
        places = ["geometry job" if claim.statistic == "spearman" else "training points"]
    size = f"{est.n_seeds} seed{'s' if est.n_seeds != 1 else ''} x {est.n_points}" if est else ""
    return " vs ".join(places) + (f"; {size} points" if size else "")


def frame_of(verdicts: Sequence[Verdict]) -> pd.DataFrame:
    rows = []
    for v in verdicts:
        c, e = v.claim, v.estimate
        rows.append(
            {
                "id": c.id, "entry": c.entry, "paper": c.paper, "source": c.source,
                "statistic": c.statistic,
                "measured": c.words(), "reads": reads(c, e), "unit": c.unit,
                "direction": c.direction, "margin": c.margin,
                "effect": e.value if e else math.nan,
                "low": e.low if e else math.nan, "high": e.high if e else math.nan,
                "p_value": v.p_value, "selected": v.selected, "level": v.level,
                "adj_low": v.adjusted[0], "adj_high": v.adjusted[1],
                "detectable": e.detectable if e else math.nan,
                "paper_value": math.nan if c.paper_value is None else c.paper_value,
                "paper_in": _paper_in(v),
                "verdict": v.verdict, "n_seeds": e.n_seeds if e else 0,
                "n_points": e.n_points if e else 0, "reason": v.reason, "quote": c.quote,
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def claimed(row: Mapping[str, Any]) -> str:
    """The claimed side of the margin, e.g. ``> 0`` or ``< +1.00``, or ``within +-1.00``."""
    if row["direction"] == "within":
        return f"within \u00b1{float(row['margin']):.2f}"
    sign = ">" if row["direction"] == "greater" else "<"
    margin = float(row["margin"])
    return f"{sign} {margin:+.2f}" if margin else f"{sign} 0"


def _shown(value: float, unit: str) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:+.3f}" if unit == "rank correlation" else f"{value:+.2f}"


def verdict_cell(row: Mapping[str, Any]) -> str:
    if row["verdict"] == "not run":
        return f"not run ({row['reason']})" if row["reason"] else "not run"
    if row["verdict"] == "inconclusive":
        return f"inconclusive (detectable from the margin: {abs(row['detectable']):.2f})"
    return str(row["verdict"])


def _display(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    header = ["Claim", "Paper", "Measured", "Reads", "Claimed", "Ours [marginal 95%]",
              "Adjusted interval (level)", "p", "Paper's value", "Verdict"]  # fmt: skip
    rows = []
    for r in frame.to_dict("records"):
        unit = r["unit"]
        ours = _shown(r["effect"], unit)
        if not math.isnan(r["low"]):
            ours += f" [{_shown(r['low'], unit)}, {_shown(r['high'], unit)}]"
        adjusted = "-"
        if not math.isnan(r["adj_low"]):
            adjusted = (f"[{_shown(r['adj_low'], unit)}, {_shown(r['adj_high'], unit)}] "
                        f"({100 * r['level']:.2f}%)")  # fmt: skip
        p = "-" if math.isnan(r["p_value"]) else f"{r['p_value']:.3g}"
        paper = _shown(r["paper_value"], unit)
        if r["paper_in"]:
            paper += f" ({r['paper_in']})"
        rows.append([
            r["id"], r["paper"], f"{r['measured']} ({unit})", r["reads"], claimed(r), ours,
            adjusted, p, paper, verdict_cell(r),
        ])  # fmt: skip
    return header, rows


RULE = (
    "Verdict rule: a claim over several seeds gets a p-value from its estimate's pivot; the "
    "claim entries are families, selected by Benjamini-Hochberg at q on their Simes p-values, "
    "and within a selected family claims by Benjamini-Hochberg at q R / m (Benjamini and "
    "Bogomolov, 2014), each reported with Benjamini and Yekutieli's false-coverage-rate "
    "interval. **supported** when a selected claim's adjusted interval lies on the claimed "
    "side of the margin (inside the tolerance of a `within` claim), **contradicted** when it "
    "lies on the other side (outside the tolerance), **inconclusive** when the claim is not "
    "selected (beside it: the distance from the margin a true effect needs to be found with 80% "
    "power), **this run** for one seed (its interval covers that run over test points, not "
    "the method), **descriptive** at the test-selected best checkpoint, **not run** when an "
    "input is missing. Intervals of several seeds cover seeds and test points; gains are "
    "paired by seed and by point; margins and tolerances were fixed before any run."
)


def marginal_rule() -> str:
    """The rule of a table whose verdicts come from marginal intervals (no multiplicity
    control): the sensitivity target's."""
    return (
        "Verdict rule (marginal: one comparison at a time, no multiplicity control): "
        "**supported** when the 95% interval lies on the claimed side of 0, **contradicted** "
        "when on the other side, **inconclusive** when it contains 0, **this run** for one seed "
        "(the interval covers that run over test points, not the method). Gains are paired by "
        "seed and by point."
    )


def tally(frame: pd.DataFrame) -> str:
    """``N claims: k supported, ...`` over every kind, in :data:`KINDS` order."""
    counts = frame["verdict"].value_counts()
    return f"{len(frame)} claims: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in KINDS)


def entry_tally(frame: pd.DataFrame) -> str:
    """Per entry: the entry counts as supported (contradicted) where any of its claims is,
    else by its most informative kind, in :data:`KINDS` order."""
    kinds = [next(k for k in KINDS if k in set(part["verdict"]))
             for _, part in frame.groupby("entry", sort=False)]  # fmt: skip
    return f"{len(kinds)} entries: " + ", ".join(f"{kinds.count(k)} {k}" for k in KINDS)


def family_header(frame: pd.DataFrame, q: float = multiplicity.Q) -> str:
    """q, the entries and claims judged and how many of each were selected."""
    judged = frame[frame["p_value"].notna()]
    chosen = judged[judged["selected"].astype(bool)]
    return (
        f"Multiplicity: q = {q:g} over {judged['entry'].nunique()} entries ({len(judged)} "
        f"claims with a p-value); {chosen['entry'].nunique()} entries and {len(chosen)} claims "
        "selected."
    )


def to_markdown(frame: pd.DataFrame, note: str = "") -> str:
    header, rows = _display(frame)
    lines = [
        "# The paper's claims against our runs",
        "",
        *text.trained_lines(note),
        RULE,
        "",
        family_header(frame),
        "",
        f"{tally(frame)}. {entry_tally(frame)}.",
        "",
        *text.markdown_table(header, rows, left=3),
        "",
        "## The paper's words",
        "",
        *(f"- **{entry}** ({paper}): \u201c{quote}\u201d" for entry, paper, quote in
          dict.fromkeys(zip(frame["entry"], frame["paper"], frame["quote"], strict=True))),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def to_latex(frame: pd.DataFrame) -> str:
    header, rows = _display(frame)
    return "\n".join(
        ["% The paper's claims against our runs; needs \\usepackage{booktabs}",
         "% " + RULE.replace("**", ""), *text.latex_table(header, rows, left=3), ""]
    )  # fmt: skip


def manifest_notes(manifest: Manifest) -> str:
    return read.trained_note(sorted({i.metrics for _, _, i in manifest.items() if i.metrics}))


@table("claims")
def write_claims(manifest: Manifest, prefix: str | Path) -> pd.DataFrame:
    """PREFIX.csv, .md and .tex: every claim, its estimate, interval and verdict."""
    frame = frame_of(judge_all(manifest))
    write.write_table_files(
        prefix,
        csv=frame.to_csv(index=False, float_format="%.6g"),
        md=to_markdown(frame, manifest_notes(manifest)),
        tex=to_latex(frame),
    )
    return frame

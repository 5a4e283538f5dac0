"""Learning-rate schedules at hand-computed epochs; tau (FAT) and lambda schedules of the spec."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from gair.errors import ConfigError
from gair.schedules import SCHEDULES, check_schedule, lr_at
from gair.spec import RunSpec


def spec(**kw: Any) -> RunSpec:
    base: dict[str, Any] = {"dataset": "digits", "model": "smallcnn", "method": "at", "epochs": 100}
    base.update(kw)
    return RunSpec(**base)


def test_multistep_table1() -> None:
    # Table 1: 0.1, then 0.01 at 60, 0.001 at 90, 0.0005 at 110 (milestone m acts from m + 1).
    s = spec(epochs=120, lr=0.1, milestones=[60, 90, 110], lr_factors=[0.1, 0.1, 0.5])
    want = {1: 0.1, 60: 0.1, 61: 0.01, 90: 0.01, 91: 0.001, 110: 0.001, 111: 0.0005, 120: 0.0005}
    for epoch, lr in want.items():
        assert lr_at(s, epoch) == pytest.approx(lr, rel=1e-12), f"epoch {epoch}"


def test_multistep_default_30_60() -> None:
    s = spec(lr=0.01)
    assert [lr_at(s, e) for e in (30, 31, 60, 61)] == pytest.approx([0.01, 0.001, 0.001, 0.0001])


def test_constant() -> None:
    s = spec(lr_schedule="constant", lr=0.05)
    assert {lr_at(s, e) for e in (1, 50, 100)} == {0.05}


def test_piecewise_long_run() -> None:
    # E = 120 >= 110: LR while t/E < 0.5, /10 while < 0.75, /100 while < 11/12, then /200.
    s = spec(lr_schedule="piecewise", epochs=120, lr=0.1)
    got = [lr_at(s, t) for t in (1, 59, 60, 89, 90, 109, 111, 120)]
    assert got == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.0005, 0.0005])


def test_piecewise_short_run() -> None:
    # E = 100 < 110: LR while t/E < 0.3, /10 while < 0.6, then /100.
    s = spec(lr_schedule="piecewise", epochs=100, lr=0.1)
    got = [lr_at(s, t) for t in (29, 30, 59, 60, 100)]
    assert got == pytest.approx([0.1, 0.01, 0.01, 0.001, 0.001])


def test_linear() -> None:
    # Knots (0, LR), (E/3, LR), (2E/3, LR/10), (E, LR/100) with E = 120.
    s = spec(lr_schedule="linear", epochs=120, lr=0.1)
    got = [lr_at(s, t) for t in (20, 40, 60, 80, 100, 120)]
    assert got == pytest.approx([0.1, 0.1, 0.055, 0.01, 0.0055, 0.001])


def test_superconverge() -> None:
    # 0 -> LR at 2E/5 -> 0 at E, with E = 100.
    s = spec(lr_schedule="superconverge", epochs=100, lr=0.2)
    got = [lr_at(s, t) for t in (10, 40, 70, 100)]
    assert got == pytest.approx([0.05, 0.2, 0.1, 0.0], abs=1e-12)


def test_onedrop() -> None:
    s = spec(lr_schedule="onedrop", lr=0.1, lr_drop_epoch=50, lr_drop_value=0.01)
    assert [lr_at(s, e) for e in (1, 50, 51, 100)] == pytest.approx([0.1, 0.1, 0.01, 0.01])


def test_multipledecay() -> None:
    # LR - (t // (E/10)) * LR/10 with E = 100: a drop of LR/10 every 10 epochs.
    s = spec(lr_schedule="multipledecay", epochs=100, lr=0.1)
    got = [lr_at(s, t) for t in (1, 9, 10, 25, 99, 100)]
    assert got == pytest.approx([0.1, 0.1, 0.09, 0.08, 0.01, 0.0], abs=1e-12)


def test_cosine() -> None:
    s = spec(lr_schedule="cosine", epochs=100, lr=0.1)
    got = [lr_at(s, t) for t in (25, 50, 100)]
    want = [0.05 * (1 + math.cos(math.pi / 4)), 0.05, 0.0]
    assert got == pytest.approx(want, abs=1e-12)


def test_iterations() -> None:
    # MMA's schedule: 0.3, then 0.09, 0.03, 0.009 after iterations 20000, 30000, 40000.
    s = spec(
        lr_schedule="iterations",
        lr=0.3,
        lr_iter_milestones=[20000, 30000, 40000],
        lr_iter_values=[0.09, 0.03, 0.009],
    )
    got = [lr_at(s, 1, iteration=i) for i in (0, 19999, 25000, 35000, 50000)]
    assert got == pytest.approx([0.3, 0.3, 0.09, 0.03, 0.009])


def test_every_named_schedule_is_covered_and_positive_at_the_start() -> None:
    assert set(SCHEDULES) == {
        "multistep",
        "constant",
        "piecewise",
        "linear",
        "superconverge",
        "onedrop",
        "multipledecay",
        "cosine",
        "iterations",
    }
    for name in SCHEDULES:
        s = spec(lr_schedule=name, lr_drop_epoch=10)
        check_schedule(s)
        assert 0 < lr_at(s, 1) <= s.lr


def test_unknown_schedule_raises_naming_it() -> None:
    s = spec(lr_schedule="stepwise")
    with pytest.raises(ConfigError, match=r"'stepwise'.*multistep"):
        check_schedule(s)
    with pytest.raises(ConfigError, match="'stepwise'"):
        lr_at(s, 1)


def test_iteration_schedule_needs_one_value_per_milestone() -> None:
    s = spec(lr_schedule="iterations", lr_iter_milestones=[10, 20], lr_iter_values=[0.01])
    with pytest.raises(ConfigError, match=re.escape("lr_iter_values = [0.01]")):
        check_schedule(s)


def test_fat_tau_schedule() -> None:
    # Table 1's FAT: tau 0, +3 at epochs 40 and 70 (a milestone acts from the next epoch).
    s = spec(epochs=120, tau_values=[0, 3, 6], tau_milestones=[40, 70])
    got = [s.tau_at(e) for e in (1, 40, 41, 70, 71, 120)]
    assert got == [0, 0, 3, 3, 6, 6]


def test_lambda_schedule_and_burn_in() -> None:
    # GAIR-RST: lambda 100 for the first half, then 3.
    s = spec(epochs=100, lam=100.0, lam_values=[3.0], lam_milestones=[50], burn_in=30)
    assert [s.lam_at(e) for e in (1, 50, 51, 100)] == [100.0, 100.0, 3.0, 3.0]
    assert [s.reweighting(e) for e in (1, 30, 31)] == [False, False, True]
    assert spec(lam=-1.0).lam_at(77) == -1.0

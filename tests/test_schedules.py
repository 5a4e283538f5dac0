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
    # Table 1: 0.1, then 0.01 at 60, 0.001 at 90, 0.0005 at 110; a drop "at epoch m" holds
    # from epoch m on (GAIRAT.py's piecewise schedule at t = epoch: 0.1 while t / 120 < 0.5).
    s = spec(epochs=120, lr=0.1, milestones=[60, 90, 110], lr_factors=[0.1, 0.1, 0.5])
    want = {1: 0.1, 59: 0.1, 60: 0.01, 89: 0.01, 90: 0.001, 109: 0.001, 110: 0.0005, 120: 0.0005}
    for epoch, lr in want.items():
        assert lr_at(s, epoch) == pytest.approx(lr, rel=1e-12), f"epoch {epoch}"


def test_multistep_default_30_60() -> None:
    s = spec(lr=0.01)
    got = [lr_at(s, e) for e in (29, 30, 31, 59, 60, 61)]
    assert got == pytest.approx([0.01, 0.001, 0.001, 0.001, 0.0001, 0.0001])


def test_multistep_agrees_with_the_authors_piecewise_schedule_at_every_epoch() -> None:
    # Table 1's multistep milestones and GAIRAT.py's `piecewise` for E = 120 are one schedule.
    multi = spec(epochs=120, lr=0.1, milestones=[60, 90, 110], lr_factors=[0.1, 0.1, 0.5])
    piece = spec(epochs=120, lr=0.1, lr_schedule="piecewise")
    for epoch in range(1, 121):
        assert lr_at(multi, epoch) == pytest.approx(lr_at(piece, epoch), rel=1e-12), epoch


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
    # Knots (0, LR), (E // 3, LR), (E * 2 // 3, LR/10), (E, LR/100) with E = 120.
    s = spec(lr_schedule="linear", epochs=120, lr=0.1)
    got = [lr_at(s, t) for t in (20, 40, 60, 80, 100, 120)]
    assert got == pytest.approx([0.1, 0.1, 0.055, 0.01, 0.0055, 0.001])


def test_linear_uses_the_scripts_integer_knots() -> None:
    # E = 200 (Fig. 11): the knots are 66 and 133 (200 // 3, 400 // 3), not 66.7 and 133.3.
    s = spec(lr_schedule="linear", epochs=200, lr=0.1)
    assert lr_at(s, 66) == pytest.approx(0.1)
    assert lr_at(s, 133) == pytest.approx(0.01)
    assert lr_at(s, 100) == pytest.approx(0.1 + (0.01 - 0.1) * (100 - 66) / (133 - 66))


def test_superconverge() -> None:
    # 0 -> LR at 2E/5 -> 0 at E, with E = 100.
    s = spec(lr_schedule="superconverge", epochs=100, lr=0.2)
    got = [lr_at(s, t) for t in (10, 40, 70, 100)]
    assert got == pytest.approx([0.05, 0.2, 0.1, 0.0], abs=1e-12)


def test_onedrop() -> None:
    # GAIRAT.py: the base LR while t < lr_drop_epoch, t the 1-based epoch.
    s = spec(lr_schedule="onedrop", lr=0.1, lr_drop_epoch=50, lr_drop_value=0.01)
    assert [lr_at(s, e) for e in (1, 49, 50, 100)] == pytest.approx([0.1, 0.1, 0.01, 0.01])
    with pytest.raises(ConfigError, match="lr_drop_epoch = 0"):
        check_schedule(spec(lr_schedule="onedrop"))


def test_multipledecay() -> None:
    # LR - (t // (E/10)) * LR/10 with E = 100: a drop of LR/10 every 10 epochs.
    s = spec(lr_schedule="multipledecay", epochs=100, lr=0.1)
    got = [lr_at(s, t) for t in (1, 9, 10, 25, 99, 100)]
    assert got == pytest.approx([0.1, 0.1, 0.09, 0.08, 0.01, 0.0], abs=1e-12)


def test_cosine() -> None:
    # GAIRAT.py: LR * (1 + cos(pi t / E)) / 2 at t = the 1-based epoch: 0 in the last epoch.
    s = spec(lr_schedule="cosine", epochs=100, lr=0.1)
    got = [lr_at(s, t) for t in (25, 50, 100)]
    want = [0.05 * (1 + math.cos(math.pi / 4)), 0.05, 0.0]
    assert got == pytest.approx(want, abs=1e-12)


def test_rst_cosine() -> None:
    # RST's robust_self_training.py: LR * 0.5 * (1 + cos((epoch - 1) / E * pi)), epochs from 1.
    s = spec(lr_schedule="rst_cosine", epochs=200, lr=0.1)
    for epoch in (1, 2, 100, 101, 200):
        want = 0.1 * 0.5 * (1 + math.cos((epoch - 1) / 200 * math.pi))
        assert lr_at(s, epoch) == pytest.approx(want, abs=1e-15), epoch
    assert lr_at(s, 1) == 0.1 and lr_at(s, 200) > 0


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
        "rst_cosine",
        "iterations",
    }
    for name in SCHEDULES:
        s = spec(lr_schedule=name, lr_drop_epoch=10)
        check_schedule(s)
        assert 0 < lr_at(s, 1) <= s.lr


def test_unknown_schedule_raises_naming_it() -> None:
    # the spec itself refuses it, so a config's typo fails before any job starts
    with pytest.raises(ConfigError, match=r"lr_schedule 'stepwise' is unknown.*multistep"):
        spec(lr_schedule="stepwise")


def test_iteration_schedule_needs_one_value_per_milestone() -> None:
    s = spec(lr_schedule="iterations", lr_iter_milestones=[10, 20], lr_iter_values=[0.01])
    with pytest.raises(ConfigError, match=re.escape("lr_iter_values = [0.01]")):
        check_schedule(s)


def test_fat_tau_schedule() -> None:
    # A tau milestone m holds from epoch m on. Table 1's FAT config gives [41, 71], which is
    # GAIR_FAT.py's adjust_tau(epoch + 1): 0 while epoch <= 40, 3 while <= 70, then 6.
    s = spec(epochs=120, tau_values=[0, 3, 6], tau_milestones=[41, 71])

    def authors(t: int) -> int:
        return 0 if t <= 40 else 3 if t <= 70 else 6

    assert [s.tau_at(e) for e in range(1, 121)] == [authors(e) for e in range(1, 121)]
    assert [s.tau_at(e) for e in (40, 41, 70, 71)] == [0, 3, 3, 6]


def test_lambda_schedule_and_reweighting_start() -> None:
    # GAIR-RST's code: lambda 100 until epoch >= 0.5 * E (epochs from 1), then 3.
    s = spec(epochs=200, lam=100.0, lam_values=[3.0], lam_milestones=[100], reweight_from=30)
    assert [s.lam_at(e) for e in (1, 99, 100, 200)] == [100.0, 100.0, 3.0, 3.0]
    # GAIRAT.py: reweight when (epoch + 1) >= begin_epoch in a 0-based loop.
    assert [s.reweighting(e) for e in (1, 29, 30, 31)] == [False, False, True, True]
    assert spec(lam=-1.0).lam_at(77) == -1.0
    assert all(spec(reweight_from=0).reweighting(e) for e in (1, 2, 100))
    assert not any(spec(reweight_from=101).reweighting(e) for e in range(1, 101))

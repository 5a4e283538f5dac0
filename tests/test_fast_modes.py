"""The fast modes on the CPU: bf16 autocast and channels-last (and, under ``-m compile``,
torch.compile) take the same training step and the same epochs as fp32, within the
tolerances of tests/fastmodes.py, which also says why each epoch starts from fp32's state."""

from __future__ import annotations

from pathlib import Path

import fastmodes
import pytest
import torch

torch.set_num_threads(1)
DEVICE = "cpu"


@pytest.fixture(scope="module")
def fp32(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[fastmodes.Epoch]]:
    folder = tmp_path_factory.mktemp("fp32")
    return folder, fastmodes.reference(folder, DEVICE)


@pytest.fixture(scope="module")
def fp32_step(fp32: tuple[Path, list[fastmodes.Epoch]]) -> fastmodes.Step:
    return fastmodes.one_step(None, fp32[0], DEVICE)


def test_the_reference_run_learns_and_measures_kappa(
    fp32: tuple[Path, list[fastmodes.Epoch]],
) -> None:
    """The comparison is only worth something if the run does what GAIRAT does: kappa
    spread over 0..K, weights spread once reweighting starts, accuracy far above chance."""
    _, epochs = fp32
    last = epochs[-1].row
    assert [e.row["reweighting"] for e in epochs] == [False, True, True]
    assert epochs[0].row["weight_std"] == 0.0 and last["weight_std"] > 0.5
    assert sum(v > 0 for v in last["kappa_hist"]) == fastmodes.RUN["steps"] + 1
    assert 1 - last["test_nat_err"] > 0.6 and 1 - last["test_pgd20_err"] > 0.3


def test_one_step_twice_in_fp32_is_identical(
    fp32: tuple[Path, list[fastmodes.Epoch]], fp32_step: fastmodes.Step
) -> None:
    """The step comparison is exact where nothing changes (same state, same random start)."""
    again = fastmodes.one_step(None, fp32[0], DEVICE)
    assert torch.equal(again.kappa, fp32_step.kappa) and again.loss == fp32_step.loss
    assert torch.equal(again.update, fp32_step.update)
    # and sensitive: another random start moves kappa and the update
    other = fastmodes.one_step(None, fp32[0], DEVICE, seed=8)
    dev = fastmodes.step_deviations(other, fp32_step)
    assert dev["update_rel"] > 1e-3 and dev["loss_rel"] > 1e-6


def _compare(mode: str, fp32: tuple[Path, list[fastmodes.Epoch]], ref_step: fastmodes.Step,
             tmp_path: Path) -> None:  # fmt: skip
    folder, ref = fp32
    step = fastmodes.step_deviations(fastmodes.one_step(mode, folder, DEVICE), ref_step)
    assert not fastmodes.step_problems(mode, step), (step, fastmodes.step_problems(mode, step))
    devs = fastmodes.epoch_deviations(fastmodes.replay(mode, folder, tmp_path, DEVICE), ref)
    assert not fastmodes.epoch_problems(mode, devs), (devs, fastmodes.epoch_problems(mode, devs))


@pytest.mark.parametrize("mode", ["bf16", "channels_last"])
def test_fast_mode_takes_fp32s_steps_and_epochs(
    mode: str,
    fp32: tuple[Path, list[fastmodes.Epoch]],
    fp32_step: fastmodes.Step,
    tmp_path: Path,
) -> None:
    _compare(mode, fp32, fp32_step, tmp_path)


@pytest.mark.compile
def test_compiled_run_takes_fp32s_steps_and_epochs(
    fp32: tuple[Path, list[fastmodes.Epoch]], fp32_step: fastmodes.Step, tmp_path: Path
) -> None:
    """torch.compile on the CPU needs a C++ compiler and about a minute of compiling."""
    _compare("compile", fp32, fp32_step, tmp_path)

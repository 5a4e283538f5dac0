"""Shared test fixtures: a tiny run, and the markers that sort the suite.

A tiny run trains in seconds on one CPU core: scikit-learn's 8x8 digits, SmallCNN, a few
hundred training points, a 3-step attack. Tests ask for it through the ``tiny_run`` fixture
and change only what they are about (the method, the epochs, a setting under test), so that
one place says what "tiny" is. The ``slow`` marker goes on tests that start processes
(training commands, Snakemake, subprocesses killed and resumed): ``python -m pytest -q``
runs them, ``python -m pytest -q -m "not slow"`` is the quick inner loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from gair.spec import RunSpec

# digits, SmallCNN, 192 training points in 3 batches, a 3-step attack, 64 test points.
TINY: dict[str, Any] = {
    "dataset": "digits", "model": "smallcnn", "method": "at", "epochs": 2, "seed": 0,
    "train_subset": 192, "test_subset": 64, "eval_samples": 64, "train_eval_samples": 64,
    "batch_size": 64, "steps": 3, "eval_steps": 3, "device": "cpu",
}  # fmt: skip


@dataclass(frozen=True)
class TinyRun:
    """The settings of a tiny run; :meth:`spec` and :meth:`args` give it as a RunSpec or as
    ``python -m gair train`` arguments, each with overrides."""

    settings: dict[str, Any] = field(default_factory=lambda: dict(TINY))

    def values(self, **overrides: Any) -> dict[str, Any]:
        return {**self.settings, **overrides}

    def spec(self, method: str = "at", epochs: int = 2, **overrides: Any) -> RunSpec:
        return RunSpec.from_dict(self.values(method=method, epochs=epochs, **overrides))

    def killed_after_epoch_1(self, spec: RunSpec, out: Any, **run_options: Any) -> None:
        """Train ``spec`` into ``out`` and die as a killed job would when epoch 2 starts:
        epoch 1 is complete on disk, nothing of epoch 2 is."""
        from gair.train.loop import Run

        run = Run(spec, out, progress=False, **run_options)
        first = run.train_epoch

        def train_epoch(epoch: int, stop: object) -> dict:
            if epoch > 1:
                raise KeyboardInterrupt
            return first(epoch, stop)

        run.train_epoch = train_epoch  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            run.run()

    def args(self, **overrides: Any) -> list[str]:
        """``--dataset D --model M --method X --epochs E --seed S`` and ``--set key=value``
        for every other setting (a value of None leaves the setting out)."""
        values = {k: v for k, v in self.values(**overrides).items() if v is not None}
        flags = ("dataset", "model", "method", "epochs", "seed")
        out = [a for k in flags if k in values for a in (f"--{k}", str(values.pop(k)))]
        for key, value in values.items():
            out += ["--set", f"{key}={_yaml(value)}"]
        return out


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ",".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)


@pytest.fixture(scope="session")
def tiny_run() -> TinyRun:
    """A run small enough to train in seconds (see the module docstring)."""
    return TinyRun()


SEPARATE = ("smoke", "slurm", "preflight", "gpu", "compile")  # pyproject.toml's addopts


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The suites kept out of the default run (smoke, slurm, preflight: minutes; gpu: a
    device; compile: a minute of compiling) are slow as well, so that ``-m "not slow"``
    never selects them when it replaces the default ``-m``."""
    for item in items:
        if any(item.get_closest_marker(m) for m in SEPARATE):
            item.add_marker(pytest.mark.slow)

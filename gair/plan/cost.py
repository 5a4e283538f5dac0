"""The cost model: GPU-hours of a run and of an evaluation from a FLOP count, at
EFFECTIVE_TFLOPS sustained (an estimate, not a measurement: ``python -m gair train
--preflight`` measures). Forward = 2 x multiply-adds per image (the model's record,
:meth:`gair.models.ModelInfo.cost`), forward + backward = 3 forwards; a training step costs
what its method declares (:class:`gair.methods.MethodInfo`), an evaluation attack what its
registry entry declares (:mod:`gair.evaluation.registry`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gair.data import DATASETS
from gair.evaluation import registry
from gair.methods import method_info
from gair.models import model_info
from gair.spec import RunSpec, points_per_epoch

EFFECTIVE_TFLOPS = 40.0  # sustained fp32/TF32 convnet throughput assumed for one A100/H100


def gmacs(spec: RunSpec) -> float:
    """Forward GMACs per 32x32 image of the run's model at its shape (its catalogue record)."""
    return model_info(spec.model).cost(spec.depth, spec.width)


def gpu_hours(spec: RunSpec) -> float:
    """Rough GPU-hours of one training run (fwd = 2 * MACs, fwd+bwd = 3 fwd), from the
    method's declared costs (gair.methods.MethodInfo)."""
    info = method_info(spec.method)
    n_train = points_per_epoch(spec)
    attack_passes_ = 3 * info.attack_cost * (info.attack_steps or spec.steps)
    passes = attack_passes_ + 3 * info.update_cost
    eval_n = spec.eval_samples or spec.test_subset or DATASETS[spec.dataset].n_test
    eval_passes = eval_n * (3 * spec.eval_steps + 2) / spec.eval_every
    # natural, the training attack and PGD-20 on the fixed training points
    eval_passes += spec.train_eval_samples * (3 * spec.eval_steps + 3 * spec.steps + 3)
    # natural and PGD-20 on the validation split
    eval_passes += spec.val_split * (3 * spec.eval_steps + 2) / spec.eval_every
    if spec.flatness:
        eval_passes += spec.flatness_samples * (6 * spec.eval_steps + 6)
    flops = 2e9 * gmacs(spec) * spec.epochs * (n_train * passes + eval_passes)
    return flops / (EFFECTIVE_TFLOPS * 1e12) / 3600


def eval_points(spec: RunSpec, evaluation: Mapping[str, Any]) -> int:
    """Test points one evaluation of the run attacks at full size."""
    n = spec.test_subset or DATASETS[spec.dataset].n_test
    return min(n, evaluation["samples_limit"]) if evaluation.get("samples_limit") else n


def eval_hours(spec: RunSpec, evaluation: Mapping[str, Any]) -> float:
    """Rough GPU-hours of one checkpoint's evaluation under an evaluation set."""
    passes = sum(registry.passes(a, evaluation) for a in evaluation["attacks"])  # per point
    flops = 3 * 2e9 * gmacs(spec) * eval_points(spec, evaluation) * passes
    return flops / (EFFECTIVE_TFLOPS * 1e12) / 3600


def slurm_minutes(hours: float) -> int:
    """SLURM time limit: twice the estimate plus 30 minutes (runs resume when requeued)."""
    return int(60 * 2 * hours) + 30

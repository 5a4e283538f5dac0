"""Geometry-aware weights: Eqs. 6, 7, 8, the step function, normalisation, lambda = inf, burn-in."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from gair.errors import ConfigError
from gair.paper.losses import weighted_ce
from gair.paper.weights import gair_weights, instance_weights, normalise, step_weights

torch.set_num_threads(1)


def _tanh_w(kappa: int, steps: int, lam: float) -> float:
    return (1 + math.tanh(lam + 5 * (1 - 2 * kappa / steps))) / 2


def _sigmoid_w(kappa: int, steps: int, lam: float) -> float:
    return 1 / (1 + math.exp(-(lam + 5 * (1 - 2 * kappa / steps))))


def _values(w: torch.Tensor) -> list[float]:
    return [float(v) for v in w]


KAPPA = torch.tensor([0, 1, 5, 9, 10])
ABS = 1e-7  # float32 resolution of weights of order 1


def test_tanh_eq6_at_hand_points() -> None:
    # K = 10, lambda = 0: kappa = 5 sits at the centre, weight exactly 1/2.
    w = gair_weights(KAPPA, steps=10, lam=0.0, fn="tanh")
    assert w[2].item() == pytest.approx(0.5, abs=1e-7)
    assert w[0].item() == pytest.approx((1 + math.tanh(5.0)) / 2, rel=1e-6)
    # float32 weights: near 0, (1 + tanh) / 2 is exact only to about 1e-8 absolute.
    assert w[-1].item() == pytest.approx((1 + math.tanh(-5.0)) / 2, abs=ABS)
    assert _values(w) == pytest.approx([_tanh_w(int(k), 10, 0.0) for k in KAPPA], rel=1e-5, abs=ABS)
    # lambda = -1 shifts the curve: at kappa = 5 the weight is (1 + tanh(-1)) / 2.
    w = gair_weights(KAPPA, steps=10, lam=-1.0, fn="tanh")
    assert w[2].item() == pytest.approx((1 + math.tanh(-1.0)) / 2, rel=1e-6)
    assert _values(w) == pytest.approx(
        [_tanh_w(int(k), 10, -1.0) for k in KAPPA], rel=1e-5, abs=ABS
    )


def test_tanh_uses_the_paper_2_kappa_over_k_for_odd_k() -> None:
    # K = 5, kappa = 2: z = 5 * (1 - 4/5) = 1 (the authors' int(K/2) would give 5 * (1 - 1) = 0).
    w = gair_weights(torch.tensor([2]), steps=5, lam=0.0, fn="tanh")
    assert w.item() == pytest.approx((1 + math.tanh(1.0)) / 2, rel=1e-6)


def test_sigmoid_eq8_at_hand_points() -> None:
    w = gair_weights(KAPPA, steps=10, lam=0.0, fn="sigmoid")
    assert w[2].item() == pytest.approx(0.5, abs=1e-7)
    assert w[0].item() == pytest.approx(1 / (1 + math.exp(-5.0)), rel=1e-6)
    w = gair_weights(KAPPA, steps=10, lam=2.0, fn="sigmoid")
    assert _values(w) == pytest.approx(
        [_sigmoid_w(int(k), 10, 2.0) for k in KAPPA], rel=1e-5, abs=ABS
    )


def test_linear_eq7_at_hand_points() -> None:
    # 1 - kappa / (K + 1) with K = 10: 1, 10/11, 6/11, 2/11, 1/11; lambda plays no part.
    want = [1.0, 10 / 11, 6 / 11, 2 / 11, 1 / 11]
    for lam in (0.0, -3.0, math.inf):
        w = gair_weights(KAPPA, steps=10, lam=lam, fn="linear")
        assert _values(w) == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("fn", ["tanh", "sigmoid", "linear"])
def test_weights_are_non_increasing_in_kappa(fn: str) -> None:
    w = gair_weights(torch.arange(11), steps=10, lam=-1.0, fn=fn)
    assert (w[1:] <= w[:-1]).all() and (w[1:] < w[:-1]).any()
    assert ((w > 0) & (w <= 1)).all()


@pytest.mark.parametrize("fn", ["tanh", "sigmoid"])
def test_lambda_inf_gives_all_ones(fn: str) -> None:
    w = gair_weights(torch.arange(11), steps=10, lam=math.inf, fn=fn)
    assert w.tolist() == [1.0] * 11


def test_step_function_at_boundaries() -> None:
    # values[i] applies for thresholds[i-1] <= kappa < thresholds[i].
    kappa = torch.tensor([0, 2, 3, 6, 7, 10])
    w = step_weights(kappa, thresholds=[3, 7], values=[1.0, 0.5, 0.2])
    assert _values(w) == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.2, 0.2])
    assert step_weights(kappa, thresholds=[], values=[0.7]).tolist() == pytest.approx([0.7] * 6)


class _Ops(TorchDispatchMode):
    """Records the name of every aten operation run inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        self.names.append(str(func))
        return func(*args, **(kwargs or {}))


def test_step_weights_take_no_host_data_into_a_tensor() -> None:
    """A tensor built from the thresholds or values (torch.tensor, torch.as_tensor: aten's
    lift_fresh hands their host data over) is, on a GPU, a copy the host waits for in every
    training step; the step weight compares with Python numbers instead. Its values are
    numpy's searchsorted of the same table."""
    import numpy as np

    kappa = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 10, 3, 0])
    thresholds, values = [1, 3, 7], [1.0, 0.6, 0.3, 0.1]
    with _Ops() as ops:
        w = step_weights(kappa, thresholds, values)
    assert not [n for n in ops.names if "lift_fresh" in n], ops.names
    assert w.dtype == torch.float32 and w.device == kappa.device
    bucket = np.searchsorted(np.array(thresholds), kappa.numpy(), side="right")
    np.testing.assert_array_equal(w.numpy(), np.array(values, dtype=np.float32)[bucket])


def test_step_function_rejects_bad_shapes() -> None:
    k = torch.tensor([1])
    with pytest.raises(ConfigError, match=r"\[1.0, 0.5\].*3 values"):
        step_weights(k, thresholds=[3, 7], values=[1.0, 0.5])
    with pytest.raises(ConfigError, match=r"\[7, 3\].*increasing"):
        step_weights(k, thresholds=[7, 3], values=[1.0, 0.5, 0.2])
    with pytest.raises(ConfigError, match=r"\[0.2, 1.0\].*increase"):
        step_weights(k, thresholds=[3], values=[0.2, 1.0])


def test_normalise_gives_mean_one_and_keeps_proportions() -> None:
    raw = torch.tensor([0.1, 0.4, 0.2, 0.9, 0.05])
    w = normalise(raw)
    assert w.mean().item() == pytest.approx(1.0, rel=1e-6)
    ratio = (w / raw).tolist()
    assert ratio == pytest.approx([5 / raw.sum().item()] * 5, rel=1e-6)
    # Algorithm 2: mean_i(w_i * l_i) equals sum_i raw_i / sum_j raw_j * l_i.
    losses = torch.tensor([1.0, 2.0, 0.5, 3.0, 4.0])
    assert (w * losses).mean().item() == pytest.approx(
        sum(r * loss for r, loss in zip(raw.tolist(), losses.tolist(), strict=True))
        / raw.sum().item(),
        rel=1e-6,
    )


@pytest.mark.parametrize("fn", ["tanh", "sigmoid", "linear"])
def test_instance_weights_are_normalised_raw_weights(fn: str) -> None:
    kappa = torch.tensor([0, 3, 3, 8, 10, 1])
    w = instance_weights(kappa, steps=10, fn=fn, lam=-1.0, active=True)
    raw = [(_tanh_w if fn == "tanh" else _sigmoid_w)(k, 10, -1.0) for k in kappa.tolist()]
    if fn == "linear":
        raw = [1 - k / 11 for k in kappa.tolist()]
    want = [r * len(raw) / sum(raw) for r in raw]
    assert _values(w) == pytest.approx(want, rel=1e-5, abs=ABS)


def test_tiny_tanh_weights_keep_their_precision() -> None:
    # lambda = -6, K = 10, kappa = 10: z = -11 and (1 + tanh z) / 2 = 2.8e-10. In float32 tanh(z)
    # rounds to -1, so a naive formula gives 0 and a batch of such points loses all its weight.
    w = gair_weights(torch.tensor([10, 9]), steps=10, lam=-6.0, fn="tanh")
    assert _values(w) == pytest.approx([_tanh_w(10, 10, -6.0), _tanh_w(9, 10, -6.0)], rel=1e-5)
    same = instance_weights(torch.tensor([10, 10, 10]), steps=10, fn="tanh", lam=-6.0, active=True)
    assert _values(same) == pytest.approx([1.0, 1.0, 1.0], rel=1e-6)


def test_instance_weights_step_function() -> None:
    kappa = torch.tensor([0, 5, 9])
    w = instance_weights(
        kappa, steps=10, fn="step", lam=0.0, active=True, thresholds=[4, 8], values=[1, 0.5, 0.25]
    )
    total = 1 + 0.5 + 0.25
    assert _values(w) == pytest.approx([3 / total, 1.5 / total, 0.75 / total], rel=1e-6)


def test_burn_in_and_constant_give_ones() -> None:
    kappa = torch.tensor([0, 4, 10])
    for fn in ("tanh", "sigmoid", "linear", "step"):
        w = instance_weights(kappa, steps=10, fn=fn, lam=-1.0, active=False)
        assert w.tolist() == [1.0, 1.0, 1.0]
    w = instance_weights(kappa, steps=10, fn="constant", lam=-1.0, active=True)
    assert w.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("fn", ["tanh", "sigmoid"])
def test_lambda_inf_gairat_loss_equals_at_loss(fn: str) -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn((16, 10), generator=g)
    y = torch.randint(0, 10, (16,), generator=g)
    kappa = torch.randint(0, 11, (16,), generator=g)
    w = instance_weights(kappa, steps=10, fn=fn, lam=math.inf, active=True)
    gairat = weighted_ce(logits, y, w)
    at = F.cross_entropy(logits, y)
    assert gairat.item() == pytest.approx(at.item(), rel=1e-6)
    # A finite lambda does change the loss (the comparison above is not vacuous).
    w0 = instance_weights(kappa, steps=10, fn=fn, lam=0.0, active=True)
    assert weighted_ce(logits, y, w0).item() != pytest.approx(at.item(), rel=1e-3)


@pytest.mark.parametrize("lam", [-math.inf, math.nan])
def test_bad_lambda_raises_naming_the_value(lam: float) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"lam = {lam!r}")):
        gair_weights(torch.tensor([1]), steps=10, lam=lam, fn="tanh")
    with pytest.raises(ConfigError, match=re.escape(f"lam = {lam!r}")):
        instance_weights(torch.tensor([1]), steps=10, fn="sigmoid", lam=lam, active=True)


def test_bad_function_names_and_steps_raise() -> None:
    k = torch.tensor([1])
    with pytest.raises(ConfigError, match=r"'cosh'.*tanh, sigmoid, linear"):
        gair_weights(k, steps=10, lam=0.0, fn="cosh")
    with pytest.raises(ConfigError, match=r"'cosh'.*tanh, sigmoid, linear, step, constant"):
        instance_weights(k, steps=10, fn="cosh", lam=0.0, active=True)
    # A bad name fails even during burn-in, so a typo is caught at the first epoch.
    with pytest.raises(ConfigError, match="'Tanh'"):
        instance_weights(k, steps=10, fn="Tanh", lam=0.0, active=False)
    with pytest.raises(ConfigError, match="steps = 0"):
        gair_weights(k, steps=0, lam=0.0)


# --------------------------------------------------------------------------- numpy and torch
@pytest.mark.parametrize(
    ("fn", "lam"), [("tanh", -1.0), ("tanh", 3.0), ("sigmoid", 0.0), ("linear", 0.0)]
)
def test_numpy_kappa_gets_the_weights_training_uses(fn: str, lam: float) -> None:
    """The figures draw omega from numpy arrays; training computes it from tensors: the same
    formulas, the same float32 values, each also against the hand formula."""
    import numpy as np

    kappa = np.arange(11)
    drawn = gair_weights(kappa, steps=10, lam=lam, fn=fn)
    trained = gair_weights(torch.arange(11), steps=10, lam=lam, fn=fn)
    assert isinstance(drawn, np.ndarray) and drawn.dtype == np.float32
    np.testing.assert_allclose(drawn, trained.numpy(), rtol=1e-6, atol=1e-7)
    hand = {"tanh": _tanh_w, "sigmoid": _sigmoid_w}.get(fn)
    want = [hand(k, 10, lam) for k in range(11)] if hand else [1 - k / 11 for k in range(11)]
    np.testing.assert_allclose(drawn, want, rtol=1e-5, atol=ABS)
    steps = step_weights(kappa, [3, 6], [1.0, 0.5, 0.2])
    np.testing.assert_array_equal(steps, step_weights(torch.arange(11), [3, 6], [1.0, 0.5, 0.2]))
    batch = instance_weights(kappa, steps=10, fn=fn, lam=lam, active=True)
    assert batch.mean() == pytest.approx(1.0, rel=1e-6)

"""The building blocks of training methods: the step's context, the attack's result, the
loss's output, the Method record, and the attacks and losses several methods share.

The training loop calls ``method.attack`` with the model in eval mode (train mode with the
run's ``attack_bn = train``), then ``method.loss`` with the model in train mode
(:func:`gair.train.loop.train_step`). Every training attack starts from
:func:`first_iterate`: the method's own start unless the run's ``attack_start`` names another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from gair.errors import ConfigError
from gair.methods import MethodInfo
from gair.paper import attacks, losses
from gair.paper.weights import instance_weights
from gair.spec import RunSpec


@dataclass
class StepContext:
    """What a method may know about the current step besides the batch itself."""

    spec: RunSpec
    epoch: int
    tau: int
    lam: float
    reweighting: bool
    index: Tensor  # training-set indices of the batch (per-sample method state is keyed by them)
    state: dict[str, Tensor] = field(default_factory=dict)

    def weights(self, kappa: Tensor) -> Tensor:
        """Normalised geometry-aware weights for this batch (ones during burn-in)."""
        s = self.spec
        return instance_weights(
            kappa,
            steps=s.steps,
            fn=s.weight_fn,
            lam=self.lam,
            active=self.reweighting,
            thresholds=s.step_kappa,
            values=s.step_weights,
        )


@dataclass
class AttackResult:
    x_adv: Tensor
    kappa: Tensor | None  # None: the method measures no geometry value
    extra: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class StepOutput:
    loss: Tensor
    logits_adv: Tensor  # logits of the point the method trains on (for the training error)
    weights: Tensor  # the normalised instance weights that were used


AttackFn = Callable[[nn.Module, Tensor, Tensor, StepContext], AttackResult]
MethodLoss = Callable[[nn.Module, Tensor, Tensor, AttackResult, StepContext], StepOutput]
StateFn = Callable[[int, torch.device, RunSpec], dict[str, Tensor]]
EpochFn = Callable[[nn.Module, Tensor, Tensor, StepContext], None]


@dataclass(frozen=True)
class Method:
    """A method's implementation: its catalogue entry, attack and loss."""

    info: MethodInfo
    attack: AttackFn
    loss: MethodLoss
    init_state: StateFn | None = None  # per-run state saved in checkpoints (e.g. IAAT's eps)
    before_epoch: EpochFn | None = None  # called once per epoch before training

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def weighted(self) -> bool:
        return self.info.weighted

    @property
    def needs_pool(self) -> str:
        return self.info.needs_pool


def extra_settings(spec: RunSpec, prefix: str, defaults: dict[str, float]) -> dict[str, float]:
    """A method's ``spec.extra`` values with ``defaults`` filled in.

    Keys that start with ``prefix`` but are not in ``defaults`` are refused, so a misspelt
    setting cannot pass unnoticed; keys of other methods are left alone.
    """
    unknown = sorted(k for k in spec.extra if k.startswith(prefix) and k not in defaults)
    if unknown:
        raise ConfigError(
            f"extra setting {unknown[0]!r} is unknown; valid {prefix}* settings are: "
            f"{', '.join(defaults)}"
        )
    return {k: float(spec.extra.get(k, v)) for k, v in defaults.items()}


# ---------------------------------------------------------------------------- attacks
def first_iterate(x: Tensor, ctx: StepContext, eps: float | Tensor | None = None) -> Tensor:
    """x^0 of the run's training attack (RunSpec.start_kind: the method's own start or the
    run's ``attack_start``), in the ball of radius ``eps`` (the run's eps; a tensor: one per
    sample) for a uniform start."""
    s = ctx.spec
    return attacks.start_point(x, s.start_kind, s.eps if eps is None else eps)


def no_attack(model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> AttackResult:
    return AttackResult(x, None)


def ga_pgd_attack(model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> AttackResult:
    """Algorithm 1 with the run's training budget."""
    s = ctx.spec
    start = first_iterate(x, ctx)
    x_adv, kappa = attacks.ga_pgd(model, x, y, **s.train_budget, loss=s.attack_loss, start=start)
    return AttackResult(x_adv, kappa)


def early_stopped_attack(model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> AttackResult:
    """Algorithm 3 with the epoch's tau and FAT's per-step noise (``fat_omega``)."""
    s = ctx.spec
    x_adv, kappa = attacks.early_stopped_pgd(
        model, x, y, **s.train_budget, tau=ctx.tau, start=first_iterate(x, ctx),
        loss=s.attack_loss, compact=s.compact_early_stop, noise=s.fat_omega,
    )  # fmt: skip
    return AttackResult(x_adv, kappa)


def mart_attack(model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> AttackResult:
    """MART's training attack: PGD-K on CE from x + 0.001 N(0, I) (MART's code, not a uniform
    start), counting kappa on the iterates as Algorithm 1 does."""
    s = ctx.spec
    start = first_iterate(x, ctx)
    x_adv, kappa = attacks.ga_pgd(model, x, y, **s.train_budget, loss=s.attack_loss, start=start)
    return AttackResult(x_adv, kappa)


def trades_attack(model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> AttackResult:
    """Algorithm 4."""
    start = first_iterate(x, ctx)
    x_adv, kappa = attacks.trades_pgd(model, x, y, **ctx.spec.train_budget, start=start)
    return AttackResult(x_adv, kappa)


# ---------------------------------------------------------------------------- losses
def unit_weights(y: Tensor) -> Tensor:
    """Weight 1 for every sample (methods that do not reweight)."""
    return torch.ones(y.shape, dtype=torch.float32, device=y.device)


def natural_ce_loss(
    model: nn.Module, x: Tensor, y: Tensor, att: AttackResult, ctx: StepContext
) -> StepOutput:
    logits = model(x)
    return StepOutput(losses.weighted_ce(logits, y), logits.detach(), unit_weights(y))


def adversarial_ce_loss(
    model: nn.Module, x: Tensor, y: Tensor, att: AttackResult, ctx: StepContext
) -> StepOutput:
    """Madry's AT: mean CE on the adversarial points."""
    logits = model(att.x_adv)
    return StepOutput(losses.weighted_ce(logits, y), logits.detach(), unit_weights(y))


def gair_ce_loss(
    model: nn.Module, x: Tensor, y: Tensor, att: AttackResult, ctx: StepContext
) -> StepOutput:
    """Eq. 5 / Algorithm 2: CE on adversarial points weighted by omega(kappa)."""
    assert att.kappa is not None
    w = ctx.weights(att.kappa)
    logits = model(att.x_adv)
    return StepOutput(losses.weighted_ce(logits, y, w), logits.detach(), w)


def trades_objective(weighted: bool) -> MethodLoss:
    def loss(
        model: nn.Module, x: Tensor, y: Tensor, att: AttackResult, ctx: StepContext
    ) -> StepOutput:
        assert att.kappa is not None
        w = ctx.weights(att.kappa) if weighted else unit_weights(y)
        logits_nat = model(x)
        logits_adv = model(att.x_adv)
        # TRADES' trades.py forwards x a second time, in train mode, for the KL's target:
        # BatchNorm's running statistics move three times per step (x, x', x). The logits of
        # that pass equal logits_nat, so the gradient is the same through logits_nat; the pass
        # runs only for its effect on the running statistics, which every eval-mode attack
        # and evaluation reads.
        with torch.no_grad():
            model(x)
        value = losses.trades_loss(
            logits_nat, logits_adv, y, beta=ctx.spec.beta, weights=w if weighted else None
        )
        return StepOutput(value, logits_adv.detach(), w)

    loss.__doc__ = "Algorithm 5 (GAIR-TRADES)" if weighted else "TRADES (Eq. 12)"
    return loss


def mart_objective(where: str) -> MethodLoss:
    def loss(
        model: nn.Module, x: Tensor, y: Tensor, att: AttackResult, ctx: StepContext
    ) -> StepOutput:
        w = unit_weights(y) if where == "none" or att.kappa is None else ctx.weights(att.kappa)
        logits_nat = model(x)
        logits_adv = model(att.x_adv)
        if where == "ce":
            value = losses.mart_loss(logits_nat, logits_adv, y, beta=ctx.spec.beta, weights=w)
        elif where == "kl" and ctx.reweighting:
            value = losses.mart_loss(logits_nat, logits_adv, y, beta=ctx.spec.beta, kl_weights=w)
        else:
            value = losses.mart_loss(logits_nat, logits_adv, y, beta=ctx.spec.beta)
        return StepOutput(value, logits_adv.detach(), w)

    loss.__doc__ = {"none": "MART (Eq. 9)", "ce": "GAIR-MART (Eq. 10)", "kl": "Eq. 11"}[where]
    return loss

"""Training methods as data: a method is an attack plus a loss.

The training loop calls ``method.attack`` with the model in eval mode, then ``method.loss``
with the model in train mode, and never looks at the method's name. Adding a method means
adding one ``Method`` to the registry (``register``), usually from its own module.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from gair import attacks, losses
from gair.errors import ConfigError
from gair.reweight import instance_weights
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
LossFn = Callable[[nn.Module, Tensor, Tensor, AttackResult, StepContext], StepOutput]
StateFn = Callable[[int, torch.device, RunSpec], dict[str, Tensor]]
EpochFn = Callable[[nn.Module, Tensor, Tensor, StepContext], None]


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    attack: AttackFn
    loss: LossFn
    init_state: StateFn | None = None  # per-run state saved in checkpoints (e.g. IAAT's eps)
    before_epoch: EpochFn | None = None  # called once per epoch before training (e.g. IAAT)
    weighted: bool = False  # reweights its loss by omega(kappa) once reweight_from is reached
    # Non-empty: the method trains on labelled + pseudo-labelled data (RST's mixed batches)
    # and refuses a run without a pool; the text says how to give it one.
    needs_pool: str = ""


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in METHODS:
        raise ValueError(f"method {method.name!r} is registered twice")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    _load_extensions()
    if name not in METHODS:
        raise ConfigError(f"method {name!r} is unknown; valid methods are: {', '.join(METHODS)}")
    return METHODS[name]


def method_names() -> list[str]:
    _load_extensions()
    return list(METHODS)


# Modules that register further methods when imported (each in its own file).
EXTENSIONS: tuple[str, ...] = ("gair.iaat", "gair.rpat", "gair.atlas", "gair.mma", "gair.rst")


def _load_extensions() -> None:
    import importlib

    for module in EXTENSIONS:
        importlib.import_module(module)


# ---------------------------------------------------------------------------- attacks
def no_attack(model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> AttackResult:
    return AttackResult(x, None)


def ga_pgd_attack(model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> AttackResult:
    """Algorithm 1 with the run's training budget."""
    s = ctx.spec
    x_adv, kappa = attacks.ga_pgd(
        model,
        x,
        y,
        eps=s.eps,
        alpha=s.alpha,
        steps=s.steps,
        loss=s.attack_loss,
        random_start=s.random_start,
    )
    return AttackResult(x_adv, kappa)


def early_stopped_attack(model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> AttackResult:
    """Algorithm 3 with the epoch's tau."""
    s = ctx.spec
    x_adv, kappa = attacks.early_stopped_pgd(
        model,
        x,
        y,
        eps=s.eps,
        alpha=s.alpha,
        steps=s.steps,
        tau=ctx.tau,
        random_start=s.random_start,
        loss=s.attack_loss,
        compact=s.compact_early_stop,
    )
    return AttackResult(x_adv, kappa)


def mart_attack(model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> AttackResult:
    """MART's training attack: PGD-K on CE from x + 0.001 N(0, I) (MART's code, not a uniform
    start), counting kappa on the iterates as Algorithm 1 does."""
    s = ctx.spec
    x_adv, kappa = attacks.ga_pgd(
        model,
        x,
        y,
        eps=s.eps,
        alpha=s.alpha,
        steps=s.steps,
        loss=s.attack_loss,
        start=attacks.gaussian_start(x),
    )
    return AttackResult(x_adv, kappa)


def trades_attack(model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> AttackResult:
    """Algorithm 4."""
    s = ctx.spec
    x_adv, kappa = attacks.trades_pgd(model, x, y, eps=s.eps, alpha=s.alpha, steps=s.steps)
    return AttackResult(x_adv, kappa)


# ---------------------------------------------------------------------------- losses
def _ones(y: Tensor) -> Tensor:
    return torch.ones(y.shape, dtype=torch.float32, device=y.device)


def natural_ce_loss(
    model: nn.Module, x: Tensor, y: Tensor, att: AttackResult, ctx: StepContext
) -> StepOutput:
    logits = model(x)
    return StepOutput(losses.weighted_ce(logits, y), logits.detach(), _ones(y))


def adversarial_ce_loss(
    model: nn.Module, x: Tensor, y: Tensor, att: AttackResult, ctx: StepContext
) -> StepOutput:
    """Madry's AT: mean CE on the adversarial points."""
    logits = model(att.x_adv)
    return StepOutput(losses.weighted_ce(logits, y), logits.detach(), _ones(y))


def gair_ce_loss(
    model: nn.Module, x: Tensor, y: Tensor, att: AttackResult, ctx: StepContext
) -> StepOutput:
    """Eq. 5 / Algorithm 2: CE on adversarial points weighted by omega(kappa)."""
    assert att.kappa is not None
    w = ctx.weights(att.kappa)
    logits = model(att.x_adv)
    return StepOutput(losses.weighted_ce(logits, y, w), logits.detach(), w)


def _trades(weighted: bool) -> LossFn:
    def loss(
        model: nn.Module, x: Tensor, y: Tensor, att: AttackResult, ctx: StepContext
    ) -> StepOutput:
        assert att.kappa is not None
        w = ctx.weights(att.kappa) if weighted else _ones(y)
        logits_nat = model(x)
        logits_adv = model(att.x_adv)
        value = losses.trades_loss(
            logits_nat, logits_adv, y, beta=ctx.spec.beta, weights=w if weighted else None
        )
        return StepOutput(value, logits_adv.detach(), w)

    loss.__doc__ = "Algorithm 5 (GAIR-TRADES)" if weighted else "TRADES (Eq. 12)"
    return loss


def _mart(where: str) -> LossFn:
    def loss(
        model: nn.Module, x: Tensor, y: Tensor, att: AttackResult, ctx: StepContext
    ) -> StepOutput:
        w = _ones(y) if where == "none" or att.kappa is None else ctx.weights(att.kappa)
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


register(Method("st", "standard training on natural data (no attack)", no_attack, natural_ce_loss))
register(Method("at", "Madry's PGD adversarial training", ga_pgd_attack, adversarial_ce_loss))
register(
    Method(
        "gairat",
        "GAIRAT: GA-PGD (Alg. 1) + omega(kappa)-weighted CE (Eq. 5, Alg. 2)",
        ga_pgd_attack,
        gair_ce_loss,
        weighted=True,
    )
)
register(
    Method("fat", "FAT: early-stopped PGD-K-tau + CE", early_stopped_attack, adversarial_ce_loss)
)
register(
    Method(
        "gair_fat",
        "GAIR-FAT: early-stopped PGD-K-tau (Alg. 3) + omega(kappa)-weighted CE",
        early_stopped_attack,
        gair_ce_loss,
        weighted=True,
    )
)
register(
    Method("trades", "TRADES: KL-PGD + CE + beta * KL (Eq. 12)", trades_attack, _trades(False))
)
register(
    Method(
        "gair_trades",
        "GAIR-TRADES: KL-PGD (Alg. 4) + omega on the natural CE term (Alg. 5)",
        trades_attack,
        _trades(True),
        weighted=True,
    )
)
register(
    Method(
        "mart",
        "MART: CE-PGD from x + 0.001 N(0, I) + margin loss + (1 - p_y)-weighted KL (Eq. 9)",
        mart_attack,
        _mart("none"),
    )
)
register(
    Method(
        "gair_mart",
        "GAIR-MART: omega on the CE part of MART's margin loss (Eq. 10)",
        mart_attack,
        _mart("ce"),
        weighted=True,
    )
)
register(
    Method(
        "gair_mart_kl",
        "MART with omega in place of (1 - p_y) on the KL term (Eq. 11)",
        mart_attack,
        _mart("kl"),
        weighted=True,
    )
)


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gair methods", description=__doc__)
    parser.add_argument("--describe", action="store_true", help="print each method's description")
    args = parser.parse_args(argv)
    for name in method_names():
        print(f"{name}\t{METHODS[name].description}" if args.describe else name)
    return 0

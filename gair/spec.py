"""A training run's full specification.

A run is named by its resolved spec: every field below, with defaults filled in. The
workflow, the command line and checkpoints all carry the same dictionary, so two runs with
the same spec are the same run. Every setting that names an epoch follows the one epoch
convention of :mod:`gair.epochs`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gair.data import DATASETS
from gair.epochs import changes_passed, rescale_epoch
from gair.errors import ConfigError
from gair.methods import catalogue, method_info
from gair.models import MODELS
from gair.schedules import SCHEDULES

# Bump when a change alters what an existing spec trains (the epoch convention, a method's
# definition): it enters every run's digest, so a folder trained under an older protocol is
# never resumed or reported as a run of this one. 2: the epoch convention (gair.epochs), MART's KL
# direction and start, GAIR-RST's pseudo-labelled data, training errors on fixed points.
PROTOCOL = 2

# Settings that were renamed: an old config gets the new name and how to convert.
RENAMED = {
    "burn_in": "reweight_from (the first reweighted epoch: burn_in b was reweight_from b + 1)",
}


# Field metadata of a setting whose value is an epoch (or a list of epochs), under the
# epoch convention: these are the settings rescaled together and checked to be >= 0.
EPOCHS = {"epochs": True}


# Names checked here, before a run starts, so a typo fails before anything is written. The
# implementations live in gair.paper.weights and gair.paper.attacks; this module stays free of torch
# because the workflow imports it.
WEIGHT_FUNCTIONS = ("tanh", "sigmoid", "linear", "step", "constant")
ATTACK_LOSS_NAMES = ("ce", "cw")  # gair.paper.attacks.ATTACK_LOSSES holds their functions
# The training attack's first iterate: the method's own, or one of gair.paper.attacks.START_KINDS.
ATTACK_STARTS = ("method", "uniform", "gaussian", "none")
# BatchNorm while the training attack is crafted (gair.train.loop.train_step).
ATTACK_BN_MODES = ("eval", "train")


@dataclass
class RunSpec:
    """Everything that decides what a training run computes."""

    dataset: str
    model: str
    method: str
    epochs: int
    seed: int = 0

    # model shape (None: the model's own default)
    depth: int | None = None
    width: int | None = None

    # data
    batch_size: int = 128
    augment: bool = True
    train_subset: int = 0  # 0: the whole training split; n: its first n points (fixed order)
    # n > 0: n of those points are withheld as a validation split (gair.data.validation_split:
    # seeded, the same for every run of the dataset and subset), never trained on; each
    # evaluated epoch measures them and best_val.pt keeps the best epoch by their PGD-20
    # accuracy within the best window (best_start..best_end).
    val_split: int = 0
    # n > 0: a seeded selection split of n of the test points each epoch evaluates
    # (gair.data.selection_split: the same for every run of the dataset and evaluated count)
    # chooses best_val.pt, the best epoch by their PGD-20 accuracy within the best window; the
    # rest of the test points (the report split) judge it. It decides which checkpoint is
    # kept besides best.pt, not what is trained, so it stays out of the run's name
    # (OUTPUT_ONLY); a run folder trained with another selection refuses to resume.
    selection_points: int = 0
    test_subset: int = 0  # 0: the whole test split
    unlabeled_path: str = ""  # GAIR-RST: the user's pseudo-labelled file (RST's 500K pickle)
    unsup_fraction: float = 0.5  # share of pseudo-labelled points per batch (RST's setting)

    # optimiser and learning rate
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    lr_schedule: str = "multistep"
    # multistep: the LR is multiplied by lr_factors[i] from epoch milestones[i] on
    milestones: list[int] = field(default_factory=lambda: [30, 60], metadata=EPOCHS)
    lr_factors: list[float] = field(default_factory=lambda: [0.1, 0.1])
    lr_drop_epoch: int = field(
        default=0, metadata=EPOCHS
    )  # onedrop: the first epoch at lr_drop_value
    lr_drop_value: float = 0.01
    lr_iter_milestones: list[int] = field(default_factory=list)  # iteration-based steps (MMA)
    lr_iter_values: list[float] = field(default_factory=list)

    # the training attack
    eps: float = 8 / 255
    alpha: float = 2 / 255
    steps: int = 10
    random_start: bool = True  # false: a method whose own start is uniform starts at x
    attack_loss: str = "ce"
    # The training attack's first iterate, for every method's attack (gair.methods.core):
    # method (its own: MethodInfo.start), uniform (in the eps-ball, clamped to [0, 1]),
    # gaussian (x + 0.001 N(0, I), TRADES' and MART's) or none (x itself). A value equal to
    # the method's own start is stored as method, so the same training has one name.
    attack_start: str = "method"
    # BatchNorm while the training attack is crafted: eval (the authors' scripts: the running
    # statistics normalise and stay put) or train (batch statistics normalise, and every
    # forward of the attack moves the running statistics).
    attack_bn: str = "eval"

    # early-stopped PGD-K-tau (FAT, GAIR-FAT): tau_values[i] from epoch tau_milestones[i-1] on
    tau_values: list[int] = field(default_factory=lambda: [0])
    tau_milestones: list[int] = field(default_factory=list, metadata=EPOCHS)
    # Forward only the samples still running (identical results; one host read per PGD step
    # to size the active set). False keeps the attack free of host reads but does the work
    # of every stopped sample too.
    compact_early_stop: bool = True
    # FAT's omega: std of the Gaussian noise each step of the early-stopped PGD adds (FAT.py's
    # default 0.001, GAIR_FAT.py's 0; docs/fidelity.md says which experiment uses which).
    fat_omega: float = 0.0

    # geometry-aware reweighting
    weight_fn: str = "tanh"
    lam: float = 0.0
    lam_values: list[float] = field(default_factory=list)  # lam_values[i] from lam_milestones[i]
    lam_milestones: list[int] = field(default_factory=list, metadata=EPOCHS)
    # The first epoch whose loss is reweighted (0 or 1: every epoch; epochs + 1: never).
    # Before it every weight is 1: the paper's burn-in period.
    reweight_from: int = field(default=0, metadata=EPOCHS)
    step_kappa: list[int] = field(default_factory=list)  # step weight: thresholds on kappa
    step_weights: list[float] = field(default_factory=list)  # len(step_kappa) + 1 values

    # TRADES / MART / RST
    beta: float = 6.0

    # per-epoch evaluation
    eval_eps: float | None = None  # None: eps
    eval_alpha: float | None = None  # None: eval_eps / 4
    eval_steps: int = 20
    eval_every: int = 1
    eval_samples: int = 0  # 0: every test point
    train_eval_samples: int = (
        1000  # PGD-20 / natural train error on this many fixed training points
    )
    flatness: bool = False
    flatness_samples: int = 1000

    # checkpoints and extra outputs
    # best.pt: the best PGD-20 test epoch in best_start..best_end (0: the last epoch)
    best_start: int = field(default=1, metadata=EPOCHS)
    best_end: int = field(default=0, metadata=EPOCHS)
    snapshots: list[int] = field(default_factory=list, metadata=EPOCHS)  # epochN.pt
    save_kappa: bool = False

    # numerics and speed (recorded; fp32 unless asked)
    amp: str = "none"  # none | bf16
    channels_last: bool = False
    compile: bool = False
    cudnn_benchmark: bool = False  # let cuDNN time its algorithms (non-deterministic choice)

    # method-specific extras (IAAT, RPAT, ATLAS, MMA, RST): a flat name -> number mapping
    extra: dict[str, float] = field(default_factory=dict)

    # not part of the run's identity
    device: str = "auto"
    data_root: str = "resources/data"

    NON_IDENTITY: typing.ClassVar[tuple[str, ...]] = ("device", "data_root")
    # Part of the identity a checkpoint is checked against, never of the name: they choose
    # what a run keeps, not what it trains.
    OUTPUT_ONLY: typing.ClassVar[tuple[str, ...]] = ("selection_points",)

    def __post_init__(self) -> None:
        self.validate()
        if self.attack_start == self.own_start or not self.own_start:
            self.attack_start = "method"  # the method's own start (none without an attack)

    # ---------------------------------------------------------------- checks
    def validate(self) -> None:
        """Raise ConfigError with a one-line message for a value out of range or a name that
        is not registered (method, dataset, LR schedule), so that a config's typo fails
        before anything runs, through the same checks the command line makes: first every
        setting on its own (:func:`setting_problem`), then the settings that must agree."""
        for f in dataclasses.fields(self):
            problem = setting_problem(f.name, getattr(self, f.name))
            if problem:
                raise ConfigError(problem)
        if not 0 <= self.reweight_from <= self.epochs + 1:
            raise ConfigError(
                f"reweight_from = {self.reweight_from!r} is invalid: it must lie in "
                f"[0, epochs + 1] = [0, {self.epochs + 1}] (epochs + 1: never reweight)"
            )
        if len(self.lr_factors) != len(self.milestones):
            raise ConfigError(
                f"lr_factors = {self.lr_factors!r} is invalid: it needs one factor per milestone "
                f"({len(self.milestones)} milestones: {self.milestones!r})"
            )
        if len(self.tau_values) != len(self.tau_milestones) + 1:
            raise ConfigError(
                f"tau_values = {self.tau_values!r} is invalid: it needs one more value than "
                f"tau_milestones ({self.tau_milestones!r})"
            )
        if len(self.lam_values) != len(self.lam_milestones):
            raise ConfigError(
                f"lam_values = {self.lam_values!r} is invalid: it needs one value per "
                f"lam_milestone ({self.lam_milestones!r})"
            )
        if self.step_kappa and len(self.step_weights) != len(self.step_kappa) + 1:
            raise ConfigError(
                f"step_weights = {self.step_weights!r} is invalid: it needs len(step_kappa) + 1 "
                f"= {len(self.step_kappa) + 1} values"
            )
        if self.weight_fn == "step":
            self._validate_step_weights()
        labelled = self.train_subset or DATASETS[self.dataset].n_train
        if self.val_split >= labelled:
            raise ConfigError(
                f"val_split = {self.val_split!r} is invalid: it must be below the run's "
                f"{labelled} labelled training points"
            )
        if self.selection_points:
            if self.val_split:
                raise ConfigError(
                    f"selection_points = {self.selection_points!r} is invalid with val_split = "
                    f"{self.val_split!r}: both choose best_val.pt; set one of them to 0"
                )
            evaluated = self.evaluated_test_points
            if self.selection_points >= evaluated:
                raise ConfigError(
                    f"selection_points = {self.selection_points!r} is invalid: it must be below "
                    f"the {evaluated} test points each epoch evaluates (eval_samples, test_subset)"
                )
        if self.best_end and self.best_end < self.best_start:
            raise ConfigError(
                f"best_end = {self.best_end!r} is invalid: it must be >= best_start "
                f"({self.best_start}) or 0 for the last epoch"
            )

    @classmethod
    def check_settings(cls, values: Mapping[str, Any]) -> None:
        """ConfigError for the first setting of a partial ``values`` (a preset, a config
        layer) that is unknown, of the wrong type or out of range on its own; settings that
        must agree with others are checked once a run is complete."""
        if not isinstance(values, Mapping):
            raise ConfigError(f"run settings must be a mapping of key: value, got {values!r}")
        _check_names(cls, values)
        hints = typing.get_type_hints(cls)
        for key, value in values.items():
            problem = setting_problem(key, coerce(key, value, hints[key]))
            if problem:
                raise ConfigError(problem)

    def _validate_step_weights(self) -> None:
        """The step weight (``weight_fn = step``) needs increasing thresholds, weights that do
        not increase, and one weight more than thresholds."""
        if len(self.step_weights) != len(self.step_kappa) + 1:
            raise ConfigError(
                f"step_weights = {self.step_weights!r} is invalid: weight_fn = step needs "
                f"len(step_kappa) + 1 = {len(self.step_kappa) + 1} values"
            )
        if any(b <= a for a, b in itertools.pairwise(self.step_kappa)):
            raise ConfigError(
                f"step_kappa = {self.step_kappa!r} is invalid: thresholds must increase"
            )
        if any(b > a for a, b in itertools.pairwise(self.step_weights)):
            raise ConfigError(
                f"step_weights = {self.step_weights!r} is invalid: weights must not increase"
            )

    # ---------------------------------------------------------------- derived
    @property
    def evaluated_test_points(self) -> int:
        """The test points each evaluated epoch attacks: the first eval_samples of the test
        split (its subset, or the whole split)."""
        n = self.test_subset or DATASETS[self.dataset].n_test
        return min(self.eval_samples, n) if self.eval_samples else n

    @property
    def test_eps(self) -> float:
        return self.eps if self.eval_eps is None else self.eval_eps

    @property
    def test_alpha(self) -> float:
        return self.test_eps / 4 if self.eval_alpha is None else self.eval_alpha

    @property
    def train_budget(self) -> dict[str, Any]:
        """The training attack's eps, alpha and K, as keywords of gair.paper.attacks' functions."""
        return {"eps": self.eps, "alpha": self.alpha, "steps": self.steps}

    @property
    def test_budget(self) -> dict[str, Any]:
        """The per-epoch PGD evaluation's eps, alpha and steps, as keywords."""
        return {"eps": self.test_eps, "alpha": self.test_alpha, "steps": self.eval_steps}

    @property
    def own_start(self) -> str:
        """The method's own first iterate of its training attack (MethodInfo.start): uniform,
        gaussian, or none where a uniform start is turned off (random_start false); "" for
        a method without a training attack."""
        own = method_info(self.method).start
        return "none" if own == "uniform" and not self.random_start else own

    @property
    def start_kind(self) -> str:
        """The first iterate the run's training attack starts from: attack_start, or the
        method's own (:attr:`own_start`)."""
        return self.own_start if self.attack_start == "method" else self.attack_start

    @property
    def last_best_epoch(self) -> int:
        return self.best_end or self.epochs

    def tau_at(self, epoch: int) -> int:
        """FAT's tau for a 1-based epoch."""
        return self.tau_values[changes_passed(epoch, self.tau_milestones)]

    def lam_at(self, epoch: int) -> float:
        """Eq. 6's lambda for a 1-based epoch (a schedule when lam_milestones is set)."""
        passed = changes_passed(epoch, self.lam_milestones)
        return self.lam if passed == 0 else self.lam_values[passed - 1]

    def reweighting(self, epoch: int) -> bool:
        """Whether the loss of the 1-based ``epoch`` is reweighted (burn-in over)."""
        return changes_passed(epoch, [self.reweight_from]) == 1

    def in_best_window(self, epoch: int) -> bool:
        """Whether ``epoch`` may become best.pt (best_start..best_end, both included)."""
        return self.best_start <= epoch <= self.last_best_epoch

    @classmethod
    def epoch_settings(cls) -> list[str]:
        """The fields whose values are epochs (the convention above; rescaled together)."""
        return [f.name for f in dataclasses.fields(cls) if f.metadata.get("epochs")]

    def rescaled(self, epochs: int) -> RunSpec:
        """The same run shortened (or lengthened) to ``epochs``: every epoch setting moved by
        :func:`rescale_epoch`, so that each change falls at the same share of training."""
        if epochs <= 0 or epochs == self.epochs:
            return self

        def move(value: int) -> int:
            return rescale_epoch(value, self.epochs, epochs)

        changes: dict[str, Any] = {"epochs": epochs}
        for name in self.epoch_settings():
            value = getattr(self, name)
            if name == "snapshots":
                changes[name] = sorted({move(v) for v in value})
            elif isinstance(value, list):  # one entry per factor or value: keep them all
                changes[name] = [move(v) for v in value]
            else:
                changes[name] = move(value)
        if self.reweight_from > self.epochs:  # never reweight stays never
            changes["reweight_from"] = epochs + 1
        changes["extra"] = self._rescaled_extra(epochs)
        if self.best_end and changes["best_end"] < changes["best_start"]:
            changes["best_end"] = changes["best_start"]
        return self.with_overrides(changes)

    def _rescaled_extra(self, epochs: int) -> dict[str, float]:
        """``extra`` with the method's epoch counts (MethodInfo.epoch_extras, e.g. IAAT's
        warm-up; its default where unset) scaled to ``epochs``; a count of at least one
        epoch stays at least one."""
        out = dict(self.extra)
        for key, default in method_info(self.method).epoch_extras:
            value = float(out.get(key, default))
            if value > 0:
                value = max(1, math.floor(value * epochs / self.epochs + 0.5))
            out[key] = float(value)
        return out

    # ---------------------------------------------------------------- identity
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def identity(self) -> dict[str, Any]:
        d = self.to_dict()
        for key in self.NON_IDENTITY:
            d.pop(key)
        return d

    def digest(self) -> str:
        """Short hash of the settings that differ from their defaults.

        Leaving defaults out keeps every existing run's name when a new setting is added
        with a default that reproduces the old behaviour; :data:`PROTOCOL` is always in,
        :attr:`OUTPUT_ONLY` settings never.
        """
        defaults = _defaults(type(self))
        changed = {
            k: v
            for k, v in self.identity().items()
            if (k not in defaults or v != defaults[k]) and k not in self.OUTPUT_ONLY
        }
        changed["protocol"] = PROTOCOL
        revision = _method_revision(self.method)
        if revision:
            changed["method_revision"] = revision
        text = json.dumps(changed, sort_keys=True, default=_json_default)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def run_name(self) -> str:
        return f"{self.dataset}-{self.model}-{self.method}-s{self.seed}-{self.digest()}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        _check_names(cls, data)
        hints = typing.get_type_hints(cls)
        values = {k: coerce(k, v, hints[k]) for k, v in data.items()}
        missing = [n for n in ("dataset", "model", "method", "epochs") if n not in values]
        if missing:
            raise ConfigError(f"missing run setting {missing[0]!r}")
        return cls(**values)

    def with_overrides(self, overrides: dict[str, Any]) -> RunSpec:
        d = self.to_dict()
        d.update(overrides)
        return RunSpec.from_dict(d)


# ---------------------------------------------------------------------------- epochs in steps
def labelled_points(spec: RunSpec) -> int:
    """Labelled points the run trains on: its subset (or the whole split) less the
    validation split it withholds."""
    return (spec.train_subset or DATASETS[spec.dataset].n_train) - spec.val_split


def batches_per_epoch(spec: RunSpec) -> int:
    """Training steps of one epoch: ceil(labelled points / batch size), also with a
    pseudo-labelled pool, whose batches mix both kinds (RST's epoch of 50K points)."""
    return -(-labelled_points(spec) // spec.batch_size)


def points_per_epoch(spec: RunSpec) -> int:
    """Training points one epoch forwards: every labelled point once, or full mixed batches
    when the run has a pseudo-labelled pool."""
    has_pool = bool(spec.unlabeled_path) or DATASETS[spec.dataset].pool is not None
    return batches_per_epoch(spec) * spec.batch_size if has_pool else labelled_points(spec)


def _check_names(cls: type, data: Mapping[str, Any]) -> None:
    """ConfigError for the first key of ``data`` that is not a setting (or was renamed)."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    renamed = [k for k in unknown if k in RENAMED]
    if renamed:
        raise ConfigError(f"run setting {renamed[0]!r} was renamed: use {RENAMED[renamed[0]]}")
    if unknown:
        raise ConfigError(
            f"unknown run setting {unknown[0]!r}; valid settings are: {', '.join(sorted(known))}"
        )


POSITIVE = ("epochs", "batch_size", "steps", "eval_steps", "eval_every")
NON_NEGATIVE = (
    "train_subset", "test_subset", "eval_samples", "train_eval_samples", "seed", "val_split",
    "selection_points",
)  # fmt: skip


def setting_problem(name: str, value: Any) -> str | None:
    """What is wrong with one setting's (coerced) value on its own, or None."""

    def one_of(valid: Any, what: str) -> str | None:
        if value in valid:
            return None
        return f"{name} {value!r} is unknown; valid {what} are: {', '.join(valid)}"

    numbers = value if isinstance(value, list) else [value]
    if name in POSITIVE and value < 1:
        return f"{name} = {value!r} is invalid: it must be an integer >= 1"
    if name in NON_NEGATIVE and value < 0:
        return f"{name} = {value!r} is invalid: it must be >= 0"
    if name in ("eps", "alpha", "fat_omega") and not (value >= 0 and math.isfinite(value)):
        return f"{name} = {value!r} is invalid: it must be a finite number >= 0"
    if name == "eval_eps" and value is not None and not value >= 0:
        return f"eval_eps = {value!r} is invalid: it must be >= 0"
    if name == "lr" and not (value > 0 and math.isfinite(value)):
        return f"lr = {value!r} is invalid: it must be a finite number > 0"
    if name == "weight_decay" and not value >= 0:
        return f"weight_decay = {value!r} is invalid: it must be >= 0"
    if name == "tau_values" and any(t < 0 for t in numbers):
        return f"tau_values = {value!r} is invalid: tau must be >= 0"
    if name in ("lam", "lam_values"):
        bad = [lam for lam in numbers if math.isnan(lam) or lam == -math.inf]
        if bad:
            return f"lam = {bad[0]!r} is invalid: it must be a number or +inf"
    if name in _EPOCH_SETTINGS and any(v < 0 for v in numbers):
        return f"{name} = {value!r} is invalid: epochs are counted from 1 (0: unset)"
    if name == "amp" and value not in ("none", "bf16"):
        return f"amp = {value!r} is invalid: valid values are none, bf16"
    if name == "weight_fn" and value not in WEIGHT_FUNCTIONS:
        return (
            f"weight_fn = {value!r} is unknown; valid weight functions are: "
            f"{', '.join(WEIGHT_FUNCTIONS)}"
        )
    if name == "attack_start" and value not in ATTACK_STARTS:
        return f"attack_start = {value!r} is unknown; valid starts are: {', '.join(ATTACK_STARTS)}"
    if name == "attack_bn" and value not in ATTACK_BN_MODES:
        return (
            f"attack_bn = {value!r} is unknown; valid BatchNorm modes are: "
            f"{', '.join(ATTACK_BN_MODES)}"
        )
    if name == "attack_loss" and value not in ATTACK_LOSS_NAMES:
        return (
            f"attack_loss = {value!r} is unknown; valid attack losses are: "
            f"{', '.join(ATTACK_LOSS_NAMES)}"
        )
    if name == "method":
        return one_of(catalogue(), "methods")
    if name == "dataset":
        return one_of(DATASETS, "datasets")
    if name == "model":
        return one_of(MODELS, "models")
    if name == "lr_schedule":
        return one_of(SCHEDULES, "schedules")
    return None


def _defaults(cls: type) -> dict[str, Any]:
    """Each field's default value (the four required fields have none)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _method_revision(method: str) -> int:
    """The method's ``MethodInfo.revision`` (0 for a name the catalogue does not know: the
    digest must not fail on a spec that validation would reject)."""
    info = catalogue().get(method)
    return info.revision if info else 0


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    raise TypeError(f"cannot serialise {value!r}")


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse one ``key=value`` from ``--set``; the value is read as YAML (numbers, lists)."""
    import yaml

    if "=" not in text:
        raise ConfigError(f"--set {text!r} is invalid: expected key=value, e.g. --set lam=-1")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def coerce(name: str, value: Any, hint: Any) -> Any:
    """Convert a parsed value to the field's type, or raise ConfigError naming the field."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(name, value, inner[0])
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} = {value!r} is invalid: expected a list, e.g. [30, 60]")
        return [coerce(name, v, args[0]) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name} = {value!r} is invalid: expected a mapping")
        return {str(k): coerce(f"{name}.{k}", v, args[1]) for k, v in value.items()}
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
                return value.lower() in ("true", "yes", "1")
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise ValueError
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, str):
                text = value.strip().lower()
                if text in ("inf", "+inf", ".inf"):
                    return math.inf
                if text in ("-inf", "-.inf"):
                    return -math.inf
                if "/" in text:  # 8/255
                    num, den = text.split("/", 1)
                    return float(num) / float(den)
            return float(value)
        if hint is str:
            if not isinstance(value, str):
                raise ValueError
            return value
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise ConfigError(f"{name} = {value!r} is invalid: expected {getattr(hint, '__name__', hint)}")


_EPOCH_SETTINGS = frozenset(RunSpec.epoch_settings())

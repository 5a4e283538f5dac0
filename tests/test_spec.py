"""The run spec: parsing --set values, type coercion, validation messages, the identity digest."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import subprocess
import sys
from typing import Any

import pytest

from gair.errors import ConfigError
from gair.spec import PROTOCOL, RunSpec, coerce, parse_assignment

BASE: dict[str, Any] = {"dataset": "digits", "model": "smallcnn", "method": "gairat", "epochs": 10}


def spec(**kw: Any) -> RunSpec:
    return RunSpec(**{**BASE, **kw})


# --------------------------------------------------------------------------- --set parsing
@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("lam=-1", "lam", -1),
        ("lr=0.05", "lr", 0.05),
        (" lr = 0.05", "lr", 0.05),
        ("eps=8/255", "eps", "8/255"),
        ("lam=inf", "lam", "inf"),
        ("milestones=[60, 90, 110]", "milestones", [60, 90, 110]),
        ("augment=false", "augment", False),
        ("unlabeled_path=", "unlabeled_path", ""),
        ("unlabeled_path=/data/a=b.pkl", "unlabeled_path", "/data/a=b.pkl"),
        ("milestones=[1, 2", "milestones", "[1, 2"),  # not YAML: kept as text, coerce rejects it
    ],
)
def test_parse_assignment(text: str, key: str, value: Any) -> None:
    assert parse_assignment(text) == (key, value)


def test_parse_assignment_needs_an_equals_sign() -> None:
    with pytest.raises(ConfigError, match=re.escape("--set 'lam'")):
        parse_assignment("lam")


def test_parse_then_coerce_through_from_dict() -> None:
    texts = ["eps=8/255", "lam=inf", "milestones=[60, 90, 110]", "lr_factors=[0.1, 0.1, 0.5]"]
    texts += ["augment=no", "epochs=120", "alpha=0.007", "extra={rho: 2}"]
    s = RunSpec.from_dict({**BASE, **dict(parse_assignment(t) for t in texts)})
    assert s.eps == 8 / 255 and isinstance(s.eps, float)
    assert s.lam == math.inf
    assert s.milestones == [60, 90, 110]
    assert s.lr_factors == [0.1, 0.1, 0.5] and all(isinstance(v, float) for v in s.lr_factors)
    assert s.augment is False
    assert s.epochs == 120
    assert s.extra == {"rho": 2.0} and isinstance(s.extra["rho"], float)


# --------------------------------------------------------------------------- coercion
@pytest.mark.parametrize(
    ("value", "hint", "want"),
    [
        (3, int, 3),
        ("3", int, 3),
        (3.0, int, 3),
        (2, float, 2.0),
        ("8/255", float, 8 / 255),
        ("1e-3", float, 0.001),  # YAML 1.1 reads 1e-3 as text
        ("inf", float, math.inf),
        ("+inf", float, math.inf),
        (".inf", float, math.inf),
        ("-inf", float, -math.inf),
        (True, bool, True),
        ("yes", bool, True),
        ("False", bool, False),
        (0, bool, False),
        ("x", str, "x"),
        (None, int | None, None),
        ("4", int | None, 4),
        (["1", 2.0], list[int], [1, 2]),
        ([1, "1/2"], list[float], [1.0, 0.5]),
        ({"a": "3"}, dict[str, float], {"a": 3.0}),
    ],
)
def test_coerce(value: Any, hint: Any, want: Any) -> None:
    got = coerce("field", value, hint)
    assert got == want
    assert type(got) is type(want)


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (2.5, int),
        (True, int),
        ("ten", int),
        (True, float),
        ("abc", float),
        (2, bool),
        ("maybe", bool),
        (5, str),
        (5, list[int]),
        (["a"], list[int]),
        ([1], dict[str, float]),
    ],
)
def test_coerce_rejects_wrong_types_naming_the_field(value: Any, hint: Any) -> None:
    with pytest.raises(ConfigError, match=r"^my_field\b.*invalid"):
        coerce("my_field", value, hint)


def test_from_dict_names_unknown_and_mistyped_settings() -> None:
    with pytest.raises(ConfigError, match=r"unknown run setting 'lamda'.*valid settings.*\blam\b"):
        RunSpec.from_dict({**BASE, "lamda": 0.0})
    with pytest.raises(ConfigError, match=re.escape("epochs = 'ten' is invalid")):
        RunSpec.from_dict({**BASE, "epochs": "ten"})
    with pytest.raises(ConfigError, match=re.escape("milestones = 30 is invalid")):
        RunSpec.from_dict({**BASE, "milestones": 30})
    with pytest.raises(ConfigError, match=re.escape("missing run setting 'epochs'")):
        RunSpec.from_dict({k: v for k, v in BASE.items() if k != "epochs"})
    with pytest.raises(ConfigError, match="'lamda'"):
        spec().with_overrides({"lamda": 1.0})


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"epochs": 0}, "epochs"),
        ({"steps": 0}, "steps"),
        ({"eps": -0.1}, "eps"),
        ({"eps": math.inf}, "eps"),
        ({"lr": 0.0}, "lr"),
        ({"reweight_from": 12}, "reweight_from"),
        ({"reweight_from": -1}, "reweight_from"),
        ({"snapshots": [3, -2]}, "snapshots"),
        ({"best_start": -1}, "best_start"),
        ({"milestones": [5], "lr_factors": [0.1, 0.1]}, "lr_factors"),
        ({"tau_values": [0, 3]}, "tau_values"),
        ({"tau_values": [-1]}, "tau_values"),
        ({"lam_values": [1.0]}, "lam_values"),
        ({"step_kappa": [3], "step_weights": [1.0]}, "step_weights"),
        ({"amp": "fp16"}, "amp"),
        ({"best_start": 5, "best_end": 4}, "best_end"),
        ({"seed": -1}, "seed"),
    ],
)
def test_validation_names_the_setting(overrides: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{name} = "):
        spec(**overrides)


# --------------------------------------------------------------------------- identity digest
def _other(value: Any) -> Any:
    """A different value of the same kind (validity does not matter for the digest)."""
    if value is None:
        return 1
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.25
    if isinstance(value, str):
        return value + "_x"
    if isinstance(value, list):
        return [*value, 1]
    if isinstance(value, dict):
        return {**value, "k": 1.0}
    raise AssertionError(f"no alternative for {value!r}")


def test_digest_is_stable_across_constructions() -> None:
    a = spec(lam=-1.0, milestones=[60, 90], lr_factors=[0.1, 0.1])
    b = RunSpec.from_dict(dict(reversed(list(a.to_dict().items()))))
    c = spec().with_overrides({"lam": "-1", "milestones": ["60", 90]})
    assert a.digest() == b.digest() == c.digest()
    assert re.fullmatch(r"[0-9a-f]{8}", a.digest())
    assert a.run_name() == f"digits-smallcnn-gairat-s0-{a.digest()}"


@pytest.mark.slow
def test_digest_is_stable_across_processes() -> None:
    # sha256 of sorted JSON does not depend on the interpreter's hash seed.
    code = (
        "from gair.spec import RunSpec;"
        "print(RunSpec(dataset='digits', model='smallcnn', method='gairat', epochs=10,"
        " lam=float('inf')).digest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == spec(lam=math.inf).digest()


def test_digest_changes_with_every_identity_field_only() -> None:
    base = spec()
    digest = base.digest()
    names = [f.name for f in dataclasses.fields(RunSpec)]
    assert set(RunSpec.NON_IDENTITY) == {"device", "data_root"}
    # What a run keeps besides best.pt is checked on resume (identity), never named.
    assert set(RunSpec.OUTPUT_ONLY) == {"selection_points"}
    for name in names:
        changed = dataclasses.replace(base)
        # Set the attribute directly: the digest must react even to values validate() rejects.
        setattr(changed, name, _other(getattr(base, name)))
        if name in RunSpec.NON_IDENTITY or name in RunSpec.OUTPUT_ONLY:
            assert changed.digest() == digest, name
            assert (changed.identity() == base.identity()) == (name in RunSpec.NON_IDENTITY)
        else:
            assert changed.digest() != digest, name
    assert spec(device="cuda:1", data_root="/elsewhere").digest() == digest
    assert spec(lam=math.inf).digest() != spec(lam=0.0).digest()


def test_to_dict_round_trip() -> None:
    s = spec(lam=math.inf, eval_eps=0.031, extra={"rho": 0.5}, snapshots=[30])
    again = RunSpec.from_dict(s.to_dict())
    assert again == s
    assert "device" not in s.identity() and "data_root" not in s.identity()


def test_a_new_setting_with_a_default_keeps_existing_run_names() -> None:
    """Run names must survive the addition of a setting whose default changes nothing."""
    import dataclasses

    @dataclasses.dataclass
    class Extended(RunSpec):
        some_new_setting: float = 1.0

    base = dict(dataset="digits", model="smallcnn", method="gairat", epochs=3, lam=-1.0)
    assert Extended(**base).digest() == RunSpec(**base).digest()
    assert Extended(**base, some_new_setting=2.0).digest() != RunSpec(**base).digest()
    assert RunSpec(**base, reweight_from=0).digest() == RunSpec(**base).digest()
    assert RunSpec(**base, reweight_from=1).digest() != RunSpec(**base).digest()


def _hand_digest(spec_: RunSpec, **more: Any) -> str:
    """The digest written out: sha256 of the sorted JSON of the non-default identity
    settings, the protocol and ``more``."""
    import hashlib
    import json

    defaults = RunSpec(dataset="digits", model="mlp", method="at", epochs=1).identity()
    changed = {k: v for k, v in spec_.identity().items() if defaults.get(k) != v}
    for required in ("dataset", "model", "method", "epochs"):
        changed[required] = getattr(spec_, required)
    changed.update(protocol=PROTOCOL, **more)
    text = json.dumps(changed, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def test_a_methods_revision_renames_its_runs_only() -> None:
    """TRADES' revision 1 (three BN-moving forwards per step) renames TRADES runs; every other
    method's names stay as they were."""
    from gair.methods import method_info

    assert method_info("at").revision == 0
    at = RunSpec(dataset="digits", model="mlp", method="at", epochs=3)
    assert at.digest() == _hand_digest(at)
    for name in ("trades", "gair_trades"):
        run = RunSpec(dataset="digits", model="mlp", method=name, epochs=3)
        assert method_info(name).revision == 1
        assert run.digest() == _hand_digest(run, method_revision=1)
        assert run.digest() != _hand_digest(run)


def test_the_protocol_version_is_part_of_every_run_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run trained under an older protocol (epoch convention, a method's definition) must
    never be resumed or reported as a run of the current one: its name differs."""
    import gair.spec as spec_module

    base = dict(dataset="digits", model="smallcnn", method="at", epochs=3)
    now = RunSpec(**base).run_name()
    monkeypatch.setattr(spec_module, "PROTOCOL", spec_module.PROTOCOL - 1)
    assert RunSpec(**base).run_name() != now


def test_rescaling_moves_every_epoch_setting_to_the_same_share_of_training() -> None:
    s = RunSpec(
        dataset="digits", model="mlp", method="gairat", epochs=100, milestones=[30, 60],
        lr_factors=[0.1, 0.1], reweight_from=30, snapshots=[30], best_start=59, best_end=100,
        tau_values=[0, 3, 6], tau_milestones=[41, 71], lam_milestones=[50], lam_values=[1.0],
    )  # fmt: skip
    r = s.rescaled(10)
    # epoch e starts after e - 1 of 100 epochs: 1 + round((e - 1) / 10) of 10
    assert r.milestones == [4, 7] and r.reweight_from == 4 and r.snapshots == [4]
    assert r.tau_milestones == [5, 8] and r.lam_milestones == [6]
    assert (r.best_start, r.best_end) == (7, 10)
    # the epoch-30 snapshot stays the first epoch at the dropped LR, as at full length
    assert r.snapshots[0] == r.milestones[0]
    assert set(RunSpec.epoch_settings()) == {
        "milestones", "lr_drop_epoch", "tau_milestones", "lam_milestones", "reweight_from",
        "best_start", "best_end", "snapshots",
    }  # fmt: skip
    assert s.rescaled(100) is s and s.rescaled(0) is s
    never = RunSpec(dataset="digits", model="mlp", method="gairat", epochs=100, reweight_from=101)
    assert never.rescaled(4).reweight_from == 5


# --------------------------------------------------------------------------- models
def test_a_misspelt_model_is_refused_with_the_valid_names() -> None:
    """Before models had records, this spec got a name and a digest and failed only inside
    its training job."""
    with pytest.raises(ConfigError, match=r"model 'resnet19' is unknown; valid models are: "):
        RunSpec(dataset="digits", model="resnet19", method="at", epochs=1)
    with pytest.raises(ConfigError, match=r"resnet18.*wrn"):
        RunSpec.check_settings({"model": "resnet19"})

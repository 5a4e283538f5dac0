"""A run spec turned into live objects (device, data, model), and a checkpoint back into
them."""

from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn

from gair.data.tensors import load_dataset
from gair.errors import CheckpointError, ConfigError
from gair.models import build_model, model_info
from gair.spec import RunSpec


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; anything else must be a valid device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(
            f"device {name!r} is invalid; valid devices are auto, cpu, cuda, cuda:N"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device {name!r} was asked for but no CUDA GPU is visible; use cpu or auto"
        )
    return device


def load_data(spec: RunSpec, device: torch.device) -> Any:
    return load_dataset(
        spec.dataset,
        root=spec.data_root,
        device=device,
        train_subset=spec.train_subset,
        test_subset=spec.test_subset,
        unlabeled_path=spec.unlabeled_path,
        val_split=spec.val_split,
    )


def build_for(spec: RunSpec, data: Any, device: torch.device) -> nn.Module:
    in_channels = data.in_channels
    if model_info(spec.model).input == "vector" and data.kind == "image":
        in_channels = data.in_channels * data.image_size**2  # an MLP sees the flattened image
    model = build_model(
        spec.model,
        in_channels=in_channels,
        num_classes=data.num_classes,
        depth=spec.depth,
        width=spec.width,
        input_size=max(data.image_size, 1),
    ).to(device)
    if spec.channels_last and data.kind == "image":
        model = model.to(memory_format=torch.channels_last)
    return model


def spec_from_checkpoint(ckpt: dict[str, Any], *, source: object = "checkpoint") -> RunSpec:
    try:
        return RunSpec.from_dict(json.loads(ckpt["spec"]))
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{_named(source)} has no readable run spec ({err})") from None
    except ConfigError as err:
        raise CheckpointError(
            f"{_named(source)} holds a run spec that is not valid: {err}"
        ) from None


def _named(source: object) -> str:
    return source if source == "checkpoint" else f"checkpoint {str(source)!r}"


def load_weights(model: nn.Module, weights: Any, *, source: object = "checkpoint") -> None:
    """``model.load_state_dict(weights)`` with a one-line CheckpointError naming the file and
    the first mismatching keys when the weights do not fit the model."""
    if not isinstance(weights, dict):
        raise CheckpointError(f"{_named(source)} holds no state dict of model weights")
    own = model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    shapes = [
        f"{k} {tuple(weights[k].shape)} (model {tuple(own[k].shape)})"
        for k in own
        if k in weights and hasattr(weights[k], "shape") and weights[k].shape != own[k].shape
    ]
    problems = []
    for what, keys in (("missing", missing), ("unexpected", unexpected), ("shape of", shapes)):
        if keys:
            more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
            problems.append(f"{what} {', '.join(keys[:3])}{more}")
    if problems:
        raise CheckpointError(
            f"{_named(source)} does not fit the model {type(model).__name__}: "
            + "; ".join(problems)
        )
    try:
        model.load_state_dict(weights)
    except (RuntimeError, TypeError) as err:
        first = " ".join(str(err).split())[:200]
        raise CheckpointError(f"{_named(source)} does not fit the model: {first}") from None


def load_model_from_checkpoint(
    ckpt: dict[str, Any],
    device: torch.device,
    *,
    data_root: str | None = None,
    source: object = "checkpoint",
) -> tuple[nn.Module, RunSpec, Any]:
    """Rebuild the run's model and data from a loaded checkpoint (weights restored)."""
    spec = spec_from_checkpoint(ckpt, source=source)
    if data_root is not None:
        spec = spec.with_overrides({"data_root": data_root})
    data = load_data(spec, device)
    model = build_for(spec, data, device)
    load_weights(model, ckpt.get("model"), source=source)
    model.eval()
    return model, spec, data

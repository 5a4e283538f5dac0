"""Turning a run spec into live objects: device, data and model."""

from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn

from gair.errors import CheckpointError, ConfigError
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
    from gair.data import load_dataset

    return load_dataset(
        spec.dataset,
        root=spec.data_root,
        device=device,
        train_subset=spec.train_subset,
        test_subset=spec.test_subset,
        unlabeled_path=spec.unlabeled_path,
    )


def build_for(spec: RunSpec, data: Any, device: torch.device) -> nn.Module:
    from gair.models import VECTOR_MODELS, build_model

    in_channels = data.in_channels
    if spec.model in VECTOR_MODELS and data.kind == "image":
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


def spec_from_checkpoint(ckpt: dict[str, Any]) -> RunSpec:
    try:
        return RunSpec.from_dict(json.loads(ckpt["spec"]))
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"checkpoint has no readable run spec ({err})") from None


def load_model_from_checkpoint(
    ckpt: dict[str, Any], device: torch.device, *, data_root: str | None = None
) -> tuple[nn.Module, RunSpec, Any]:
    """Rebuild the run's model and data from a loaded checkpoint (weights restored)."""
    spec = spec_from_checkpoint(ckpt)
    if data_root is not None:
        spec = spec.with_overrides({"data_root": data_root})
    data = load_data(spec, device)
    model = build_for(spec, data, device)
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, spec, data

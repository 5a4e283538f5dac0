"""The model catalogue: one record per network with everything the pipeline knows about it.

A :class:`ModelInfo` holds a model's display title, its cost (forward multiply-adds per
32x32 image, what the plan's cost model reads), its default shape, the kind of input it takes
and the dotted path of its builder. The records import no torch: the spec checks a run's
model name here, the plan prices it and the report names it, all without torch;
:func:`build_model` imports the architecture module when it builds one.

Architectures live beside this file: :mod:`gair.models.resnet` (ResNet-18/34/50, PreAct
ResNet-18), :mod:`gair.models.wrn` (Wide ResNets), :mod:`gair.models.vgg` (VGG-13),
:mod:`gair.models.small` (SmallCNN, MLP). Adding a model is its builder in one of them (or a
new module) and one record below. ``width`` and ``depth`` of a run spec mean what the
model's module docstring says; unset, they are the record's defaults.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gair.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

MIN_INPUT_SIZE = 8


@dataclass(frozen=True)
class ModelInfo:
    """Everything but the architecture's code about one model."""

    name: str  # the value of RunSpec.model
    title: str  # display name in figures and tables
    builder: str  # "module:function" building the network (keywords: see build_model)
    # Forward multiply-adds (G) per 32x32 image at the default shape; with gmacs_per_block
    # (Wide ResNets) the cost is that per block per stage instead, times the blocks and
    # (width / default width) squared.
    gmacs: float = 0.0
    gmacs_per_block: float = 0.0
    input: str = "image"  # "image", or "vector": an MLP sees the flattened image
    default_depth: int | None = None
    default_width: int | None = None
    # How a shaped model is named: a format of depth and width (WRN-34-10, MLP 3x64); empty:
    # the title, with "(width w)" where the width is not the default.
    shape_title: str = ""

    def cost(self, depth: int | None = None, width: int | None = None) -> float:
        """Forward GMACs per 32x32 image at this shape (the basis of the plan's estimates).
        A Wide ResNet costs about 1.31 G per block per stage at widen factor 10: WRN-28-10
        (4 blocks) 5.24 G, WRN-32-10 and WRN-34-10 (5 blocks) 6.55 G."""
        if not self.gmacs_per_block:
            return self.gmacs
        blocks = max(1, ((depth or self.default_depth or 0) - 2) // 6)
        scale = (width or self.default_width or 1) / (self.default_width or 1)
        return self.gmacs_per_block * blocks * scale**2

    def shaped_title(self, depth: int | None = None, width: int | None = None) -> str:
        """How figures and tables name the model at a shape: ``WRN-32-10``,
        ``ResNet-18 (width 4)``, ``MLP 1x64``; unset depth and width are the defaults."""
        if self.shape_title:
            return self.shape_title.format(
                depth=depth or self.default_depth, width=width or self.default_width
            )
        if self.default_width is None or width in (None, self.default_width):
            return self.title
        return f"{self.title} (width {width})"


MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        ModelInfo(
            name="smallcnn",
            title="SmallCNN",
            builder="gair.models.small:smallcnn",
            gmacs=0.13,
        ),
        ModelInfo(
            name="resnet18",
            title="ResNet-18",
            builder="gair.models.resnet:resnet18",
            gmacs=0.56,
            default_width=64,
        ),
        ModelInfo(
            name="resnet34",
            title="ResNet-34",
            builder="gair.models.resnet:resnet34",
            gmacs=1.16,
            default_width=64,
        ),
        ModelInfo(
            name="resnet50",
            title="ResNet-50",
            builder="gair.models.resnet:resnet50",
            gmacs=1.30,
            default_width=64,
        ),
        ModelInfo(
            name="preactresnet18",
            title="PreAct ResNet-18",
            builder="gair.models.resnet:preactresnet18",
            gmacs=0.56,
            default_width=64,
        ),
        ModelInfo(
            name="wrn",
            title="WRN",
            builder="gair.models.wrn:wrn",
            gmacs_per_block=1.31,
            default_depth=34,
            default_width=10,
            shape_title="WRN-{depth}-{width}",
        ),
        ModelInfo(
            name="vgg13",
            title="VGG-13",
            builder="gair.models.vgg:vgg13",
            gmacs=0.23,
            default_width=64,
        ),
        ModelInfo(
            name="mlp",
            title="MLP",
            builder="gair.models.small:mlp",
            gmacs=0.0001,
            input="vector",
            default_depth=3,
            default_width=64,
            shape_title="MLP {depth}x{width}",
        ),
    )
}


def model_names() -> list[str]:
    """Names accepted by :func:`build_model` and ``RunSpec.model``, in catalogue order."""
    return list(MODELS)


def model_info(name: str) -> ModelInfo:
    """The record of ``name``; ConfigError naming the valid models otherwise."""
    if name not in MODELS:
        raise ConfigError(f"model {name!r} is unknown; valid models are: {', '.join(MODELS)}")
    return MODELS[name]


def model_title(name: str, depth: int | None = None, width: int | None = None) -> str:
    """The display name of a model at a shape (:meth:`ModelInfo.shaped_title`)."""
    return model_info(name).shaped_title(depth, width)


# ---------------------------------------------------------------------------- building
def check_positive(what: str, value: object) -> int:
    """``value`` if it is an integer >= 1; ConfigError naming ``what`` otherwise."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    return value


def check_depth(name: str, depth: int | None, own: int) -> None:
    """A model whose depth is in its name takes no other depth."""
    if depth is not None and depth != own:
        raise ConfigError(f"{name} has depth {own}; got depth {depth!r} (leave depth unset)")


def build_model(
    name: str,
    *,
    in_channels: int = 3,
    num_classes: int = 10,
    depth: int | None = None,
    width: int | None = None,
    input_size: int = 32,
) -> nn.Module:
    """A freshly initialised model by catalogue name (deterministic under torch.manual_seed).

    ``in_channels`` is the number of image channels, or of input features for a vector
    model. ``input_size`` is the side of the square images the model will mostly see (>= 8;
    only ``smallcnn`` uses it, to size its hidden linear layer).
    """
    if not isinstance(name, str) or name.lower() not in MODELS:
        raise ConfigError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    info = MODELS[name.lower()]
    check_positive("in_channels", in_channels)
    check_positive("num_classes", num_classes)
    if info.input == "image":
        check_positive("input_size", input_size)
        if input_size < MIN_INPUT_SIZE:
            raise ConfigError(f"input_size must be at least {MIN_INPUT_SIZE}, got {input_size!r}")
    module, function = info.builder.split(":")
    build = getattr(importlib.import_module(module), function)
    return build(
        in_channels=in_channels,
        num_classes=num_classes,
        depth=depth,
        width=width,
        input_size=input_size,
    )


def count_parameters(model: Any, *, trainable_only: bool = False) -> int:
    """Number of scalar parameters (BN running statistics are buffers and are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

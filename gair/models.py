"""Networks used in the experiments: CIFAR-style ResNets, WideResNets, VGG-13, SmallCNN and an MLP.

Conventions shared by every image model:

- Inputs lie in [0, 1] and no normalisation layer is applied: the networks see raw pixel values,
  as in the authors' code, and epsilon is measured on that scale.
- Any square input of side >= 8 works: the feature extractor ends in adaptive pooling, and for
  32x32 inputs every network equals its standard CIFAR form (the adaptive pooling is then the
  identity or the usual global average pool).
- Activations are never computed in place, so the graph stays valid for input gradients,
  ``channels_last`` tensors and ``torch.autocast``.

``width`` and ``depth`` (from the run spec) mean:

- ``wrn``: depth and widen factor k (defaults 34 and 10), see :class:`WideResNet`.
- ``mlp``: number of hidden layers (default 3) and their size (default 64).
- ``resnet*``, ``preactresnet18``, ``vgg13``: width is the channel count of the first stage
  (default 64; later stages scale with it); depth may only repeat the name's own depth.
- ``smallcnn``: fixed shape; neither may be set.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gair.errors import ConfigError

MIN_INPUT_SIZE = 8

__all__ = [
    "MIN_INPUT_SIZE",
    "MLP",
    "MODELS",
    "VGG",
    "VGG13_CONFIG",
    "BasicBlock",
    "Bottleneck",
    "PreActBlock",
    "PreActResNet",
    "ResNet",
    "SmallCNN",
    "WideResNet",
    "build_model",
    "count_parameters",
    "model_names",
    "model_title",
    "wrn_blocks_per_stage",
]


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def global_pool(x: torch.Tensor) -> torch.Tensor:
    """Average over the whole feature map, as the reference code's ``F.avg_pool2d(out, 4)``
    (ResNets) and ``F.avg_pool2d(out, 8)`` (WRN) do for 32x32 inputs: the same kernel, so a
    published checkpoint gives the same logits here as in its own code, to the last bit."""
    return F.avg_pool2d(x, kernel_size=x.shape[2:])


def _bn_shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    """ResNet's shortcut: identity, or a strided 1x1 projection with BN where shapes change."""
    if stride == 1 and in_planes == out_planes:
        return nn.Identity()
    return nn.Sequential(_conv1x1(in_planes, out_planes, stride), nn.BatchNorm2d(out_planes))


# ----------------------------------------------------------------------------------------------
# ResNet (He et al. 2016), CIFAR variant: 3x3 stem, no max-pool, stages of stride 1-2-2-2.


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BN; ReLU after the residual sum (post-activation)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _bn_shortcut(in_planes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 - 3x3 - 1x1 bottleneck with 4x channel expansion (ResNet-50)."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = _conv1x1(in_planes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, out_planes)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = _bn_shortcut(in_planes, out_planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


def _resnet_stages(
    block: type[nn.Module], num_blocks: tuple[int, int, int, int], width: int
) -> tuple[list[nn.Sequential], int]:
    """Four stages of ``num_blocks`` blocks with w, 2w, 4w, 8w planes and strides 1, 2, 2, 2
    (the first block of a stage takes the stride); also the last stage's output channels."""
    stages = []
    in_planes = width
    expansion = getattr(block, "expansion", 1)
    for i, (n, stride) in enumerate(zip(num_blocks, (1, 2, 2, 2), strict=True)):
        planes = width * 2**i
        blocks = []
        for j in range(n):
            blocks.append(block(in_planes, planes, stride if j == 0 else 1))
            in_planes = planes * expansion
        stages.append(nn.Sequential(*blocks))
    return stages, in_planes


class ResNet(nn.Module):
    """CIFAR ResNet: conv3x3-BN-ReLU stem, four stages (w, 2w, 4w, 8w channels), GAP, linear."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        num_blocks: tuple[int, int, int, int],
        in_channels: int = 3,
        num_classes: int = 10,
        width: int = 64,
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        stages, in_planes = _resnet_stages(block, num_blocks, width)
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.linear = nn.Linear(in_planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(torch.flatten(global_pool(out), 1))


# ----------------------------------------------------------------------------------------------
# Pre-activation ResNet (He et al. 2016, "Identity mappings").


class PreActBlock(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3 twice, with a 1x1 projection shortcut
    (no BN) that reads the pre-activated input when the shape changes.

    The block of He et al.'s pre-activation ResNet and of the reference WRN implementation
    that TRADES, Madry et al. and the GAIRAT authors use (there: "BasicBlock" of WideResNet).
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = _conv3x3(in_planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = _conv1x1(in_planes, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        residual = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + residual


class PreActResNet(nn.Module):
    """Pre-activation ResNet: bare conv stem, PreActBlocks, GAP, linear.

    ``final_bn=False`` (the registry's ``preactresnet18``) is the network of the FAT / GAIRAT
    code, which the paper's Fig. 11 uses: the last block's sum goes straight to the pool.
    ``final_bn=True`` adds the BN-ReLU before the pool that He et al. (2016) and Rice et al.
    (2020) use (2 * 8w more parameters).
    """

    def __init__(
        self,
        num_blocks: tuple[int, int, int, int] = (2, 2, 2, 2),
        in_channels: int = 3,
        num_classes: int = 10,
        width: int = 64,
        final_bn: bool = False,
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, width)
        stages, in_planes = _resnet_stages(PreActBlock, num_blocks, width)
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.bn: nn.Module | None = nn.BatchNorm2d(in_planes) if final_bn else None
        self.linear = nn.Linear(in_planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        if self.bn is not None:
            out = F.relu(self.bn(out))
        return self.linear(torch.flatten(global_pool(out), 1))


# ----------------------------------------------------------------------------------------------
# WideResNet (Zagoruyko & Komodakis 2016).


def wrn_blocks_per_stage(depth: int) -> int:
    """Blocks per stage for a WRN of this depth: (d-4)/6 (standard) or (d-2)/6 (Madry's variant).

    Raises ConfigError for any other depth, naming the valid ones.
    """
    if isinstance(depth, int) and not isinstance(depth, bool):
        if depth >= 10 and (depth - 4) % 6 == 0:
            return (depth - 4) // 6
        if depth >= 8 and (depth - 2) % 6 == 0:
            return (depth - 2) // 6
    raise ConfigError(
        f"wrn depth {depth!r} is invalid; valid depths are 6n+4 (10, 16, 22, 28, 34, 40, ...: "
        "standard WRN) or 6n+2 (8, 14, 20, 26, 32, ...: Madry's variant)"
    )


class WideResNet(nn.Module):
    """WRN-d-k: conv3x3 stem (16), three stages of 16k, 32k, 64k channels (strides 1, 2, 2),
    final BN-ReLU, global average pool, linear.

    Depth sets the blocks per stage two ways (see :func:`wrn_blocks_per_stage`):

    - standard, (d-4)/6 blocks: WRN-34-10 as TRADES uses it, WRN-28-10 for RST;
    - Madry's variant, (d-2)/6 blocks: the authors' WRN-32-10 for Table 1.

    The two counts never collide (d-4 and d-2 differ by 2 mod 6). WRN-32-10 (Madry) and
    WRN-34-10 (standard) both have 5 blocks per stage and so are the same network; TRADES'
    code also builds an unused ``sub_block1`` whose parameters are not part of the network and
    are not built here. Convolutions use He-normal init with fan-out, linear biases start at 0,
    as in the reference implementation.
    """

    def __init__(
        self, depth: int = 34, widen_factor: int = 10, in_channels: int = 3, num_classes: int = 10
    ) -> None:
        super().__init__()
        n = wrn_blocks_per_stage(depth)
        channels = (16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
        self.depth = depth
        self.widen_factor = widen_factor
        self.blocks_per_stage = n
        self.conv1 = _conv3x3(in_channels, channels[0])
        stages = []
        for i, stride in enumerate((1, 2, 2)):
            out = channels[i + 1]
            blocks = [PreActBlock(channels[i], out, stride)]
            blocks += [PreActBlock(out, out, 1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
        self.block1, self.block2, self.block3 = stages
        self.bn = nn.BatchNorm2d(channels[3])
        self.fc = nn.Linear(channels[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = F.relu(self.bn(out))
        return self.fc(torch.flatten(global_pool(out), 1))


# ----------------------------------------------------------------------------------------------
# VGG-13 with BN (Simonyan & Zisserman 2015), CIFAR style: one linear classifier on 512 features.

# fmt: off
VGG13_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M",
)
# fmt: on


class VGG(nn.Module):
    """conv3x3(bias)-BN-ReLU layers and 2x2 max-pools, adaptive average pool, linear classifier.

    Max-pools use ceil mode: on even sizes (32 -> 16 -> 8 -> 4 -> 2 -> 1) this is the usual
    floor pooling, and it lets inputs smaller than 32 pass all five pools (8 -> 4 -> 2 -> 1 -> 1).
    """

    def __init__(
        self,
        config: tuple[int | str, ...] = VGG13_CONFIG,
        in_channels: int = 3,
        num_classes: int = 10,
        width: int = 64,
    ) -> None:
        super().__init__()
        scale = width / 64
        layers: list[nn.Module] = []
        c = in_channels
        for v in config:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
            else:
                out = round(int(v) * scale)
                layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
                c = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


# ----------------------------------------------------------------------------------------------
# SmallCNN as in the FAT / GAIRAT code (paper App. C.5: 6 convolutional and 2 linear layers).


class SmallCNN(nn.Module):
    """Three blocks of two conv3x3(bias)-BN-ReLU layers (64, 128, 196 channels), each block
    followed by a 2x2 max-pool, then linear 256 - ReLU - linear classifier.

    The hidden linear layer has no BN, as in the authors' code. Before flattening, an adaptive
    average pool maps the feature map to ``input_size // 8`` squared: the identity for the size
    the model was built for (196*4*4 features at 32x32), while other sizes still run.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, input_size: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for out in (64, 128, 196):
            for _ in range(2):
                layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
                c = out
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        side = max(1, input_size // 8)
        self.pool = nn.AdaptiveAvgPool2d(side)
        self.fc1 = nn.Linear(c * side * side, 256)
        self.fc2 = nn.Linear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # torch.flatten is a logical reshape, so channels_last inputs give the same features.
        out = torch.flatten(self.pool(self.features(x)), 1)
        return self.fc2(F.relu(self.fc1(out)))


# ----------------------------------------------------------------------------------------------
# MLP for 2-D toy data.


class MLP(nn.Module):
    """``depth`` hidden linear-ReLU layers of size ``width``, then a linear classifier.

    Inputs of shape (N, in_features) (or anything that flattens to it) give (N, num_classes).
    """

    def __init__(
        self, in_features: int = 2, num_classes: int = 10, width: int = 64, depth: int = 3
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten(1)]
        c = in_features
        for _ in range(depth):
            layers += [nn.Linear(c, width), nn.ReLU()]
            c = width
        layers.append(nn.Linear(c, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ----------------------------------------------------------------------------------------------
# Registry.


def _positive(what: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    return value


def _fixed_depth(name: str, depth: int | None, own: int) -> None:
    if depth is not None and depth != own:
        raise ConfigError(f"{name} has depth {own}; got depth {depth!r} (leave depth unset)")


def _resnet_builder(
    name: str, block: type[BasicBlock] | type[Bottleneck], blocks: tuple[int, int, int, int]
) -> Callable[..., nn.Module]:
    own_depth = int(name.removeprefix("resnet"))

    def build(
        *,
        in_channels: int,
        num_classes: int,
        depth: int | None,
        width: int | None,
        input_size: int,
    ) -> nn.Module:
        _fixed_depth(name, depth, own_depth)
        w = 64 if width is None else _positive(f"{name} width", width)
        return ResNet(block, blocks, in_channels, num_classes, width=w)

    return build


def _preactresnet18(
    *, in_channels: int, num_classes: int, depth: int | None, width: int | None, input_size: int
) -> nn.Module:
    _fixed_depth("preactresnet18", depth, 18)
    w = 64 if width is None else _positive("preactresnet18 width", width)
    return PreActResNet((2, 2, 2, 2), in_channels, num_classes, width=w)


def _wrn(
    *, in_channels: int, num_classes: int, depth: int | None, width: int | None, input_size: int
) -> nn.Module:
    d = DEFAULT_SHAPE["wrn"][0] if depth is None else depth
    k = DEFAULT_SHAPE["wrn"][1] if width is None else _positive("wrn width (widen factor)", width)
    return WideResNet(d, k, in_channels, num_classes)


def _vgg13(
    *, in_channels: int, num_classes: int, depth: int | None, width: int | None, input_size: int
) -> nn.Module:
    _fixed_depth("vgg13", depth, 13)
    w = 64 if width is None else _positive("vgg13 width", width)
    return VGG(VGG13_CONFIG, in_channels, num_classes, width=w)


def _smallcnn(
    *, in_channels: int, num_classes: int, depth: int | None, width: int | None, input_size: int
) -> nn.Module:
    if depth is not None or width is not None:
        raise ConfigError(
            f"smallcnn has a fixed shape; got depth={depth!r}, width={width!r} (leave both unset)"
        )
    return SmallCNN(in_channels, num_classes, input_size)


def _mlp(
    *, in_channels: int, num_classes: int, depth: int | None, width: int | None, input_size: int
) -> nn.Module:
    d = DEFAULT_SHAPE["mlp"][0] if depth is None else _positive("mlp depth (hidden layers)", depth)
    w = DEFAULT_SHAPE["mlp"][1] if width is None else _positive("mlp width (hidden size)", width)
    return MLP(in_channels, num_classes, width=w, depth=d)


MODELS: dict[str, Callable[..., nn.Module]] = {
    "smallcnn": _smallcnn,
    "resnet18": _resnet_builder("resnet18", BasicBlock, (2, 2, 2, 2)),
    "resnet34": _resnet_builder("resnet34", BasicBlock, (3, 4, 6, 3)),
    "resnet50": _resnet_builder("resnet50", Bottleneck, (3, 4, 6, 3)),
    "preactresnet18": _preactresnet18,
    "wrn": _wrn,
    "vgg13": _vgg13,
    "mlp": _mlp,
}

# Display names, and the depth / width a model takes when the spec leaves them unset.
TITLES = {
    "smallcnn": "SmallCNN", "resnet18": "ResNet-18", "resnet34": "ResNet-34",
    "resnet50": "ResNet-50", "preactresnet18": "PreAct ResNet-18", "wrn": "WRN",
    "vgg13": "VGG-13", "mlp": "MLP",
}  # fmt: skip
DEFAULT_SHAPE = {"wrn": (34, 10), "mlp": (3, 64)}  # (depth, width); others: width 64


def model_title(name: str, depth: int | None = None, width: int | None = None) -> str:
    """How figures and tables name a model: ``WRN-32-10``, ``ResNet-18 (width 4)``,
    ``MLP 1x64``; unset depth and width are the model's own."""
    base = TITLES.get(name, name)
    if name == "wrn":
        d, k = DEFAULT_SHAPE["wrn"]
        return f"WRN-{depth or d}-{width or k}"
    if name == "mlp":
        d, w = DEFAULT_SHAPE["mlp"]
        return f"MLP {depth or d}x{width or w}"
    return base if width in (None, 64) or name == "smallcnn" else f"{base} (width {width})"


# Models whose input is a feature vector rather than an image.
VECTOR_MODELS = frozenset({"mlp"})


def model_names() -> list[str]:
    """Names accepted by :func:`build_model`, in registry order."""
    return list(MODELS)


def build_model(
    name: str,
    *,
    in_channels: int = 3,
    num_classes: int = 10,
    depth: int | None = None,
    width: int | None = None,
    input_size: int = 32,
) -> nn.Module:
    """Build a freshly initialised model by registry name (deterministic under torch.manual_seed).

    ``in_channels`` is the number of image channels, or of input features for ``mlp``.
    ``input_size`` is the side of the square images the model will mostly see (>= 8; only
    ``smallcnn`` uses it, to size its hidden linear layer; ``mlp`` ignores it).
    """
    if not isinstance(name, str) or name.lower() not in MODELS:
        raise ConfigError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    key = name.lower()
    _positive("in_channels", in_channels)
    _positive("num_classes", num_classes)
    if key not in VECTOR_MODELS:
        _positive("input_size", input_size)
        if input_size < MIN_INPUT_SIZE:
            raise ConfigError(f"input_size must be at least {MIN_INPUT_SIZE}, got {input_size!r}")
    return MODELS[key](
        in_channels=in_channels,
        num_classes=num_classes,
        depth=depth,
        width=width,
        input_size=input_size,
    )


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of scalar parameters (BN running statistics are buffers and are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

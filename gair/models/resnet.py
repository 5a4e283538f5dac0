"""ResNets of the experiments (He et al. 2016), CIFAR variant, and the pre-activation ResNet.

Conventions shared by every image model of this package (:mod:`gair.models`): inputs lie in
[0, 1] and no normalisation layer is applied (the networks see raw pixel values, as in the
authors' code, and epsilon is measured on that scale); any square input of side >= 8 works,
since the feature extractor ends in adaptive or whole-map pooling, and for 32x32 inputs every
network equals its standard CIFAR form; activations are never computed in place, so the
graph stays valid for input gradients, ``channels_last`` tensors and ``torch.autocast``.

``width`` is the channel count of the first stage (default 64; later stages scale with it);
``depth`` may only repeat the name's own depth.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gair.models import check_depth, check_positive


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
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
    return nn.Sequential(conv1x1(in_planes, out_planes, stride), nn.BatchNorm2d(out_planes))


# ----------------------------------------------------------------------------------------------
# ResNet (He et al. 2016), CIFAR variant: 3x3 stem, no max-pool, stages of stride 1-2-2-2.


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BN; ReLU after the residual sum (post-activation)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
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
        self.conv1 = conv1x1(in_planes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, out_planes)
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
        self.conv1 = conv3x3(in_channels, width)
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
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = conv1x1(in_planes, planes, stride)

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
        self.conv1 = conv3x3(in_channels, width)
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
# Builders (the catalogue's ``builder`` of each name).


def _resnet(
    name: str, block: type[BasicBlock] | type[Bottleneck], blocks: tuple[int, int, int, int],
    in_channels: int, num_classes: int, depth: int | None, width: int | None,
) -> nn.Module:  # fmt: skip
    check_depth(name, depth, int(name.removeprefix("resnet")))
    w = 64 if width is None else check_positive(f"{name} width", width)
    return ResNet(block, blocks, in_channels, num_classes, width=w)


def resnet18(
    *, in_channels: int, num_classes: int, depth: int | None, width: int | None, input_size: int
) -> nn.Module:
    return _resnet("resnet18", BasicBlock, (2, 2, 2, 2), in_channels, num_classes, depth, width)


def resnet34(
    *, in_channels: int, num_classes: int, depth: int | None, width: int | None, input_size: int
) -> nn.Module:
    return _resnet("resnet34", BasicBlock, (3, 4, 6, 3), in_channels, num_classes, depth, width)


def resnet50(
    *, in_channels: int, num_classes: int, depth: int | None, width: int | None, input_size: int
) -> nn.Module:
    return _resnet("resnet50", Bottleneck, (3, 4, 6, 3), in_channels, num_classes, depth, width)


def preactresnet18(
    *, in_channels: int, num_classes: int, depth: int | None, width: int | None, input_size: int
) -> nn.Module:
    check_depth("preactresnet18", depth, 18)
    w = 64 if width is None else check_positive("preactresnet18 width", width)
    return PreActResNet((2, 2, 2, 2), in_channels, num_classes, width=w)

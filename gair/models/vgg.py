"""VGG-13 with BN (Simonyan & Zisserman 2015), CIFAR style: one linear classifier on 512
features (Fig. 16). ``width`` is the channel count of the first stage (default 64)."""

from __future__ import annotations

import torch
from torch import nn

from gair.models import check_depth, check_positive

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


def vgg13(
    *, in_channels: int, num_classes: int, depth: int | None, width: int | None, input_size: int
) -> nn.Module:
    check_depth("vgg13", depth, 13)
    w = 64 if width is None else check_positive("vgg13 width", width)
    return VGG(VGG13_CONFIG, in_channels, num_classes, width=w)

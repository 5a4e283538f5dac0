"""Small networks: the SmallCNN of the FAT / GAIRAT code (Fig. 16) and an MLP for the 2-D
toy sets and the smoke scale. SmallCNN has a fixed shape; the MLP's ``depth`` is its number of
hidden layers (default 3) and ``width`` their size (default 64)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gair.errors import ConfigError
from gair.models import check_positive, model_info

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
# Builders.


def smallcnn(
    *, in_channels: int, num_classes: int, depth: int | None, width: int | None, input_size: int
) -> nn.Module:
    if depth is not None or width is not None:
        raise ConfigError(
            f"smallcnn has a fixed shape; got depth={depth!r}, width={width!r} (leave both unset)"
        )
    return SmallCNN(in_channels, num_classes, input_size)


def mlp(
    *, in_channels: int, num_classes: int, depth: int | None, width: int | None, input_size: int
) -> nn.Module:
    info = model_info("mlp")
    d = info.default_depth if depth is None else check_positive("mlp depth (hidden layers)", depth)
    w = info.default_width if width is None else check_positive("mlp width (hidden size)", width)
    return MLP(in_channels, num_classes, width=w, depth=d)

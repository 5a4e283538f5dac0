"""Wide ResNets (Zagoruyko & Komodakis 2016): Madry's WRN-32-10 (Table 1), TRADES' WRN-34-10
(Table 2) and RST's WRN-28-10 (Table 3), built from the pre-activation block of
:mod:`gair.models.resnet`. ``depth`` and ``width`` are the depth and widen factor k (defaults
34 and 10)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gair.errors import ConfigError
from gair.models import check_positive, model_info
from gair.models.resnet import PreActBlock, conv3x3, global_pool


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
        self.conv1 = conv3x3(in_channels, channels[0])
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


def wrn(
    *, in_channels: int, num_classes: int, depth: int | None, width: int | None, input_size: int
) -> nn.Module:
    info = model_info("wrn")
    d = info.default_depth if depth is None else depth
    k = info.default_width if width is None else check_positive("wrn width (widen factor)", width)
    return WideResNet(d, k, in_channels, num_classes)

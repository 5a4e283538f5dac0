"""SGD with momentum, weight decay and Nesterov, as ``torch.optim.SGD`` computes it.

The update is torch's own functional SGD (``torch.optim.sgd.sgd``); this class only holds the
momentum buffers and the parameter groups. It exists because constructing any
``torch.optim.Optimizer`` imports ``torch._dynamo`` (about 1.2 s per process on a laptop CPU,
more than a whole smoke-scale training run), while the functional update does not. Its
``state_dict`` has ``torch.optim.SGD``'s layout, so checkpoints load into either class
(tests/test_optim.py checks trajectories and state dicts against ``torch.optim.SGD``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim.sgd import sgd as functional_sgd

from gair.errors import ConfigError

# torch.optim.SGD's group keys and defaults, in its order (its state_dict carries all of them).
GROUP_DEFAULTS: dict[str, Any] = {
    "lr": 0.001,
    "momentum": 0.0,
    "dampening": 0.0,
    "weight_decay": 0.0,
    "nesterov": False,
    "maximize": False,
    "foreach": None,
    "differentiable": False,
    "fused": None,
}


class SGD:
    """One parameter group of SGD: ``v <- mu v + (g + wd p)``, ``p <- p - lr v`` (or
    ``p <- p - lr (g + wd p + mu v)`` with Nesterov), the first ``v`` being the gradient."""

    def __init__(
        self,
        params: Iterable[Tensor],
        *,
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
            if not value >= 0:
                raise ConfigError(f"SGD {name}={value!r} is invalid: it must be >= 0")
        if nesterov and momentum <= 0:
            raise ConfigError(f"nesterov SGD needs a momentum > 0, got momentum={momentum!r}")
        group = dict(GROUP_DEFAULTS, lr=lr, momentum=momentum, weight_decay=weight_decay)
        group["nesterov"] = nesterov
        group["params"] = list(params)
        self.param_groups: list[dict[str, Any]] = [group]
        self.buffers: list[Tensor | None] = [None] * len(group["params"])

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.param_groups[0]["params"]:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_().zero_()

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        index = [i for i, p in enumerate(group["params"]) if p.grad is not None]
        params = [group["params"][i] for i in index]
        buffers = [self.buffers[i] for i in index]
        functional_sgd(
            params,
            [p.grad for p in params],
            buffers,
            weight_decay=group["weight_decay"],
            momentum=group["momentum"],
            lr=group["lr"],
            dampening=group["dampening"],
            nesterov=group["nesterov"],
            maximize=group["maximize"],
            foreach=group["foreach"],
        )
        if group["momentum"] != 0:
            for i, buffer in zip(index, buffers, strict=True):
                self.buffers[i] = buffer

    def state_dict(self) -> dict[str, Any]:
        """``torch.optim.SGD.state_dict()``'s layout: parameters by index."""
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        group["params"] = list(range(len(self.param_groups[0]["params"])))
        state = {i: {"momentum_buffer": b} for i, b in enumerate(self.buffers) if b is not None}
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict of this class or of ``torch.optim.SGD`` (one group)."""
        groups = state_dict.get("param_groups", [])
        params = self.param_groups[0]["params"]
        if len(groups) != 1 or len(groups[0].get("params", [])) != len(params):
            sizes = [len(g.get("params", [])) for g in groups]
            raise ConfigError(
                f"the optimizer state has parameter groups of sizes {sizes}; this model "
                f"needs one group of {len(params)} parameters"
            )
        for key in ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"):
            if key in groups[0]:
                self.param_groups[0][key] = groups[0][key]
        buffers: list[Tensor | None] = [None] * len(params)
        for k, entry in state_dict.get("state", {}).items():
            i = groups[0]["params"].index(int(k))
            buffer = entry.get("momentum_buffer")
            if buffer is not None:
                buffers[i] = buffer.to(device=params[i].device, dtype=params[i].dtype).clone()
        self.buffers = buffers

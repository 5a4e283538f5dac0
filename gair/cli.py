"""``python -m gair <command>``: one entry point, each command in its own module.

Commands are imported only when called, so ``python -m gair methods`` does not pay for
matplotlib and ``python -m gair figure`` does not pay for torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from gair.errors import ConfigError, GairError

# command -> (module:function, one-line help). Each function takes argv and returns an exit code.
COMMANDS: dict[str, tuple[str, str]] = {
    "methods": ("gair.methods:cli", "list the registered training methods"),
    "train": ("gair.train.cli:cli", "train one run; the same command again resumes it"),
    "evaluate": ("gair.evaluation.evaluate:cli", "evaluate a checkpoint under a list of attacks"),
    "geometry": (
        "gair.evaluation.geometry:cli",
        "kappa and 2-D PCA of logits for points of a dataset",
    ),
    "figure": ("gair.report.commands:figure", "a target's figure from its manifest (PDF, PNG)"),
    "table": ("gair.report.commands:table", "a target's table from its manifest (CSV, MD, TeX)"),
    "budget": ("gair.report.commands:budget", "a target's preflight budget from its manifest"),
    "protocol": ("gair.plan.protocol:cli", "every run of a target epoch by epoch (no training)"),
    "published": (
        "gair.evaluation.published:cli",
        "evaluate published checkpoints; export a run to RobustBench",
    ),
    "bench": (
        "gair.tools.bench.cli:cli",
        "measure training and attack throughput against a reference",
    ),
    "gpu": ("gair.tools.gpu:cli", "show which GPU index this process would take"),
    "gpucheck": (
        "gair.tools.gpucheck.cli:cli",
        "CUDA tests, throughput, one Table 1 epoch and its preflight on a new GPU node",
    ),
}


def usage() -> str:
    lines = ["usage: python -m gair <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def _one_line_usage_error(self: argparse.ArgumentParser, message: str) -> NoReturn:
    raise ConfigError(f"{self.prog}: {message} (see {self.prog} --help)")


def main(argv: list[str] | None = None) -> int:
    # A bad flag is bad input like any other: one line, exit status 2, no usage dump.
    argparse.ArgumentParser.error = _one_line_usage_error  # type: ignore[method-assign]
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(
            f"error: unknown command {name!r}; valid commands are: {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    target, _ = COMMANDS[name]
    module_name, func_name = target.split(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        return int(func(rest) or 0)
    except GairError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

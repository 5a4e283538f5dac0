"""``python -m gair train``: one run into its folder, from flags, ``--set key=value`` and a
spec file; the same command again resumes it. With ``--preflight N`` it times N steps
instead (:mod:`gair.train.preflight`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gair.errors import ConfigError
from gair.spec import RunSpec, parse_assignment
from gair.train.loop import EXIT_PREEMPTED, Preempted, train
from gair.train.preflight import measure


def build_spec(args: argparse.Namespace) -> RunSpec:
    values: dict[str, Any] = {}
    if args.spec:
        path = Path(args.spec)
        if not path.is_file():
            raise ConfigError(f"--spec {args.spec!r} does not exist")
        try:
            loaded = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ConfigError(f"--spec {args.spec!r} is not valid JSON ({err})") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"--spec {args.spec!r} cannot be read ({err})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"--spec {args.spec!r} holds a JSON {type(loaded).__name__}; it must hold an "
                'object of run settings, e.g. {"dataset": "digits", "lam": -1}'
            )
        values.update(loaded)
    for key in ("dataset", "model", "method", "epochs", "seed"):
        value = getattr(args, key)
        if value is not None:
            values[key] = value
    for item in args.set or []:
        key, value = parse_assignment(item)
        values[key] = value
    return RunSpec.from_dict(values)


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gair train",
        description="Train one run into --out; running the same command again resumes it.",
    )
    parser.add_argument("--dataset")
    parser.add_argument("--model")
    parser.add_argument("--method")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--out", required=True, help="the run's folder")
    parser.add_argument("--spec", help="a JSON file of run settings (--set and flags override it)")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="any run setting, e.g. --set lam=-1 --set milestones=[30,60]",
    )
    parser.add_argument("--progress", choices=("auto", "bar", "lines"), default="auto")
    parser.add_argument(
        "--preflight",
        type=int,
        default=0,
        metavar="N",
        help="time N training steps and one batch of each evaluation, write preflight.json "
        "and checkpoints, and project the full run's hours (gair/train/preflight.py)",
    )
    args = parser.parse_args(argv)
    spec = build_spec(args)
    if args.preflight:
        measure(spec, args.out, args.preflight)
        return 0
    progress = None if args.progress == "auto" else args.progress == "bar"
    try:
        train(spec, args.out, progress=progress)
    except Preempted as err:
        print(f"preempted: {err}; the same command resumes the run", file=sys.stderr)
        return EXIT_PREEMPTED
    return 0

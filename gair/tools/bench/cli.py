"""``python -m gair bench``: its flags make one BenchConfig; it prints the table or, with
``--json``, one JSON object. :func:`to_argv` writes a BenchConfig back as those flags, for a
benchmark run in a process of its own."""

from __future__ import annotations

import argparse
import dataclasses
import json

from gair.tools.bench.config import BenchConfig, parse_shape
from gair.tools.bench.measurements import run
from gair.tools.bench.summary import format_report


def parse(argv: list[str]) -> tuple[BenchConfig, bool]:
    """The BenchConfig the flags ask for, and whether ``--json`` was given."""
    parser = argparse.ArgumentParser(
        prog="python -m gair bench",
        description="Measure training-step, attack and PGD-20 throughput against a "
        "straightforward reference, on random data.",
    )
    parser.add_argument("--model", default="smallcnn")
    parser.add_argument("--depth", type=int, help="model depth (e.g. 32 for WRN-32-10)")
    parser.add_argument("--width", type=int, help="model width (e.g. 10 for WRN-32-10)")
    parser.add_argument("--method", default="gairat")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--steps", type=int, default=10, help="attack steps K")
    parser.add_argument("--dataset-shape", default="3x32x32", help="CxHxW, or D for vectors")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--iters", type=int, default=5, help="timed repeats (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed repeats first")
    parser.add_argument("--amp", default="none", choices=("none", "bf16"))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile our model")
    parser.add_argument("--cudnn-benchmark", action="store_true")
    parser.add_argument("--tau", type=int, default=0, help="tau of the early-stopped PGD")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    config = BenchConfig(
        model=args.model, method=args.method, batch_size=args.batch_size, device=args.device,
        steps=args.steps, shape=parse_shape(args.dataset_shape), classes=args.classes,
        iters=args.iters, warmup=args.warmup, amp=args.amp, channels_last=args.channels_last,
        compile=args.compile, cudnn_benchmark=args.cudnn_benchmark, tau=args.tau,
        threads=args.threads, seed=args.seed, depth=args.depth, width=args.width,
    )  # fmt: skip
    return config, args.json


def to_argv(config: BenchConfig) -> list[str]:
    """The flags that :func:`parse` reads back as ``config`` (``--json`` not included)."""
    argv: list[str] = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        flag = "--dataset-shape" if field.name == "shape" else "--" + field.name.replace("_", "-")
        if isinstance(value, bool):
            argv += [flag] if value else []
        elif field.name == "shape":
            argv += [flag, "x".join(str(d) for d in value)]
        elif value is not None:
            argv += [flag, str(value)]
    return argv


def cli(argv: list[str]) -> int:
    config, as_json = parse(argv)
    result = run(config)
    if as_json:
        print(json.dumps(result, allow_nan=False))
    else:
        print(format_report(result))
    return 0

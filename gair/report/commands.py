"""The report commands, one contract for all: ``python -m gair figure|table|budget NAME
--manifest FILE --out PREFIX``.

NAME is the target the manifest was written for (the plan writes one per report target);
the manifest names the renderer (:mod:`gair.report.catalogue`). ``figure`` writes
PREFIX.pdf, PREFIX.png and PREFIX.json; ``table`` PREFIX.csv, PREFIX.md and PREFIX.tex;
``budget`` PREFIX.csv, PREFIX.md and PREFIX.parquet. A target with a figure and a table runs
both commands with the same manifest. None of them imports torch.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from gair.errors import ConfigError
from gair.report import catalogue, write
from gair.report.manifest import Manifest

WRITES = {
    "figure": "PREFIX.pdf, .png and .json (the panels drawn and the manifest read)",
    "table": "PREFIX.csv, .md and .tex",
    "budget": "PREFIX.csv, .md and .parquet",
}


def run(kind: str, argv: list[str]) -> int:
    """Parse the contract's arguments, read the manifest and render one product."""
    parser = argparse.ArgumentParser(
        prog=f"python -m gair {kind}",
        description=f"Render a target's {kind} from its manifest: {WRITES[kind]}.",
    )
    parser.add_argument("name", help="the target, e.g. fig4, table1, audit_table1")
    parser.add_argument("--manifest", required=True, help="the target's manifest (JSON file)")
    parser.add_argument("--out", required=True, help="output prefix, e.g. figures/fig4")
    args = parser.parse_args(argv)
    manifest = Manifest.read(args.manifest)
    if manifest.name != args.name:
        raise ConfigError(
            f"--manifest {args.manifest!r} is for {manifest.name!r}, not {args.name!r}"
        )
    render = catalogue.load(kind, manifest.draws)
    if kind == "figure":
        sidecar = write.save_figure(render(manifest), args.out, args.name, manifest)
        print(f"{args.name}: {len(sidecar['panels'])} panels -> {args.out}.pdf, .png, .json")
        return 0
    frame = render(manifest, args.out)
    print(f"{args.name}: {len(frame)} rows -> {WRITES[kind].replace('PREFIX', args.out)}")
    return 0


def _command(kind: str) -> Callable[[list[str]], int]:
    def command(argv: list[str]) -> int:
        return run(kind, argv)

    command.__doc__ = f"``python -m gair {kind}``: {WRITES[kind]}."
    return command


figure = _command("figure")
table = _command("table")
budget = _command("budget")

"""Every file the workflow makes or reads, each written once: the rules, the jobs' manifests
and the plan's own output lists all take their paths from :class:`Paths`."""

from __future__ import annotations

from dataclasses import dataclass

from gair.io import points_beside

# The files each kind of report product writes, by extension.
PRODUCTS = {
    "figure": ("pdf", "png", "json"),
    "table": ("csv", "md", "tex"),
    "budget": ("csv", "md", "parquet"),
}


@dataclass(frozen=True)
class Paths:
    """The paths of one config: results under ``results``, figures under ``figdir``."""

    results: str
    figdir: str

    def run_dir(self, run: str) -> str:
        return f"{self.results}/runs/{run}"

    def done_file(self, run: str) -> str:
        """Written after ``train`` exits 0: the run is complete (metrics, best.pt, last.pt)."""
        return f"{self.run_dir(run)}/done.json"

    def run_record(self, run: str) -> str:
        """What ``train`` writes first: the run's name, digest, spec and data (run.json)."""
        return f"{self.run_dir(run)}/run.json"

    def checkpoint(self, run: str, ckpt: str) -> str:
        return f"{self.run_dir(run)}/{ckpt}.pt"

    def metrics(self, run: str) -> str:
        return f"{self.run_dir(run)}/metrics.parquet"

    def spec_file(self, run: str) -> str:
        """The run's resolved spec, what ``python -m gair train --spec`` reads."""
        return f"{self.results}/specs/{run}.json"

    def eval_file(self, run: str, ckpt: str, evaluation: str) -> str:
        return f"{self.results}/evals/{run}/{ckpt}-{evaluation}.parquet"

    def eval_points(self, run: str, ckpt: str, evaluation: str) -> str:
        """Beside an evaluation: which test points each attack left correct (the report
        pairs checkpoints and seeds point by point)."""
        return points_beside(self.eval_file(run, ckpt, evaluation))

    def run_points(self, run: str) -> str:
        """Which evaluated points each epoch's evaluation left correct (training writes it)."""
        return f"{self.run_dir(run)}/points.parquet"

    def masking_file(self, run: str, ckpt: str, evaluation: str) -> str:
        """A checkpoint's gradient-masking evaluation: the summary (a row per attack)."""
        return f"{self.results}/masking/{run}/{ckpt}-{evaluation}.parquet"

    def masking_points(self, run: str, ckpt: str, evaluation: str) -> str:
        """... and its per-point results (a bool column per attack)."""
        return points_beside(self.masking_file(run, ckpt, evaluation))

    def geometry_file(self, run: str, profile: str) -> str:
        return f"{self.results}/geometry/{run}/{profile}.parquet"

    def published_eval(self, slug: str) -> str:
        """A published model's evaluation (``slug``: its file-name-safe name)."""
        return f"{self.results}/published/{slug}.parquet"

    def manifest_file(self, name: str) -> str:
        return f"{self.results}/manifests/{name}.json"

    def log(self, kind: str, name: str) -> str:
        """A job's log: ``kind`` is its rule (train, evaluate, ...; report for every report)."""
        return f"{self.results}/logs/{kind}/{name}.log"

    def prefix(self, product: str, name: str) -> str:
        """Where a report product of a target goes, without the extension."""
        if product == "figure":
            return f"{self.figdir}/{name}"
        if product == "budget":
            return f"{self.results}/budget/{name}"
        return f"{self.results}/tables/{name}"

    def outputs(self, product: str, name: str) -> list[str]:
        """Every file a report product of a target writes."""
        return [f"{self.prefix(product, name)}.{ext}" for ext in PRODUCTS[product]]

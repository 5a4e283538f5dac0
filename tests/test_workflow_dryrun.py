"""Dry-runs of the Snakemake workflow: the DAG of every target is the plan's, shared runs,
config errors.

One `snakemake --dag` of the aggregate targets gives the whole planned DAG; the jobs a target
needs are its ancestors in that graph. Each target's training runs, evaluations and geometry
jobs there are compared with what gair.plan says the target needs (for both configs), and a
few targets with counts derived by hand below.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from gair.io import points_beside
from gair.plan import Plan
from gair.plan.config import load_config, merge
from gair.report.manifest import Manifest

pytestmark = pytest.mark.slow  # every test runs Snakemake
REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"

# Jobs of a few targets with config/paper.yaml (train / evaluate / geometry), derived by hand
# from the paper and the config, independently of the plan: fig3: 2 toy runs + the AT
# ResNet-18 of Fig. 4, one geometry each; fig4: AT + 2 GAIRAT; fig21: seed 0 of Table 1's 4
# methods, best and last evaluated; table1: 4 methods x 5 seeds, as the paper, each run's
# best, best_val (chosen on its selection split, no second run) and last evaluated: 20 runs,
# 20 x 3 evaluations; audit: Tables 1 and 2's runs (20 + 2 methods x 5 seeds), the tables' own
# evaluation files (30 x 3), and one gradient-masking evaluation of each of the runs' 30 x 2
# best and last checkpoints.
BY_HAND = {
    "fig3": {"train": 3, "geometry": 3},
    "fig4": {"train": 3},
    "fig21": {"train": 4, "evaluate": 8},
    "table1": {"train": 20, "evaluate": 60},
    "audit": {"train": 30, "evaluate": 90, "evaluate_masking": 60},
}
WORK_RULES = ("train", "evaluate", "evaluate_masking", "geometry")
EVALUATIONS = ("evaluate", "evaluate_masking")  # the plan's evaluations, either rule
AGGREGATES = ("all", "figures", "tables", "audit")


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE),
         "--directory", str(workdir), "--cores", "1", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if check and done.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def write_config(path: Path, data: dict) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty working directory with a stand-in for RST's pseudo-labelled file."""
    root = tmp_path_factory.mktemp("dryrun")
    (root / "ti_500K_pseudo_labeled.pickle").write_bytes(b"stand-in")
    write_config(
        root / "unlabeled.yaml",
        {
            "presets": {
                "table3_rst": {"unlabeled_path": str(root / "ti_500K_pseudo_labeled.pickle")}
            }
        },
    )
    return root


def parse_dag(dot: str) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Node id -> rule name, and node id -> the ids of the jobs it needs."""
    rules = {m[0]: m[1] for m in re.findall(r'^\s*(\d+)\[label = "([^"\\]+)', dot, re.M)}
    needs: dict[str, set[str]] = {n: set() for n in rules}
    for src, dst in re.findall(r"^\s*(\d+) -> (\d+)", dot, re.M):
        needs[dst].add(src)
    return rules, needs


def ancestors(node: str, needs: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [node]
    while todo:
        for parent in needs[todo.pop()]:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def job_counts(dot: str) -> dict[str, Counter]:
    """Target rule -> how many jobs of each work rule it needs."""
    rules, needs = parse_dag(dot)
    out = {}
    for node, rule in rules.items():
        counts = Counter(rules[a] for a in ancestors(node, needs))
        out[rule] = Counter({r: counts[r] for r in WORK_RULES if counts[r]})
    return out


def dag_jobs(dot: str) -> dict[str, dict[str, set]]:
    """Target rule -> the jobs it needs, as the plan names them: training runs, (run,
    checkpoint, evaluation set) and (run, geometry profile). Snakemake's labels name an
    evaluation's or geometry job's run through its one parent, the run's train job."""
    labels = dict(re.findall(r'^\s*(\d+)\[label = "([^"]+)"', dot, re.M))
    rules, needs = parse_dag(dot)

    def field(node: str, key: str) -> str:
        return re.search(rf"\\n{key}: ([^\\]+)", labels[node])[1]

    def run_of(node: str) -> str:
        (parent,) = [n for n in needs[node] if rules[n] == "train"]
        return field(parent, "run")

    out = {}
    for node, rule in rules.items():
        if rule in WORK_RULES:
            continue
        jobs: dict[str, set] = {"train": set(), "evaluate": set(), "geometry": set()}
        for a in ancestors(node, needs):
            if rules[a] == "train":
                jobs["train"].add(field(a, "run"))
            elif rules[a] in EVALUATIONS:
                jobs["evaluate"].add((run_of(a), field(a, "ckpt"), field(a, "evaluation")))
            elif rules[a] == "geometry":
                jobs["geometry"].add((run_of(a), field(a, "profile")))
        out[rule] = jobs
    return out


def planned(plan: Plan, target: str) -> dict[str, set]:
    return {
        "train": set(plan.target_runs(target)),
        "evaluate": set(plan.target_evaluations(target)),
        "geometry": set(plan.target_geometry(target)),
    }


def targets_of(plan: Plan) -> list[str]:
    return [
        *plan.config["experiments"], *(f"audit_{t}" for t in plan.audit), "claims", *AGGREGATES
    ]  # fmt: skip


@pytest.fixture(scope="module")
def paper_dag(workdir: Path) -> str:
    unlabeled = str(workdir / "unlabeled.yaml")
    return snakemake(workdir, *AGGREGATES, "--dag", "--configfile", unlabeled).stdout


@pytest.fixture(scope="module")
def smoke_dag(workdir: Path) -> str:
    smoke = str(REPO / "config" / "smoke.yaml")
    return snakemake(workdir, *AGGREGATES, "--dag", "--configfile", smoke).stdout


def test_the_dag_of_every_target_is_the_plans(
    workdir: Path, paper_dag: str, smoke_dag: str
) -> None:
    """Every target's training runs, evaluations and geometry jobs in Snakemake's DAG are
    exactly the ones the plan lists for it, with the paper's config and the smoke config."""
    overlays = {"paper": [workdir / "unlabeled.yaml"], "smoke": [REPO / "config" / "smoke.yaml"]}
    for name, dot in (("paper", paper_dag), ("smoke", smoke_dag)):
        plan = Plan(load_config(overlays[name]))
        jobs = dag_jobs(dot)
        for target in targets_of(plan):
            assert jobs[target] == planned(plan, target), (name, target)
        assert len(jobs["all"]["train"]) == len(plan.runs)  # every planned run is trained


def test_a_few_targets_have_the_job_counts_derived_by_hand(paper_dag: str) -> None:
    counts = job_counts(paper_dag)
    for target, expected in BY_HAND.items():
        assert dict(counts[target]) == expected, target


def test_figures_share_runs(paper_dag: str) -> None:
    rules, needs = parse_dag(paper_dag)
    node = {rule: n for n, rule in rules.items() if rule in ("fig3", "fig4", "fig7", "fig8")}

    def trains(fig: str) -> set[str]:
        return {a for a in ancestors(node[fig], needs) if rules[a] == "train"}

    # The epoch-30 snapshot of Fig. 4's AT run serves Figs. 3 (right), 7 and 8.
    shared = trains("fig3") & trains("fig4") & trains("fig7") & trains("fig8")
    assert len(shared) == 1
    assert trains("fig7") == shared == trains("fig8")


def test_table1_count_matches_snakemake_statistics(workdir: Path) -> None:
    out = snakemake(workdir, "table1", "-n").stdout
    stats = dict(re.findall(r"^(train|evaluate|table1)\s+(\d+)$", out.split("Job stats:")[1], re.M))
    assert stats == {"train": "20", "evaluate": "60", "table1": "1"}
    # Five seeds of each of four methods, each in its own run folder; best_val is each run's
    # own checkpoint (its selection split), not a second run's.
    names = set(re.findall(r"results/runs/(cifar10-wrn-[a-z_]+-s\d-[0-9a-f]{8})/done\.json", out))
    assert len(names) == 20
    assert {n.split("-s")[-1][0] for n in names} == {"0", "1", "2", "3", "4"}
    best_val = set(re.findall(r"--checkpoint \S+/runs/(\S+)/best_val\.pt", out))
    best = set(re.findall(r"--checkpoint \S+/runs/(\S+)/best\.pt", out))
    assert best_val == best == names


def test_trade_off_shares_the_figures_seed_0_runs(paper_dag: str) -> None:
    rules, needs = parse_dag(paper_dag)
    node = {rule: n for n, rule in rules.items()}

    def trains(target: str) -> set[str]:
        return {a for a in ancestors(node[target], needs) if rules[a] == "train"}

    shared = trains("tradeoff") & (trains("fig12") | trains("fig17") | trains("fig18"))
    assert len(shared) == 4  # AT, GAIRAT (Eq. 6, lambda -1, burn-in 30), FAT, GAIR-FAT
    # The audit reads exactly the tables' evaluation files (and its masking evaluations).
    audit_evals = {a for a in ancestors(node["audit"], needs) if rules[a] == "evaluate"}
    table_evals = {
        a for t in ("table1", "table2") for a in ancestors(node[t], needs) if rules[a] == "evaluate"
    }
    assert audit_evals == table_evals


def test_audit_and_tradeoff_commands(workdir: Path) -> None:
    unlabeled = str(workdir / "unlabeled.yaml")
    out = snakemake(workdir, "audit", "tradeoff", "-n", "-p", "--configfile", unlabeled).stdout
    evaluate = re.findall(r"gair evaluate --checkpoint (\S+) --attacks (\S+) .* --out (\S+)", out)
    # Tables 1-2's runs (WRN) are evaluated once per checkpoint with the paper's attacks and
    # the audit's (and once more for the masking checks, below).
    tables = [a for ckpt, a, o in evaluate if "cifar10-wrn-" in ckpt and "/masking/" not in o]
    assert len(tables) == 90  # 30 runs' best, best_val and last
    assert set(tables) == {"natural,pgd20,pgd_plus,cw,lsa,autoattack"}
    with_aa = [
        line for line in out.splitlines() if "gair evaluate" in line and "autoattack" in line
    ]
    assert len(with_aa) == 90 + 78 and all("--aa-version standard" in line for line in with_aa)
    # One masking evaluation per audited checkpoint, at the table's eps, with AutoAttack's
    # standard attacks one by one and per-point results.
    masking = re.findall(r"gair evaluate --checkpoint \S+/(best|last)\.pt --attacks (\S+) .*"
                         r"--samples-limit 1000 --out \S+/masking/\S+-(table[12])_masking\.parquet"
                         r" --points", out)  # fmt: skip
    assert len(masking) == 60 and {t for _, _, t in masking} == {"table1", "table2"}
    assert {a for _, a, _ in masking} == {
        "natural,pgd10,pgd20,pgd40,pgd60,pgd80,pgd100,pgd20_x0.25,pgd20_x0.5,pgd20_x2,pgd20_x4,"
        "pgd20_eps0.5,pgd100_unbounded,apgd_ce,apgd_t,fab_t,square"
    }
    audit = re.findall(r"gair table (audit_table[12]) --manifest (\S+) --out (\S+)", out)
    figures = re.findall(r"gair figure (audit_table[12]) --manifest (\S+) --out (\S+)", out)
    assert [(n, m) for n, m, _ in audit] == [(n, m) for n, m, _ in figures]
    # The manifest is written when the workflow starts (not by a dry run): its content is
    # the plan's, so read it from the same config.
    inputs = Plan(load_config([unlabeled])).job_inputs()
    manifests = []
    for name, path, _ in audit:
        assert re.fullmatch(rf"\S+/manifests/{name}\.json", path)
        manifest = Manifest.from_json(inputs[path])
        evals = [f for _, _, item in manifest.items() for f in item.evals.values()]
        # Each evaluation file the audit reads is a Table 1 or 2 evaluation the DAG makes.
        assert evals and all(f"--out {f} " in out for f in evals)
        assert {c for _, _, item in manifest.items() for c in item.evals} == {
            "best", "best_val", "last"
        }  # fmt: skip
        manifests.append(manifest)
    assert sorted(m.baseline for m in manifests) == ["AT", "TRADES"]
    # Each audit job also writes its masking table from its own manifest, which names the
    # masking jobs' summaries and per-point files.
    tables = re.findall(r"gair table (masking_table[12]) --manifest (\S+) --out (\S+)\)", out)
    assert sorted(n for n, _, _ in tables) == ["masking_table1", "masking_table2"]
    for name, path, prefix in tables:
        assert path.endswith(f"/manifests/{name}.json") and prefix.endswith(f"/tables/{name}")
        manifest = Manifest.from_json(inputs[path])
        assert manifest.renderer == "masking" and manifest.eps == 0.031
        files = [(item.evals[c], item.points[c]) for _, _, item in manifest.items()
                 for c in ("best", "last")]  # fmt: skip
        assert len(files) == (40 if name.endswith("1") else 20)
        # The per-point file lies beside the summary, where --points puts it.
        assert all(f"--out {f} --points " in out and p == points_beside(f) for f, p in files)
    labels = {label for m in manifests for _, label, _ in m.items()}
    assert labels == {"AT", "FAT", "GAIRAT", "GAIR-FAT", "TRADES", "GAIR-TRADES"}
    trade = re.findall(r"gair evaluate .*--attacks natural,pgd20,autoattack --eps 0.031 .*", out)
    assert len(trade) == 78
    assert "gair figure tradeoff" in out and "gair table tradeoff" in out


def test_audit_samples_limit_gives_the_audit_its_own_evaluations(
    workdir: Path, tmp_path: Path
) -> None:
    config = yaml.safe_load((workdir / "unlabeled.yaml").read_text())
    config["audit"] = {"samples_limit": 1000}
    extra = write_config(tmp_path / "limit.yaml", config)
    out = snakemake(workdir, "table1", "audit", "-n", "-p", "--configfile", extra).stdout
    stats = dict(re.findall(r"^(train|evaluate)\s+(\d+)$", out.split("Job stats:")[1], re.M))
    # Table 1's 60 evaluations (its columns only) and the audit's own 60 + 30.
    assert stats == {"train": "30", "evaluate": "150"}
    audit_jobs = re.findall(r"--attacks (\S+) .*--samples-limit 1000 --out \S+_audit\.parquet", out)
    assert len(audit_jobs) == 90
    assert set(audit_jobs) == {"natural,pgd20,pgd_plus,cw,lsa,autoattack"}
    table_jobs = re.findall(
        r"--attacks (\S+) .* --out \S+/(?:best|best_val|last)-table1\.parquet", out
    )
    assert len(table_jobs) == 60 and set(table_jobs) == {"natural,pgd20,pgd_plus"}


def test_smoke_config_has_the_same_dag_shape(paper_dag: str, smoke_dag: str) -> None:
    paper_rules, paper_needs = parse_dag(paper_dag)
    smoke_rules, smoke_needs = parse_dag(smoke_dag)

    def shape(rules: dict[str, str], needs: dict[str, set[str]]) -> dict[str, set[str]]:
        return {
            r: {rules[a] for a in ancestors(n, needs)}
            for n, r in rules.items()
            if r.startswith(("fig", "table", "audit", "tradeoff"))
        }

    # The same targets, each built from the same kinds of jobs.
    assert shape(smoke_rules, smoke_needs) == shape(paper_rules, paper_needs)
    assert set(smoke_rules.values()) == set(paper_rules.values())


def test_a_missing_input_file_stops_the_run_before_any_job_with_one_line(tmp_path: Path) -> None:
    """The DAG (a dry run, a report) needs no input file; running it does. Without RST's
    pickle, table3 stops before its first job, naming the file, its source and the target."""
    data = tmp_path / "data"
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        path = data / "cifar-10-batches-py" / name  # present: only the pickle is missing
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    config = write_config(tmp_path / "c.yaml", {"data_root": str(data)})
    dry = snakemake(tmp_path, "table3", "-n", "--configfile", config)
    assert "train" in dry.stdout  # the plan is shown without the file
    done = snakemake(tmp_path, "table3", "--configfile", config, check=False)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr[-2000:]
    assert "table3" in errors[0] and "ti_500K_pseudo_labeled.pickle" in errors[0]
    assert "github.com/yaircarmon/semisup-adv" in errors[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()  # no job ran, nothing was written


def test_a_config_error_is_one_line_before_any_job(tmp_path: Path) -> None:
    cases = {
        "pgd0": (
            {"evaluations": {"fig21": {"attacks": ["pgd10", "pgd0"]}}},
            "fig21",
            ["evaluations.fig21.attacks", "'pgd0'"],
        ),
        "preset": (
            {"experiments": {"fig4": {"preset": "nope"}}},
            "fig4",
            ["experiments.fig4.preset", "'nope'", "capacity_cifar10"],
        ),
        "defaults": ({"defaults": {"epochs": -4}}, "fig4", ["config defaults:", "epochs = -4"]),
        "set": (
            {"experiments": {"fig12": {"set": {"weight_fn": "tan"}}}},
            "fig12",
            ["experiments.fig12.set", "'tan'"],
        ),
        "method": (
            {"presets": {"fat_c3": {"method": "fatt"}}},
            "fig17",
            ["presets.fat_c3", "'fatt'"],
        ),
        "schema": (
            {"evaluations": {"tradeoff": {"aa_version": "fast"}}},
            "fig4",
            ["evaluations.tradeoff.aa_version", "'fast'"],
        ),
    }
    for name, (config, target, needles) in cases.items():
        path = write_config(tmp_path / f"{name}.yaml", config)
        done = snakemake(tmp_path, target, "--configfile", path, check=False)
        assert done.returncode != 0, name
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "File " not in done.stderr, (name, done.stderr[-1500:])
        for needle in needles:
            assert needle in errors[0], (name, needle, errors[0])
        assert not (tmp_path / "results").exists(), name


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"rescale_epochs_to": -1}, "rescale_epochs_to"),
        ({"figurez": "out"}, "figurez"),
        ({"evaluations": {"table1": {"attacks": ["pgd_pluss"]}}}, "pgd_pluss"),
        (
            {"experiments": {"fig4": {"groups": {"methods": {"runs": {"AT": {"lamda": 1}}}}}}},
            "lamda",
        ),
        ({"presets": {"c3_cifar10": {"burn_in": -3}}}, "burn_in"),
        ({"evaluations": {"tradeoff": {"aa_version": "fast"}}}, "fast"),
        ({"audit": {"tables": {"table1": "ATT"}}}, "baseline 'ATT'"),
        ({"evaluations": {"table2": {"attacks": ["natural", "pgd20"]}}}, "needs pgd_plus, cw, lsa"),
    ],
)
def test_bad_config_names_the_key(workdir: Path, tmp_path: Path, config: dict, key: str) -> None:
    done = snakemake(
        workdir,
        "fig4",
        "-n",
        "--configfile",
        write_config(tmp_path / "bad.yaml", config),
        check=False,
    )
    assert done.returncode != 0
    assert key in done.stdout + done.stderr


def test_preflight_makes_every_aggregate_target_a_set_of_budgets(workdir: Path) -> None:
    """With preflight on, `figures`, `tables` and `audit` plan the budgets of their targets
    (they asked for the figure and table files, which no preflight rule makes)."""
    out = snakemake(workdir, "figures", "tables", "audit", "-n", "--config", "preflight=4").stdout
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], re.M))
    plan = Plan(merge(load_config(), {"preflight": 4}))
    budgets = [*plan.of_kind("figure", "table", paper_only=True)]
    assert {name: int(stats[name]) for name in budgets} == dict.fromkeys(budgets, 1)
    assert "/preflight/budget/table1.csv" in out and "figures/fig4.pdf" not in out

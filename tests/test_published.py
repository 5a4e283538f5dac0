"""Published checkpoints: every supported format, built from the real architecture classes
(RobustBench's, which are the TRADES lineage's the authors train, and ours), loads into the
model it names with logits equal to the source's to the last bit; bad files are one line;
an exported run loads through RobustBench; the `published` target runs on stand-ins."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from realformat import write_cifar10
from torch import nn

from gair.cli import main
from gair.errors import CheckpointError, ConfigError
from gair.evaluation import published, zoo
from gair.evaluation.published import export, import_robustbench, load_entry
from gair.evaluation.zoo import robustbench_file
from gair.report.figures.published import published as published_figure
from gair.report.manifest import Manifest
from gair.report.published import write_published

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)


def rb() -> object:
    return import_robustbench()


def randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter and BatchNorm statistic random, so that a wrong mapping shows."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def images(n: int = 4) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def trades_wrn(depth: int = 10, width: int = 1, sub_block1: bool = True) -> nn.Module:
    """RobustBench's WideResNet: TRADES' (and RST's, GAIRAT's) architecture class."""
    rb()
    from robustbench.model_zoo.architectures.wide_resnet import WideResNet

    return randomised(WideResNet(depth=depth, widen_factor=width, sub_block1=sub_block1))


def save_in(fmt: str, source: nn.Module, path: Path) -> Path:
    """The file the authors' script for ``fmt`` writes."""
    state = source.state_dict()
    parallel = {f"module.{k}": v for k, v in state.items()}  # DataParallel's keys
    content = {
        "gairat": {"epoch": 100, "state_dict": parallel, "test_pgd20_acc": 0.5},
        "fat": {"epoch": 100, "state_dict": parallel, "optimizer": {}},
        "trades": state,
        "mart": state,
        "rst": {"num_classes": 10, "state_dict": parallel, "normalize_input": False},
    }[fmt]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(content, path)
    return path


@pytest.mark.parametrize("fmt", ["gairat", "fat", "trades", "mart", "rst"])
def test_the_authors_wrn_formats_load_into_our_wrn_with_identical_logits(
    tmp_path: Path, fmt: str
) -> None:
    source = trades_wrn()
    path = save_in(fmt, source, tmp_path / "ckpt.pt")
    model = load_entry({"source": "file", "format": fmt, "file": str(path), "model": "wrn",
                        "depth": 10, "width": 1})  # fmt: skip
    x = images()
    with torch.no_grad():
        assert torch.equal(model(x), source(x))


@pytest.mark.parametrize("name", ["resnet18", "preactresnet18"])
def test_the_authors_resnets_load_into_ours_with_identical_logits(
    tmp_path: Path, name: str
) -> None:
    rb()
    from robustbench.model_zoo.architectures import resnet

    if name == "resnet18":
        source = randomised(resnet.ResNet18())
    else:  # FAT's PreAct ResNet-18: the shortcut reads the pre-activated input
        source = randomised(
            resnet.PreActResNet(resnet.PreActBlock, [2, 2, 2, 2], out_shortcut=True)
        )
    path = save_in("trades", source, tmp_path / "ckpt.pt")
    model = load_entry({"source": "file", "format": "trades", "file": str(path), "model": name})
    x = images()
    with torch.no_grad():
        assert torch.equal(model(x), source(x))


def test_a_robustbench_file_loads_in_its_own_architecture_as_robustbench_loads_it(
    tmp_path: Path,
) -> None:
    rb()
    from robustbench.model_zoo.cifar10 import Ding2020MMANet
    from robustbench.utils import load_model

    source = randomised(Ding2020MMANet())
    path = robustbench_file(tmp_path, "Ding2020MMA")
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    ours = load_entry({"source": "robustbench", "name": "Ding2020MMA"}, model_dir=tmp_path)
    theirs = load_model("Ding2020MMA", model_dir=str(tmp_path), dataset="cifar10",
                        threat_model="Linf").eval()  # fmt: skip
    x = images(2)
    with torch.no_grad():
        assert torch.equal(ours(x), source(x)) and torch.equal(ours(x), theirs(x))


class RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    entry = {"source": "file", "format": "gairat", "model": "wrn", "depth": 10, "width": 1}
    corrupt = tmp_path / "corrupt.pth.tar"
    corrupt.write_bytes(os.urandom(3000))
    with pytest.raises(CheckpointError, match=r"corrupt\.pth\.tar.*truncated or corrupt") as err:
        load_entry({**entry, "file": str(corrupt)})
    assert "\n" not in str(err.value)
    # a WRN-10-2 file for a WRN-10-1 entry: the shapes differ, and the message names them
    wide = save_in("gairat", trades_wrn(width=2), tmp_path / "wide.pth.tar")
    with pytest.raises(CheckpointError, match=r"wide\.pth\.tar.*does not fit.*shape of") as err:
        load_entry({**entry, "file": str(wide)})
    assert "\n" not in str(err.value)
    # a file that would run code when unpickled is refused before it can
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pth.tar"
    torch.save({"state_dict": RunsCode(marker)}, evil)  # torch's format, a pickled os.system
    with pytest.raises(CheckpointError, match=r"evil\.pth\.tar.*refused.*system") as err:
        load_entry({**entry, "file": str(evil)})
    assert not marker.exists() and "\n" not in str(err.value)
    plain = tmp_path / "plain.pkl"  # the same payload as a plain pickle
    plain.write_bytes(pickle.dumps({"state_dict": RunsCode(marker)}))
    with pytest.raises(CheckpointError, match=r"plain\.pkl"):
        load_entry({**entry, "file": str(plain)})
    assert not marker.exists()
    # a raw state dict is not a GAIRAT checkpoint (which holds 'state_dict')
    raw = save_in("trades", trades_wrn(), tmp_path / "raw.pt")
    with pytest.raises(CheckpointError, match="no 'state_dict'"):
        load_entry({**entry, "file": str(raw)})


def test_an_exported_run_loads_through_robustbench_with_identical_logits(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_cifar10(data, per_batch=4)
    out = tmp_path / "run"
    assert main(["train", "--dataset", "cifar10", "--model", "wrn", "--method", "at", "--epochs",
                 "1", "--out", str(out), "--set", "depth=10", "--set", "width=1", "--set",
                 f"data_root={data}", "--set", "batch_size=10", "--set", "steps=1", "--set",
                 "eval_steps=1", "--set", "device=cpu"]) == 0  # fmt: skip
    exported = tmp_path / "export.pt"
    assert main(["published", "export", "--checkpoint", str(out / "last.pt"), "--out",
                 str(exported)]) == 0  # fmt: skip
    rb()
    from robustbench.model_zoo.architectures.wide_resnet import WideResNet

    theirs = WideResNet(depth=10, widen_factor=1).eval()
    theirs.load_state_dict(torch.load(exported, weights_only=True)["state_dict"])
    from gair.train.build import load_model_from_checkpoint
    from gair.train.checkpoint import load_checkpoint

    ours, _, split = load_model_from_checkpoint(
        load_checkpoint(out / "last.pt"), torch.device("cpu")
    )
    x = split.x_test.float() / 255
    with torch.no_grad():
        assert torch.equal(theirs(x), ours(x))
    info = export(out / "last.pt", tmp_path / "again.pt")
    assert (info["architecture"], info["depth"], info["widen_factor"]) == ("WideResNet", 10, 1)


# --------------------------------------------------------------------------- the target
def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", GAIR_GPU_COUNT="0")
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "published", "--snakefile",
         str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir), "--cores", "1",
         *args],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip


# --------------------------------------------------------------------------- each number's eps
EIGHT = 8 / 255


def test_every_model_is_attacked_at_the_eps_of_each_reported_number() -> None:
    attacks = ["natural", "pgd20", "pgd_plus", "autoattack"]
    at_8 = {"reported": {"clean": 1.0, "autoattack": 1.0, "eps": EIGHT, "paper_eps": EIGHT}}
    assert zoo.evaluation_plan(at_8, attacks, 0.031) == [
        (0.031, attacks),
        (EIGHT, ["pgd20", "autoattack"]),
    ]
    at_031 = {"reported": {"eps": 0.031, "paper_eps": 0.031}}  # RobustBench's footnoted entries
    assert zoo.evaluation_plan(at_031, attacks, 0.031) == [(0.031, attacks)]
    mixed = {"reported": {"eps": EIGHT, "paper_eps": 0.031}}  # FAT: paper 0.031, RobustBench 8/255
    assert [e for e, _ in zoo.evaluation_plan(mixed, attacks, 0.031)] == [0.031, EIGHT]
    assert zoo.eps_title(EIGHT) == "8/255" and zoo.eps_title(0.031) == "0.031"


def test_evaluate_entry_attacks_again_at_the_reported_eps(tmp_path: Path) -> None:
    from gair.data.tensors import load_dataset
    from gair.evaluation.kernels import evaluate_model
    from gair.evaluation.registry import EvalBudget

    write_cifar10(tmp_path / "data", per_batch=6)
    path = save_in("trades", trades_wrn(), tmp_path / "model.pt")
    entry = {"source": "file", "format": "trades", "file": str(path), "model": "wrn",
             "depth": 10, "width": 1, "reported": {"autoattack": 1.0, "eps": EIGHT}}  # fmt: skip
    budget = {"eps": 0.031, "alpha": None}
    rows = published.evaluate_entry(
        "m", entry, ["natural", "pgd20"], budget, model_dir=tmp_path, data_root=tmp_path / "data",
        device="cpu",
    )  # fmt: skip
    got = {(r["attack"], round(r["eps"], 6)): r["accuracy"] for r in rows}
    model = load_entry(entry)
    data = load_dataset("cifar10", root=tmp_path / "data", device="cpu")
    for eps in (0.031, EIGHT):
        want = evaluate_model(model, data.x_test, data.y_test, ["pgd20"], EvalBudget(eps=eps))
        assert got[("pgd20", round(eps, 6))] == want.rows[0]["accuracy"]
    assert sorted(a for a, _ in got) == ["natural", "pgd20", "pgd20", "worst_case", "worst_case"]


def test_the_paper_config_records_the_eps_of_every_reported_number() -> None:
    from gair.plan import Plan
    from gair.plan.config import load_config

    plan = Plan(load_config([]))
    footnoted = {"Zhang2020Geometry", "Zhang2019Theoretically"}  # "Uses 0.031 instead of 8/255"
    for entry in plan.published.values():
        reported = entry["reported"]
        want = 0.031 if entry["name"] in footnoted else EIGHT
        assert reported["eps"] == pytest.approx(want, abs=1e-12), entry["name"]
        assert reported["paper_eps"] in (pytest.approx(0.031), pytest.approx(EIGHT))


def test_a_reported_number_without_its_eps_is_one_line_naming_the_model(tmp_path: Path) -> None:
    from gair.plan import Plan
    from gair.plan.config import load_config

    layer = tmp_path / "layer.yaml"
    layer.write_text(
        "published:\n  models:\n    Mine:\n      source: robustbench\n      name: Mine\n"
        "      reported: {clean: 80.0, autoattack: 50.0}\n"
    )
    message = r"published.models.Mine.reported has 'clean' but no 'eps'"
    with pytest.raises(ConfigError, match=message):
        Plan(load_config([layer]))


def test_published_table_heads_name_the_eps_and_gaps_compare_at_robustbenchs(
    tmp_path: Path,
) -> None:
    def evaluation(name: str, rows: list[tuple[str, float, float]]) -> str:
        path = tmp_path / f"{name}.parquet"
        frame = pd.DataFrame(rows, columns=["attack", "eps", "accuracy"])
        frame.to_parquet(path)
        return str(path)

    manifest = {
        "name": "published",
        "eps": 0.031,
        "models": {
            "A": {"source": "robustbench", "eval": evaluation("a", [
                ("natural", 0.0, 0.90), ("pgd20", 0.031, 0.60), ("autoattack", 0.031, 0.55),
                ("pgd20", EIGHT, 0.58), ("autoattack", EIGHT, 0.52),
            ]), "reported": {"clean": 89.0, "autoattack": 53.0, "eps": EIGHT,
                             "paper_robust": 57.0, "paper_attack": "PGD", "paper_eps": EIGHT}},
            "B": {"source": "robustbench", "eval": evaluation("b", [
                ("natural", 0.0, 0.85), ("pgd20", 0.031, 0.50), ("autoattack", 0.031, 0.45),
            ]), "reported": {"clean": 84.0, "autoattack": 46.0, "eps": 0.031}},
        },
    }  # fmt: skip
    manifest = Manifest.from_json(manifest)
    frame = write_published(manifest, tmp_path / "t")
    assert len(published_figure(manifest).axes[0].patches) == 2 * 5  # two models, five columns
    rows = frame.set_index("model")
    # A: AutoAttack at RobustBench's 8/255 (52%), not at 0.031 (55%), minus RobustBench's 53.
    assert rows.loc["A", "gap_autoattack"] == pytest.approx(52.0 - 53.0)
    assert rows.loc["A", "autoattack@8/255"] == pytest.approx(52.0)
    assert rows.loc["B", "gap_autoattack"] == pytest.approx(45.0 - 46.0)
    assert rows.loc["A", "gap_natural"] == pytest.approx(90.0 - 89.0)
    head = (tmp_path / "t.md").read_text().splitlines()
    header = next(line for line in head if line.startswith("| Model"))
    titles = (
        "PGD-20 (eps 0.031)", "PGD-20 (eps 8/255)", "RobustBench AA (eps 8/255)",
        "RobustBench AA (eps 0.031)", "AA - RB (eps 8/255)", "AA - RB (eps 0.031)",
    )  # fmt: skip
    for title in titles:
        assert title in header, title
    assert "57.00 (PGD, eps 8/255)" in "\n".join(head)


@pytest.mark.slow
def test_missing_published_files_are_listed_in_one_line_before_anything_runs(
    tmp_path: Path,
) -> None:
    done = snakemake(tmp_path)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr[-2000:]
    for name in ("Zhang2020Geometry", "Carmon2019Unlabeled", "Engstrom2019Robustness"):
        assert f"cifar10/Linf/{name}.pt" in errors[0]
    assert "robustbench.utils.load_model" in errors[0] and "published_present_only" in errors[0]
    assert not (tmp_path / "results").exists()


@pytest.mark.smoke
def test_the_published_target_audits_stand_ins_in_every_format(tmp_path: Path) -> None:
    """The smoke config's published target on stand-ins: RobustBench's layout (Ding2020MMA,
    random weights in RobustBench's class) and the authors' GAIRAT, TRADES and RST formats."""
    rb()
    from robustbench.model_zoo.cifar10 import Ding2020MMANet

    standin = tmp_path / "resources" / "published-standin"
    write_cifar10(tmp_path / "resources" / "data", per_batch=4)
    path = robustbench_file(standin, "Ding2020MMA")
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": randomised(Ding2020MMANet()).state_dict()}, path)
    for fmt, name in (("gairat", "gairat/bestpoint.pth.tar"),
                      ("trades", "trades/model-wideres-epoch100.pt"),
                      ("rst", "rst/checkpoint-epoch200.pt")):  # fmt: skip
        save_in(fmt, trades_wrn(), standin / name)
    done = snakemake(tmp_path, "--configfile", str(REPO / "config" / "smoke.yaml"))
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_csv(tmp_path / "results" / "smoke" / "tables" / "published.csv")
    assert set(table["model"]) == {
        "MMA (Ding2020MMA)", "GAIRAT format (stand-in)", "TRADES format (stand-in)",
        "GAIR-RST format (stand-in)",
    }  # fmt: skip
    for attack in ("natural", "pgd20", "pgd_plus", "cw", "lsa", "autoattack_cheap"):
        assert table[attack].between(0, 100).all(), attack
    mma = table.set_index("model").loc["MMA (Ding2020MMA)"]
    assert (mma["robustbench_clean"], mma["robustbench_autoattack"]) == (84.36, 41.44)
    assert mma["gap_natural"] == pytest.approx(mma["natural"] - 84.36)
    assert pd.isna(mma["gap_autoattack"])  # the cheap AutoAttack is not RobustBench's
    markdown = (tmp_path / "results" / "smoke" / "tables" / "published.md").read_text()
    assert "Not audited (file missing)" in markdown and "Zhang2020Geometry" in markdown
    png = tmp_path / "figures" / "smoke" / "published.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same three stand-ins in the authors' formats give the same numbers
    same = table[table["model"].str.contains("format")][["natural", "pgd20"]]
    assert (same.nunique() == 1).all()
    assert yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())["published_present_only"]

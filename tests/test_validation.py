"""Held-out selection. The selection split (selection_points: seeded test points, the same
for every run of the data, recorded with the run) chooses best_val.pt inside the run the paper
trains, and every number at best_val is reported on the other test points (the report split);
the validation split (val_split: withheld training points, never trained on) is the other way
to choose it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

import gair.train.loop as loop
from gair.data import (
    SELECTION_SEED,
    VALIDATION_SEED,
    dataset_info,
    read_arrays,
    selection_split,
    take_subset,
    validation_split,
)
from gair.data.tensors import load_dataset
from gair.errors import CheckpointError, ConfigError, DataError
from gair.spec import RunSpec, batches_per_epoch
from gair.train.checkpoint import load_checkpoint
from gair.train.loop import train

torch.set_num_threads(1)


def test_the_split_is_seeded_disjoint_and_reproducible() -> None:
    kept, withheld = validation_split(1437, 100)
    # The same draw from a generator seeded here: PCG64 at the split's seed, 100 of 1437.
    generator = np.random.Generator(np.random.PCG64(VALIDATION_SEED))
    assert withheld.tolist() == sorted(generator.choice(1437, 100, replace=False).tolist())
    assert len(withheld) == 100 and len(kept) == 1337
    assert np.all(np.diff(withheld) > 0) and np.all(np.diff(kept) > 0)  # stored order
    assert set(kept).isdisjoint(withheld) and set(kept) | set(withheld) == set(range(1437))
    again_kept, again_withheld = validation_split(1437, 100)
    assert np.array_equal(again_kept, kept) and np.array_equal(again_withheld, withheld)
    assert not np.array_equal(validation_split(1437, 100)[1], np.arange(100))  # not the first
    assert validation_split(10, 0)[1].size == 0
    with pytest.raises(ConfigError, match=r"^val_split = 10 is invalid: .*\[0, 9\]"):
        validation_split(10, 10)


def test_the_spec_counts_what_is_left_and_refuses_a_split_of_everything() -> None:
    base = {"dataset": "digits", "model": "mlp", "method": "at", "epochs": 2, "batch_size": 64}
    assert batches_per_epoch(RunSpec.from_dict({**base, "train_subset": 192})) == 3
    assert batches_per_epoch(RunSpec.from_dict({**base, "train_subset": 192, "val_split": 1})) == 3
    assert batches_per_epoch(RunSpec.from_dict({**base, "train_subset": 192, "val_split": 64})) == 2
    with pytest.raises(ConfigError, match=r"^val_split = 192 is invalid: .* 192 labelled"):
        RunSpec.from_dict({**base, "train_subset": 192, "val_split": 192})
    with pytest.raises(ConfigError, match=r"^val_split = -1 is invalid"):
        RunSpec.from_dict({**base, "val_split": -1})


def raw_train(subset: int) -> tuple[np.ndarray, np.ndarray]:
    info = dataset_info("digits")
    arrays = read_arrays(info, Path("resources/data"), False)
    return take_subset("digits", "train", subset, arrays["x_train"], arrays["y_train"])


def test_the_loaded_split_holds_the_withheld_points() -> None:
    x, y = raw_train(192)
    kept, withheld = validation_split(192, 40)
    data = load_dataset("digits", train_subset=192, val_split=40)
    assert np.array_equal(data.x_val.numpy(), x[withheld])
    assert np.array_equal(data.y_val.numpy(), y[withheld])
    assert np.array_equal(data.x_train.numpy(), x[kept])
    assert np.array_equal(data.y_train.numpy(), y[kept])
    assert load_dataset("digits", train_subset=192).x_val is None


def test_no_training_batch_ever_holds_a_withheld_point(
    tmp_path: Path, tiny_run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every image each epoch's batches hold, counted: exactly the kept points, once each;
    no withheld point (the raw arrays and the seeded split written out above)."""
    seen: list[np.ndarray] = []
    step = loop.train_step

    def recording(model, optimizer, method, ctx, x, y, amp):  # type: ignore[no-untyped-def]
        seen.append(np.rint(x.detach().numpy() * 255).astype(np.uint8))
        return step(model, optimizer, method, ctx, x, y, amp)

    monkeypatch.setattr(loop, "train_step", recording)
    spec = tiny_run.spec("gairat", epochs=2, val_split=40, reweight_from=2)
    train(spec, tmp_path, progress=False)
    x, _ = raw_train(192)
    kept, withheld = validation_split(192, 40)
    key = [bytes(img) for img in x.reshape(192, -1)]
    assert len(set(key)) == 192  # every image is its own: a match identifies the point
    index = {k: i for i, k in enumerate(key)}
    per_epoch = len(seen) // 2
    for epoch in range(2):
        batches = np.concatenate(seen[epoch * per_epoch : (epoch + 1) * per_epoch])
        points = sorted(index[bytes(img)] for img in batches.reshape(len(batches), -1))
        assert points == sorted(kept.tolist()), epoch
        assert not set(points) & set(withheld.tolist())


def test_best_val_is_the_best_epoch_by_validation_pgd20_within_the_window(
    tmp_path: Path, tiny_run
) -> None:
    spec = tiny_run.spec("at", epochs=4, val_split=48, best_start=2, eval_every=1)
    rows = train(spec, tmp_path, progress=False)
    metrics = pd.read_parquet(tmp_path / "metrics.parquet")
    assert metrics["val_n"].tolist() == [48] * 4
    val_acc = 1 - metrics["val_pgd20_err"].to_numpy()
    window = metrics["epoch"].to_numpy() >= 2
    want = int(metrics["epoch"].to_numpy()[window][np.argmax(val_acc[window])])
    assert rows[-1]["best_val_epoch"] == want
    assert load_checkpoint(tmp_path / "best_val.pt")["epoch"] == want
    # Validation PGD-20 and natural errors are the per-point results' means.
    points = pd.read_parquet(tmp_path / "points.parquet")
    val = points[points["split"] == "val"]
    assert sorted(set(val["index"])) == list(range(48))
    for attack, column in (("pgd20", "val_pgd20_err"), ("nat", "val_nat_err")):
        per_epoch = 1 - val[val["attack"] == attack].groupby("epoch")["correct"].mean()
        assert np.allclose(per_epoch.to_numpy(), metrics[column].to_numpy(), atol=1e-12)
    # best.pt still selects on the test points, in the same window.
    test_acc = 1 - metrics["test_pgd20_err"].to_numpy()
    best = int(metrics["epoch"].to_numpy()[window][np.argmax(test_acc[window])])
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == best


def test_a_run_without_a_split_writes_no_validation_output(tmp_path: Path, tiny_run) -> None:
    train(tiny_run.spec("at", epochs=1), tmp_path, progress=False)
    metrics = pd.read_parquet(tmp_path / "metrics.parquet")
    assert not [c for c in metrics.columns if c.startswith(("val_", "best_val"))]
    assert not (tmp_path / "best_val.pt").exists()


# --------------------------------------------------------------------------- selection split
def test_the_selection_split_is_seeded_disjoint_and_the_same_for_every_run() -> None:
    chosen = selection_split(10000, 1000)
    # The same draw from a generator seeded here: PCG64 at the selection seed, 1000 of 10000.
    generator = np.random.Generator(np.random.PCG64(SELECTION_SEED))
    assert chosen.tolist() == sorted(generator.choice(10000, 1000, replace=False).tolist())
    assert np.all(np.diff(chosen) > 0) and chosen.min() >= 0 and chosen.max() < 10000
    report = np.setdiff1d(np.arange(10000), chosen)
    assert len(report) == 9000 and not set(report) & set(chosen)
    assert np.array_equal(selection_split(10000, 1000), chosen)  # every run draws the same
    assert not np.array_equal(chosen, np.arange(1000))  # not the first points
    assert SELECTION_SEED != VALIDATION_SEED
    for bad in (0, 10000, -1):
        with pytest.raises(ConfigError, match=rf"^selection_points = {bad} is invalid"):
            selection_split(10000, bad)


def test_the_spec_refuses_a_selection_it_cannot_hold() -> None:
    base = {"dataset": "digits", "model": "mlp", "method": "at", "epochs": 2, "eval_samples": 50}
    with pytest.raises(ConfigError, match=r"^selection_points = 50 is invalid: .* the 50 test"):
        RunSpec.from_dict({**base, "selection_points": 50})
    with pytest.raises(ConfigError, match=r"^selection_points = 5 is invalid with val_split"):
        RunSpec.from_dict({**base, "selection_points": 5, "val_split": 10})
    # Left out of the name: the run trains the same; it only keeps one checkpoint more.
    plain = RunSpec.from_dict(base)
    assert RunSpec.from_dict({**base, "selection_points": 5}).run_name() == plain.run_name()


def test_best_val_is_the_argmax_of_pgd20_on_the_selection_points_within_the_window(
    tmp_path: Path, tiny_run
) -> None:
    spec = tiny_run.spec("at", epochs=5, selection_points=16, best_start=2)
    rows = train(spec, tmp_path, progress=False)
    # Recorded with the run: seed, count, the points drawn from, the indices.
    record = json.loads((tmp_path / "run.json").read_text())["selection"]
    want = selection_split(64, 16).tolist()
    assert record == {"seed": SELECTION_SEED, "count": 16, "of": 64, "indices": want}
    meta = pq.read_schema(tmp_path / "metrics.parquet").metadata
    assert json.loads(meta[b"gair_selection"]) == record
    # By hand, from the per-epoch point files: PGD-20 accuracy on the selection points.
    points = pd.read_parquet(tmp_path / "points.parquet")
    pgd = points[(points["split"] == "test") & (points["attack"] == "pgd20")]
    chosen = pgd[pgd["index"].isin(want)]
    acc = chosen.groupby("epoch")["correct"].mean()
    assert chosen.groupby("epoch").size().tolist() == [16] * 5
    window = acc[acc.index >= 2]
    by_hand = int(window.index[np.argmax(window.to_numpy())])  # the first of equal epochs
    assert rows[-1]["best_val_epoch"] == by_hand
    assert load_checkpoint(tmp_path / "best_val.pt")["epoch"] == by_hand
    metrics = pd.read_parquet(tmp_path / "metrics.parquet")
    assert np.allclose(1 - acc.to_numpy(), metrics["sel_pgd20_err"].to_numpy(), atol=1e-12)
    assert metrics["sel_n"].tolist() == [16] * 5
    # best.pt keeps the paper's rule: every evaluated test point, the same window.
    everything = pgd.groupby("epoch")["correct"].mean()
    best = everything[everything.index >= 2]
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == int(
        best.index[np.argmax(best.to_numpy())]
    )
    # Another method and seed selects on the same points.
    other = tmp_path / "other"
    train(tiny_run.spec("gairat", epochs=1, seed=3, selection_points=16), other, progress=False)
    assert json.loads((other / "run.json").read_text())["selection"]["indices"] == want


def test_a_folder_trained_with_another_selection_refuses_to_go_on(tmp_path: Path, tiny_run) -> None:
    train(tiny_run.spec("at", epochs=1, selection_points=16), tmp_path, progress=False)
    again = tiny_run.spec("at", epochs=1, selection_points=8)
    assert again.run_name() == tiny_run.spec("at", epochs=1, selection_points=16).run_name()
    with pytest.raises(CheckpointError, match=r"selection_points: saved 16, asked 8"):
        train(again, tmp_path, progress=False)


# --------------------------------------------------------------------------- held-out rows
N_POINTS, N_SELECTED = 300, 60


def held_out_manifest(tmp_path: Path) -> tuple[dict, dict, np.ndarray]:
    """Tables 1-2's shape: three seeds of two methods with best, best_val and last, per-point
    files on 300 test points, and each run's metrics recording its selection split (60)."""
    from gair.io import write_parquet

    rng = np.random.default_rng(4)
    chosen = selection_split(N_POINTS, N_SELECTED)
    record = {"seed": SELECTION_SEED, "count": N_SELECTED, "of": N_POINTS,
              "indices": chosen.tolist()}  # fmt: skip
    correct: dict = {}
    groups: dict = {"methods": {}}
    for method in ("AT", "GAIRAT"):
        items = []
        for seed in range(3):
            metrics = tmp_path / f"{method}-{seed}-metrics.parquet"
            write_parquet(metrics, pd.DataFrame({"epoch": [1]}),
                          {"gair_selection": json.dumps(record)})  # fmt: skip
            item: dict = {"run": f"{method}-{seed}", "seed": seed, "evals": {},
                          "eval_point_files": {}, "metrics": str(metrics)}  # fmt: skip
            for ckpt in ("best", "best_val", "last"):
                pgd = rng.random(N_POINTS) < (0.45 if method == "AT" else 0.55)
                nat = rng.random(N_POINTS) < 0.8
                correct[method, seed, ckpt] = pgd
                points = tmp_path / f"{method}-{seed}-{ckpt}.points.parquet"
                pd.DataFrame({"index": range(N_POINTS), "label": 0, "natural": nat,
                              "pgd20": pgd}).to_parquet(points)  # fmt: skip
                summary = tmp_path / f"{method}-{seed}-{ckpt}.parquet"
                pd.DataFrame([{"attack": "natural", "accuracy": nat.mean(), "n": N_POINTS},
                              {"attack": "pgd20", "accuracy": pgd.mean(), "n": N_POINTS}]
                             ).to_parquet(summary)  # fmt: skip
                item["evals"][ckpt] = str(summary)
                item["eval_point_files"][ckpt] = str(points)
            items.append(item)
        groups["methods"][method] = items
    manifest = {"name": "table1", "groups": groups, "baseline": "AT",
                "checkpoints": ["best", "best_val", "last"]}  # fmt: skip
    report = np.setdiff1d(np.arange(N_POINTS), chosen)
    return manifest, correct, report


def test_best_val_rows_are_the_report_splits_means_and_best_keeps_every_point(
    tmp_path: Path,
) -> None:
    from gair.report import tables
    from gair.report.manifest import Manifest

    manifest, correct, report = held_out_manifest(tmp_path)
    summary = tables.write_table(Manifest.from_json(manifest), tmp_path / "t1")
    rows = summary.set_index(["method", "checkpoint", "attack"])
    assert list(dict.fromkeys(summary["checkpoint"])) == ["best", "best_val", "last"]
    for method in ("AT", "GAIRAT"):
        # best_val: each seed's accuracy over the 240 report points; median over seeds.
        by_seed = [100 * correct[method, s, "best_val"][report].mean() for s in range(3)]
        row = rows.loc[(method, "best_val", "pgd20")]
        assert row["median"] == pytest.approx(np.median(by_seed))
        assert row["mean"] == pytest.approx(np.mean(by_seed)) and row["n_points"] == 240
        assert row["points"].startswith("the report split: 240 of the 300")
        # best and last: every one of the 300 points, as the paper.
        full = [100 * correct[method, s, "best"].mean() for s in range(3)]
        assert rows.loc[(method, "best", "pgd20"), "median"] == pytest.approx(np.median(full))
        assert rows.loc[(method, "best", "pgd20"), "n_points"] == N_POINTS
        assert rows.loc[(method, "last", "pgd20"), "points"] == "every evaluated test point (300)"
    # The paired gain at best_val: both sides on the report split, same seeds and points.
    gain = np.mean([correct["GAIRAT", s, "best_val"][report].mean()
                    - correct["AT", s, "best_val"][report].mean() for s in range(3)])  # fmt: skip
    assert rows.loc[("GAIRAT", "best_val", "pgd20"), "gain"] == pytest.approx(100 * gain)
    md = (tmp_path / "t1.md").read_text()
    assert "## best_val checkpoint\n\nPoints: the report split: 240 of the 300" in md
    assert "## best checkpoint\n\nPoints: every evaluated test point (300), which also chose" in md


def test_the_audit_and_the_claims_judge_best_val_on_the_report_split(tmp_path: Path) -> None:
    from gair.report import audit, claims
    from gair.report.manifest import Manifest

    manifest, correct, report = held_out_manifest(tmp_path)
    frame, _, _ = audit.audit_of(Manifest.from_json(manifest))
    gairat = frame[(frame["method"] == "GAIRAT") & (frame["checkpoint"] == "best_val")].iloc[0]
    gain = np.mean([correct["GAIRAT", s, "best_val"][report].mean()
                    - correct["AT", s, "best_val"][report].mean() for s in range(3)])  # fmt: skip
    assert gairat["gain_pgd20"] == pytest.approx(100 * gain)
    assert gairat["points"].startswith("the report split")
    # A claim comparing best with best_val reads both on the report split.
    entry = {"id": "sel", "paper": "p", "quote": "q", "from": "table1", "statistic": "gap",
             "labels": ["GAIRAT"], "quantity": {"checkpoint": "best", "attack": "pgd20"},
             "versus": {"checkpoint": "best_val"}, "direction": "greater"}  # fmt: skip
    (claim,) = claims.expand([entry])
    groups = {claim.id: {"a": manifest["groups"]["methods"]["GAIRAT"]}}
    (verdict,) = claims.judge_all(
        Manifest.from_json({"name": "claims", "groups": groups, "claims": [entry]})
    )
    mine = [correct["GAIRAT", s, c][report].mean() for c in ("best", "best_val") for s in range(3)]
    gap = np.mean(mine[:3]) - np.mean(mine[3:])
    assert verdict.estimate.value == pytest.approx(100 * gap)
    assert verdict.estimate.n_points == 240


def test_a_best_val_row_without_its_per_point_file_is_an_error(tmp_path: Path) -> None:
    from gair.report import tables
    from gair.report.manifest import Manifest

    manifest, _, _ = held_out_manifest(tmp_path)
    item = manifest["groups"]["methods"]["AT"][1]
    Path(item["eval_point_files"]["best_val"]).unlink()
    with pytest.raises(DataError, match=r"best_val is reported on the report split"):
        tables.write_table(Manifest.from_json(manifest), tmp_path / "t1")

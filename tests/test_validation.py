"""The held-out validation split: which points a run withholds (seeded, reproducible), that
no training batch ever holds one, and that best_val.pt is the best epoch by their PGD-20
accuracy within the run's best window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import gair.train.loop as loop
from gair.data import VALIDATION_SEED, dataset_info, read_arrays, take_subset, validation_split
from gair.data.tensors import load_dataset
from gair.errors import ConfigError
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


# --------------------------------------------------------------------------- held-out rows
def held_out_manifest(tmp_path: Path) -> tuple[dict, dict]:
    """Tables 1-2's shape: three seeds with best and last, seed 0 alone with a validation
    companion's best_val (the smoke config's selection.seeds); per-point files, 300 points."""
    rng = np.random.default_rng(4)
    correct: dict = {}
    groups: dict = {"methods": {}}
    for method in ("AT", "GAIRAT"):
        items = []
        for seed in range(3):
            item: dict = {"run": f"{method}-{seed}", "seed": seed, "evals": {},
                          "eval_point_files": {}}  # fmt: skip
            for ckpt in ("best", "best_val", "last") if seed == 0 else ("best", "last"):
                pgd = rng.random(300) < (0.45 if method == "AT" else 0.55)
                correct[method, seed, ckpt] = pgd
                points = tmp_path / f"{method}-{seed}-{ckpt}.points.parquet"
                pd.DataFrame({"index": range(300), "label": 0, "natural": True,
                              "pgd20": pgd}).to_parquet(points)  # fmt: skip
                summary = tmp_path / f"{method}-{seed}-{ckpt}.parquet"
                pd.DataFrame([{"attack": "natural", "accuracy": 1.0, "n": 300},
                              {"attack": "pgd20", "accuracy": pgd.mean(), "n": 300}]
                             ).to_parquet(summary)  # fmt: skip
                item["evals"][ckpt] = str(summary)
                item["eval_point_files"][ckpt] = str(points)
            items.append(item)
        groups["methods"][method] = items
    manifest = {"name": "table1", "groups": groups, "baseline": "AT",
                "checkpoints": ["best", "best_val", "last"], "validation": 51}  # fmt: skip
    return manifest, correct


def test_tables_show_best_val_paired_over_the_seeds_that_have_it(tmp_path: Path) -> None:
    from scipy import stats as sps

    from gair.report import tables
    from gair.report.manifest import Manifest

    manifest, correct = held_out_manifest(tmp_path)
    summary = tables.write_table(Manifest.from_json(manifest), tmp_path / "t1")
    rows = summary.set_index(["method", "checkpoint", "attack"])
    assert list(dict.fromkeys(summary["checkpoint"])) == ["best", "best_val", "last"]
    assert rows.loc[("GAIRAT", "best_val", "pgd20"), "n_seeds"] == 1
    assert rows.loc[("GAIRAT", "best", "pgd20"), "n_seeds"] == 3
    # best_val: seed 0 only, the paired t interval over its 300 points.
    a, b = (100.0 * correct[m, 0, "best_val"] for m in ("GAIRAT", "AT"))
    ci = sps.ttest_rel(a, b).confidence_interval(0.95)
    row = rows.loc[("GAIRAT", "best_val", "pgd20")]
    assert row["gain"] == pytest.approx((a - b).mean())
    assert (row["gain_low"], row["gain_high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    # best: all three seeds paired (the mean gain over seeds and points).
    best = np.mean([correct["GAIRAT", s, "best"].mean() - correct["AT", s, "best"].mean()
                    for s in range(3)])  # fmt: skip
    assert rows.loc[("GAIRAT", "best", "pgd20"), "gain"] == pytest.approx(100 * best)
    md = (tmp_path / "t1.md").read_text()
    assert "## best_val checkpoint" in md and "withholding 51 seeded training points" in md


def test_the_audit_and_the_claims_read_best_val_from_the_seeds_that_have_it(
    tmp_path: Path,
) -> None:
    from scipy import stats as sps

    from gair.report import audit, claims
    from gair.report.manifest import Manifest

    manifest, correct = held_out_manifest(tmp_path)
    frame, _, _ = audit.audit_of(Manifest.from_json(manifest))
    assert list(zip(frame["method"], frame["checkpoint"], strict=True)) == [
        (m, c) for m in ("AT", "GAIRAT") for c in ("best", "best_val", "last")
    ]
    assert frame["n_seeds"].tolist() == [3, 1, 3, 3, 1, 3]
    a, b = (100.0 * correct[m, 0, "best_val"] for m in ("GAIRAT", "AT"))
    gairat = frame[(frame["method"] == "GAIRAT") & (frame["checkpoint"] == "best_val")].iloc[0]
    assert gairat["gain_pgd20"] == pytest.approx((a - b).mean())
    entry = {"id": "gain", "paper": "p", "quote": "q", "from": "table1", "statistic": "gain",
             "pairs": [["GAIRAT", "AT"]],
             "quantity": {"checkpoint": ["best_val", "last"], "attack": "pgd20"}}  # fmt: skip
    expanded = claims.expand([entry])
    groups = {c.id: {"a": manifest["groups"]["methods"]["GAIRAT"],
                     "b": manifest["groups"]["methods"]["AT"]} for c in expanded}  # fmt: skip
    judged = {v.claim.quantity.checkpoint: v for v in claims.judge_all(
        Manifest.from_json({"name": "claims", "groups": groups, "claims": [entry]}))}  # fmt: skip
    ci = sps.ttest_rel(a, b).confidence_interval(0.95)
    best_val = judged["best_val"].estimate
    assert best_val.n_seeds == 1 and best_val.value == pytest.approx((a - b).mean())
    assert (best_val.low, best_val.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert judged["last"].estimate.n_seeds == 3

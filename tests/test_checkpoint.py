"""Checkpoints: damaged or unsafe files are refused with one line; writes are atomic."""

from __future__ import annotations

import builtins
import json
import os
import pickle
from pathlib import Path

import pandas as pd
import pytest
import torch

from gair import io as atomic
from gair.cli import main
from gair.errors import CheckpointError
from gair.train.checkpoint import FORMAT, load_checkpoint, save_checkpoint


def payload(epoch: int = 3) -> dict:
    torch.manual_seed(epoch)
    return {"epoch": epoch, "model": {"w": torch.randn(64, 64), "b": torch.zeros(64)},
            "history": [{"epoch": e, "loss": 1.0 / e} for e in range(1, epoch + 1)]}  # fmt: skip


def refuse(path: Path, *needles: str) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message, message
    # torch's own text carries terminal escapes and advises an unsafe load: neither belongs here.
    assert "\x1b" not in message and "weights_only" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def test_round_trip_keeps_tensors_and_adds_the_tag(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    original = payload()
    save_checkpoint(path, original)
    loaded = load_checkpoint(path)
    assert loaded["format"] == FORMAT and loaded["epoch"] == 3
    assert torch.equal(loaded["model"]["w"], original["model"]["w"])
    assert loaded["history"] == original["history"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_missing_checkpoint(tmp_path: Path) -> None:
    refuse(tmp_path / "last.pt", "does not exist")


@pytest.mark.parametrize("keep", [0, 10, 0.5, -1])
def test_truncated_checkpoint_is_refused(tmp_path: Path, keep: float) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, payload())
    data = path.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    assert cut < len(data)
    path.write_bytes(data[:cut])
    refuse(path, "truncated or corrupt")


def test_random_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    path.write_bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(1),
                                   dtype=torch.uint8).numpy().tobytes())  # fmt: skip
    refuse(path, "corrupt")


def test_every_damaged_stream_is_one_line(tmp_path: Path) -> None:
    """torch's weights-only unpickler raises IndexError or KeyError on some streams of
    random bytes (about one in twelve of 3000-byte files), not only UnpicklingError: every
    one of these seeds gives such a stream, and each must be the one-line refusal."""
    path = tmp_path / "last.pt"
    for seed in (3, 12, 85):  # KeyError, IndexError, KeyError
        gen = torch.Generator().manual_seed(seed)
        noise = torch.randint(0, 256, (3000,), generator=gen, dtype=torch.uint8)
        path.write_bytes(noise.numpy().tobytes())
        refuse(path, "corrupt")


def test_a_zip_with_a_corrupt_member_is_refused(tmp_path: Path) -> None:
    """Flip bytes inside the stored tensors' region: still one clean line (or a clean load of
    changed numbers, which the format cannot detect, never a crash)."""
    path = tmp_path / "last.pt"
    save_checkpoint(path, payload())
    data = bytearray(path.read_bytes())
    pickle_at = data.find(b"data.pkl")
    assert pickle_at > 0
    # Overwrite the pickle stream (just after the member's local header) with junk.
    start = pickle_at + len(b"data.pkl") + 64
    data[start : start + 32] = b"\xff" * 32
    path.write_bytes(bytes(data))
    refuse(path)


class Payload:
    """Unpickling this runs ``open(marker, 'w')``: a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


class Plain:
    """A custom class with only data in it: still not allowed in a checkpoint."""

    def __init__(self) -> None:
        self.value = 1


def test_checkpoint_that_runs_code_is_refused_without_running_it(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    marker = tmp_path / "pwned"
    torch.save({"format": FORMAT, "epoch": 1, "x": Payload(marker)}, path)
    refuse(path, "refused", "run code", "open")
    assert not marker.exists()
    # The payload is real: an unsafe load of the same file does run it.
    unsafe_marker = tmp_path / "pwned-unsafe"
    torch.save({"format": FORMAT, "x": Payload(unsafe_marker)}, tmp_path / "evil2.pt")
    torch.load(tmp_path / "evil2.pt", weights_only=False)
    assert unsafe_marker.exists()


def test_raw_pickle_reduce_payload_is_refused(tmp_path: Path) -> None:
    """A plain pickle file (not torch's zip format) carrying a __reduce__ payload."""
    path = tmp_path / "evil.pt"
    marker = tmp_path / "pwned"
    path.write_bytes(pickle.dumps({"format": FORMAT, "x": Payload(marker)}, protocol=2))
    refuse(path, "refused", "open")
    assert not marker.exists()


def test_custom_class_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "custom.pt"
    torch.save({"format": FORMAT, "epoch": 1, "obj": Plain()}, path)
    refuse(path, "refused", "Plain")


@pytest.mark.parametrize(
    "content",
    [{"epoch": 1, "model": {"w": torch.ones(2)}}, {"format": "other-1"}, [1, 2, 3], torch.ones(3)],
    ids=["untagged dict", "other tag", "list", "tensor"],
)
def test_valid_torch_file_without_the_format_tag_is_refused(tmp_path: Path, content) -> None:
    path = tmp_path / "plain.pt"
    torch.save(content, path)
    refuse(path, "not a gair checkpoint", FORMAT)


# --------------------------------------------------------------------------- train refuses
@pytest.mark.parametrize("damage", ["truncated", "random", "untagged"])
def test_train_refuses_a_corrupt_last_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str, tiny_run
) -> None:
    """The run is not silently restarted from scratch and the damaged file stays as it is."""
    out = tmp_path / "run"
    out.mkdir()
    last = out / "last.pt"
    if damage == "truncated":
        save_checkpoint(last, payload())
        last.write_bytes(last.read_bytes()[:1000])
    elif damage == "random":
        last.write_bytes(os.urandom(2048))
    else:
        torch.save({"epoch": 1}, last)

    # The folder's files, but the lock a training process holds while it runs (its text
    # names the last holder): nothing is lost, changed or half-written.
    def files() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in out.iterdir() if p.name != "train.lock"}

    before = files()
    code = main(["train", *tiny_run.args(), "--out", str(out), "--progress", "lines"])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: checkpoint"), captured.err
    assert str(last) in lines[0]
    assert "epoch" not in captured.out  # no training step was logged
    assert files() == before
    assert "train the run again" in lines[0]  # what to do, when training meets it


# --------------------------------------------------------------------------- atomic writes
def test_atomic_write_leaves_only_the_target(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "table.json"
    atomic.write_json(target, {"b": 2, "a": [1, 2]})
    atomic.write_text(tmp_path / "sub" / "note.md", "x\n")
    assert json.loads(target.read_text()) == {"a": [1, 2], "b": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == ["note.md", "table.json"]


def test_atomic_write_failing_midway_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "result.txt"
    atomic.write_text(target, "old result\n")
    with pytest.raises(RuntimeError, match="disk full"), atomic.atomic_path(target) as tmp:
        tmp.write_text("half a new res")
        raise RuntimeError("disk full")
    assert target.read_text() == "old result\n"
    assert [p.name for p in tmp_path.iterdir()] == ["result.txt"]


def test_checkpoint_write_failing_midway_keeps_the_old_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, payload(epoch=1))
    good = path.read_bytes()

    def half_save(obj, f, *args, **kwargs) -> None:
        Path(f).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_save)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(path, payload(epoch=2))
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_parquet_write_failing_midway_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "metrics.parquet"
    old = pd.DataFrame({"epoch": [1], "loss": [0.5]})
    atomic.write_parquet(path, old, {"gair.spec": "{}"})
    assert pq.read_schema(path).metadata[b"gair.spec"] == b"{}"

    def half_write(table, where, *args, **kwargs) -> None:
        Path(where).write_bytes(b"PAR1 half")
        raise KeyboardInterrupt  # a kill between two writes of the same file

    monkeypatch.setattr(pq, "write_table", half_write)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_parquet(path, pd.DataFrame({"epoch": [1, 2], "loss": [0.5, 0.4]}))
    monkeypatch.undo()
    pd.testing.assert_frame_equal(pd.read_parquet(path), old)
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.parquet"]

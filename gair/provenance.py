"""Where a number was computed: the code's commit, the library versions, the device and the
host. Every run and every evaluation records :func:`collect`; a run resumed elsewhere keeps
one record per stretch of epochs (:func:`extend`), so its outputs can say that it moved.

Files carry it as JSON: a run's ``run.json`` and checkpoints hold the list of stretches, and
every Parquet file a run or an evaluation writes holds it in its schema metadata under
:data:`KEY` (:func:`metadata`; read back by :func:`from_metadata`).

``GAIR_COMMIT`` names the commit where the package is not a git checkout (an installed wheel,
a copy on a cluster node); otherwise ``git rev-parse HEAD`` of the package's tree is read, with
``+dirty`` where tracked files differ from it.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
# What makes two stretches of a run "the same hardware and software": a change in any of
# these between epochs is reported.
HARDWARE_KEYS = ("device", "torch", "cuda", "cudnn", "host")
KEY = "gair.provenance"  # the Parquet schema metadata key
LISTED = 3  # a footer lists up to this many distinct values of one key


def commit(root: str | Path = PACKAGE_ROOT) -> str:
    """The code's git commit (``+dirty`` with uncommitted changes), ``GAIR_COMMIT`` where set,
    or ``unknown``."""
    env = os.environ.get("GAIR_COMMIT")
    if env:
        return env
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


def device_name(device: Any) -> str:
    """A device's marketing name (``NVIDIA H100 80GB HBM3``), or the CPU's."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"cpu ({platform.processor() or platform.machine()})"


def collect(device: Any = "cpu") -> dict[str, str]:
    """This process's provenance: commit, torch, CUDA and cuDNN versions, device, host,
    Python."""
    import torch

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "commit": commit(),
        "torch": str(torch.__version__),  # a str subclass a safe checkpoint load refuses
        "cuda": str(torch.version.cuda or "none"),
        "cudnn": str(cudnn) if cudnn else "none",
        "device": device_name(device),
        "host": socket.gethostname(),
        "python": platform.python_version(),
    }


def extend(
    history: Sequence[Mapping[str, Any]], now: Mapping[str, str], epoch: int
) -> tuple[list[dict[str, Any]], str | None]:
    """A run's provenance stretches with ``now`` appended from ``epoch`` on where it differs
    from the last stretch in :data:`HARDWARE_KEYS` (or the commit), and a one-line note saying
    what changed (None when nothing did)."""
    out = [dict(h) for h in history]
    if not out:
        return [{"from_epoch": epoch, **now}], None
    last = out[-1]
    changed = [k for k in (*HARDWARE_KEYS, "commit") if last.get(k) != now.get(k)]
    if not changed:
        return out, None
    out.append({"from_epoch": epoch, **now})
    what = ", ".join(f"{k} {last.get(k)!r} -> {now.get(k)!r}" for k in changed)
    return out, f"resumed at epoch {epoch} on other hardware or software: {what}"


def summary(stretches: Sequence[Mapping[str, Any]]) -> str:
    """One line for a table's or figure's footer: the distinct devices, hosts, versions and
    commits (more than :data:`LISTED` distinct values of one are counted, not listed)."""
    if not stretches:
        return ""
    parts = []
    for key, label in (("device", "device"), ("host", "host"), ("torch", "torch"),
                       ("cuda", "CUDA"), ("cudnn", "cuDNN"), ("commit", "commit")):  # fmt: skip
        values = list(dict.fromkeys(str(s.get(key, "?")) for s in stretches))
        if key == "commit":
            values = [v[:12] + ("+dirty" if v.endswith("+dirty") else "") for v in values]
            values = list(dict.fromkeys(values))
        shown = " / ".join(values) if len(values) <= LISTED else f"{len(values)} different"
        parts.append(f"{label} {shown}")
    return "; ".join(parts)


def metadata(stretches: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Parquet schema metadata recording ``stretches`` (one record for an evaluation)."""
    return {KEY: json.dumps([dict(s) for s in stretches], sort_keys=True)}


def from_metadata(meta: Mapping[Any, Any] | None) -> list[dict[str, Any]]:
    """The stretches a Parquet file's schema metadata records (keys and values as bytes or
    str); an empty list for files written before provenance was recorded."""
    for key, value in (meta or {}).items():
        if (key.decode() if isinstance(key, bytes) else key) == KEY:
            data = json.loads(value.decode() if isinstance(value, bytes) else value)
            return [dict(s) for s in data] if isinstance(data, list) else [dict(data)]
    return []

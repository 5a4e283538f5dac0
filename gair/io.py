"""Files in and out, safely: atomic writes, pickles that cannot run code, process locks.

- Writers put their bytes in a temporary file in the destination folder, flush them to disk
  and rename the file into place. A rename inside one folder is atomic on POSIX file
  systems: the old file (if any) stays readable until the new one is complete.
- A pickle may name any importable callable and have it called while loading; the data files
  users supply (CIFAR batches, RST's pseudo-labelled images) only ever name the few numpy
  functions that rebuild an array. :func:`load_pickle` admits exactly those (and the codec
  Python 2 pickles use for byte strings) and refuses any other name with
  :class:`UnsafePickle`, before it is called. Checkpoints are read with torch's own
  ``weights_only`` loader (:mod:`gair.train.checkpoint`).
- Exclusive locks held for as long as a process lives: ``fcntl.flock`` on a lock file. The
  kernel drops such a lock when the last descriptor of the file closes, i.e. when the holding
  process exits, however it exits (SIGKILL, the out-of-memory killer), so a crashed holder
  never leaves a stale lock behind and the next process simply takes it. The file's text
  names the holder (pid, host, start time) for whoever finds the lock taken; it is only
  informative. GPU leases (:mod:`gair.tools.gpu`) and run folders (:mod:`gair.train.loop`)
  use it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pickle
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gair.errors import ConfigError, DataError


# ---------------------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.",
        suffix=suffix if suffix is not None else target.suffix + ".tmp",
        dir=target.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, text.encode())


def read_json_argument(text: str, flag: str) -> Any:
    """A command-line argument holding JSON inline or naming a JSON file (what the workflow
    passes); a missing file or bad JSON is a one-line error naming ``flag``."""
    if text.lstrip().startswith(("{", "[")):
        raw = text
    elif Path(text).is_file():
        raw = Path(text).read_text()
    else:
        raise DataError(f"{flag} {text!r} is neither JSON nor an existing file")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{flag} {text[:60]!r} is not valid JSON ({err})") from None


def write_json(path: str | os.PathLike[str], obj: Any, *, sort_keys: bool = True) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=sort_keys, default=str) + "\n")


def points_beside(summary: str | os.PathLike[str]) -> str:
    """Where an evaluation's per-point file lies: beside its summary ``X.parquet``, as
    ``X.points.parquet`` (the evaluate command's ``--points``; the plan's paths)."""
    return str(summary).removesuffix(".parquet") + ".points.parquet"


def write_parquet(
    path: str | os.PathLike[str], frame: Any, metadata: dict[str, str] | None = None
) -> None:
    """Write a pandas DataFrame as Parquet, with optional schema metadata, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata:
        merged = dict(table.schema.metadata or {})
        merged.update({k.encode(): v.encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(merged)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


# ---------------------------------------------------------------------------- safe unpickling
# (module, name) pairs that real CIFAR-10/100 batches and RST's pickle contain, in the module
# paths of numpy 1 (numpy.core) and numpy 2 (numpy._core). Each only builds an array, a dtype
# or a numpy scalar from plain values.
ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }
)


class UnsafePickle(pickle.UnpicklingError):
    """The file asks to load a name outside :data:`ALLOWED`."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualname = f"{module}.{name}"


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise UnsafePickle(module, name)
        return super().find_class(module, name)


def load_pickle(path: str | Path, *, encoding: str = "ASCII") -> Any:
    """Unpickle a file, admitting only :data:`ALLOWED` globals (raises UnsafePickle)."""
    with Path(path).open("rb") as fh:
        return _Restricted(fh, encoding=encoding).load()


# ---------------------------------------------------------------------------- process locks
def try_lock(path: str | os.PathLike[str]) -> int | None:
    """The locked descriptor of ``path`` (created if need be), or None if another process
    holds it. The holder's description is written into the file."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:
        os.close(fd)
        raise
    since = time.strftime("%Y-%m-%d %H:%M:%S")
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {since}\n".encode())
    return fd


def holder(path: str | os.PathLike[str]) -> str:
    """Who holds the lock, as its file says ("pid 123 on host since ..."), or "unknown"."""
    with contextlib.suppress(OSError):
        text = Path(path).read_text().strip()
        if text:
            return text.splitlines()[0]
    return "unknown"


def release(fd: int | None) -> None:
    """Give a lock taken by :func:`try_lock` back (closing its descriptor)."""
    if fd is None:
        return
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    with contextlib.suppress(OSError):
        os.close(fd)

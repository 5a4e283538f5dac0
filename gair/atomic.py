"""Write files so that a reader never sees a half-written one.

Each writer puts its bytes in a temporary file in the destination folder, flushes them to
disk and renames the file into place. A rename inside one folder is atomic on POSIX file
systems: the old file (if any) stays readable until the new one is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


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
    from gair.errors import ConfigError, DataError

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

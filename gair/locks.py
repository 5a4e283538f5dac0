"""Exclusive locks held for as long as a process lives: ``fcntl.flock`` on a lock file.

The kernel drops such a lock when the last descriptor of the file closes, i.e. when the
holding process exits, however it exits (SIGKILL, the out-of-memory killer), so a crashed
holder never leaves a stale lock behind and the next process simply takes it. The file's
text names the holder (pid, host, start time) for whoever finds the lock taken; it is only
informative. GPU leases (:mod:`gair.gpu`) and run folders (:mod:`gair.train`) use it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path


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

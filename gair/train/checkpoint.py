"""Checkpoints: written atomically, read back with ``torch.load(weights_only=True)``.

A checkpoint is a plain dictionary of tensors, numbers, strings, lists and dicts: nothing in
it can run code when loaded. A file that is truncated, corrupt, not a gair checkpoint, or
that asks to unpickle arbitrary objects is refused with a one-line ``CheckpointError``.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from gair.errors import CheckpointError
from gair.io import atomic_path

FORMAT = "gair-checkpoint-1"


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus the format tag) to ``path`` via a temporary file and a rename."""
    data = dict(payload, format=FORMAT)
    with atomic_path(path) as tmp:
        torch.save(data, tmp)


def _short(text: str, limit: int = 90) -> str:
    """A library's cause, cut to the part a person needs."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a gair checkpoint safely; raise CheckpointError with the reason on any problem."""
    data = load_tensors(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is not a gair checkpoint (expected format {FORMAT!r})"
        )
    return data


def load_tensors(path: str | os.PathLike[str]) -> Any:
    """Any torch file (ours, the authors', RobustBench's), read with ``weights_only=True``:
    tensors and plain values only; CheckpointError naming the file otherwise."""
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"checkpoint {str(file)!r} does not exist")
    try:
        data = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's message is several lines of advice (including "load it with
        # weights_only=False", which is what must not be done); keep only the cause.
        text = str(err)
        culprit = re.search(r"[Uu]nsupported (?:global: )?GLOBAL (\S+)", text)
        if culprit:
            raise CheckpointError(
                f"checkpoint {str(file)!r} was refused: it asks to load "
                f"{culprit.group(1).rstrip('.')}, which could run code when loaded; a gair "
                "checkpoint holds only tensors and plain values"
            ) from None
        cause = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        detail = cause.group(1).strip() if cause else "unreadable pickle stream"
        raise CheckpointError(
            f"checkpoint {str(file)!r} is truncated or corrupt ({_short(detail)})"
        ) from None
    # IndexError and KeyError: the weights-only unpickler's own stack and memo lookups fail
    # that way on some damaged streams.
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        ValueError,
        OSError,
        IndexError,
        KeyError,
    ) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"checkpoint {str(file)!r} is truncated or corrupt ({_short(first)})"
        ) from None
    return data

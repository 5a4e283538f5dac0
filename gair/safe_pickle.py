"""Reading the pickled data files users supply (CIFAR batches, RST's pseudo-labelled images)
without letting them run code.

A pickle may name any importable callable and have it called while loading; the real files
only ever name the few numpy functions that rebuild an array. :func:`load` admits exactly
those (and the codec Python 2 pickles use for byte strings) and refuses any other name with
:class:`UnsafePickle`, before it is called.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

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


def load(path: str | Path, *, encoding: str = "ASCII") -> Any:
    """Unpickle a file, admitting only :data:`ALLOWED` globals (raises UnsafePickle)."""
    with Path(path).open("rb") as fh:
        return _Restricted(fh, encoding=encoding).load()

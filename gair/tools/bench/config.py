"""What one benchmark measures: a model, a method and their settings, in one object."""

from __future__ import annotations

from dataclasses import dataclass

from gair.errors import ConfigError


@dataclass(frozen=True)
class BenchConfig:
    """The benchmark's settings (``python -m gair bench``'s flags). ``depth`` and ``width``
    are the model's shape settings as in the run spec (e.g. 32 and 10 for WRN-32-10); None
    keeps the model's default. ``shape`` is CxHxW for images or (D,) for feature vectors."""

    model: str = "smallcnn"
    method: str = "gairat"
    batch_size: int = 128
    device: str = "cpu"
    steps: int = 10  # attack steps K
    shape: tuple[int, ...] = (3, 32, 32)
    classes: int = 10
    iters: int = 5  # timed repeats (median reported)
    warmup: int = 1  # untimed repeats first
    amp: str = "none"
    channels_last: bool = False
    compile: bool = False
    cudnn_benchmark: bool = False
    tau: int = 0  # tau of the early-stopped PGD
    threads: int = 0  # CPU threads (0: torch's default)
    seed: int = 0
    depth: int | None = None
    width: int | None = None

    def __post_init__(self) -> None:
        for name, least in (("batch_size", 1), ("steps", 1), ("classes", 2), ("iters", 1),
                            ("warmup", 0), ("tau", 0), ("threads", 0)):  # fmt: skip
            value = getattr(self, name)
            if value < least:
                raise ConfigError(
                    f"{name} = {value!r} is invalid: it must be an integer >= {least}"
                )
        if self.amp not in ("none", "bf16"):
            raise ConfigError(f"amp {self.amp!r} is invalid; valid values are: none, bf16")

    @property
    def image(self) -> bool:
        return len(self.shape) == 3


def parse_shape(text: str) -> tuple[int, ...]:
    """``3x32x32`` -> (3, 32, 32) for images, ``2`` -> (2,) for feature vectors."""
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) not in (1, 3) or any(d < 1 for d in shape):
        raise ConfigError(
            f"dataset shape {text!r} is invalid; valid forms are CxHxW (e.g. 3x32x32) or D"
        )
    if len(shape) == 3 and shape[1] != shape[2]:
        raise ConfigError(f"dataset shape {text!r} is invalid: images must be square (H == W)")
    return shape

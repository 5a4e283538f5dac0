"""The workflow's config: config/paper.yaml with overlays merged on top, as ``snakemake
--configfile`` merges them, and checked against the workflow's JSON schema (every key a config
may have: workflow/schemas/config.schema.yaml)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gair.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "config" / "paper.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


class PlanError(ConfigError):
    """A config value that cannot be planned; the message names its key."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"config {where}: {message}")


def merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` merged into ``base`` key by key, mappings recursively (Snakemake's rule
    for --configfile); returns ``base``."""
    for key, value in overlay.items():
        if isinstance(value, Mapping):
            inner = base.get(key)
            base[key] = merge(inner if isinstance(inner, dict) else {}, value)
        else:
            base[key] = value
    return base


def load_config(overlays: list[str | Path] = (), base: str | Path = DEFAULT_CONFIG) -> dict:
    """config/paper.yaml with each overlay merged on top, as ``snakemake --configfile`` does."""
    import yaml

    config: dict[str, Any] = {}
    for path in [base, *overlays]:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"config file {str(file)!r} does not exist")
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as err:
            first = " ".join(str(err).split())
            raise ConfigError(f"config file {str(file)!r} is not valid YAML ({first})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {str(file)!r} must hold a mapping of keys")
        merge(config, data)
    return config


def validate(config: dict[str, Any]) -> None:
    """Check ``config`` against the workflow's JSON schema; ConfigError naming the key of
    the first violation (the deepest, most specific one), in one line."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (-len(e.absolute_path), e.path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ConfigError(f"config {where}: {' '.join(err.message.split())}")

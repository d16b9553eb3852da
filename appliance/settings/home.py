"""Where the appliance keeps its state: APPLIANCE_HOME and the optional TOML file in it."""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_FILE_NAME = "appliance.toml"


def default_home() -> Path:
    """The per-user data directory, used when APPLIANCE_HOME is not set."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "appliance"


def resolve_home() -> Path:
    """APPLIANCE_HOME from the environment, else the default; read before anything else."""
    raw = os.environ.get("APPLIANCE_HOME")
    return Path(raw).expanduser().absolute() if raw else default_home()

"""Where the project keeps its conf, jars and default warehouse."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The folder holding conf/ (RESTOCK_HOME, else the source checkout, else the cwd)."""
    env = os.environ.get("RESTOCK_HOME")
    if env:
        return Path(env).resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "conf" / "base.yaml").is_file():
        return checkout
    return Path.cwd()


def resolve(path: str, root: Path | None = None) -> str:
    """Make a relative local path absolute against the project root; leave URIs alone."""
    if "://" in path or path.startswith(("dbfs:", "/")):
        return path
    return str((root or project_root()) / path)

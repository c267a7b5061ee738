"""Locate the bundled example task folders."""

from __future__ import annotations

import os
from pathlib import Path

from autods.errors import UserInputError


def examples_root() -> Path:
    """``$AUTODS_EXAMPLES`` if set, else the repository's ``examples/`` next to ``src/``."""
    env = os.environ.get("AUTODS_EXAMPLES")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "examples"


def list_examples() -> list[str]:
    root = examples_root()
    return sorted(p.name for p in root.iterdir() if (p / "TASK.md").is_file()) if root.is_dir() else []


def example_path(name: str) -> Path:
    path = examples_root() / name
    if not (path / "TASK.md").is_file():
        available = ", ".join(list_examples()) or "none found"
        raise UserInputError(f"no bundled example named '{name}'", f"choose one of: {available}")
    return path

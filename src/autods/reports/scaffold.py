"""``autods init NAME --from EXAMPLE``: start a task folder from a bundled example.

Copies ``TASK.md``, ``LAUNCH.md``, ``README.md`` and ``data/`` (not the generator script),
renames the task in ``TASK.md`` to the folder's name, and checks the copy parses. An
existing, non-empty destination is refused: nothing of the user's is ever overwritten.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from autods.errors import UserInputError

__all__ = ["scaffold_task"]

COPIED = ("TASK.md", "LAUNCH.md", "README.md")


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    return slug or "my-task"


def scaffold_task(dest: str | Path, example: str) -> Path:
    """Create ``dest`` from bundled ``example``; returns the new task folder."""
    from autods.examples import example_path
    from autods.tasks.spec import read_specs

    dest = Path(dest)
    src = example_path(example)
    if dest.exists() and (dest.is_file() or any(dest.iterdir())):
        raise UserInputError(f"'{dest}' already exists", "choose a new folder name, or remove it first")
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (src / name).is_file():
            shutil.copy2(src / name, dest / name)
    if (src / "data").is_dir():
        shutil.copytree(src / "data", dest / "data")
    task_md = dest / "TASK.md"
    text = task_md.read_text(encoding="utf-8")
    # Only the first 'name:' line, which is in the front matter (TASK.md starts with it).
    task_md.write_text(re.sub(r"(?m)^name:.*$", f"name: {_slug(dest.resolve().name)}", text, count=1), encoding="utf-8")
    read_specs(dest)  # the copy must parse; a broken example is our bug, reported loudly
    return dest

"""The run folder contract (``runs/NAME/``), shared by the orchestrator, executors and reports.

::

    runs/NAME/
      run.json            RunConfig: task folder, seed, budget, brain, executor, state URL, status
      task/TASK.md        copy of the task spec (and LAUNCH.md when present)
      analytic/           the governed, de-identified dataset every experiment uses
        frame.parquet     rows aligned with the task; PHI columns dropped or transformed
        governance.json   findings, PHI columns, exclusions with reasons (never values)
        design.json       the locked design (metric, CV, held-out fraction, EPV)
      holdout.json        the locked held-out split; holdout_ledger.json once it is scored
      state.db            SQLite shared state (absent when --state points elsewhere)
      audit.jsonl         every outgoing prompt and every harness decision
      artifacts/EXP_ID/   record.json (EvaluationRecord) and oof.parquet per experiment
      champion/           model.joblib + recipe.json of the final champion
      fact_sheet.json, report.html, model_card.md, manifest.json

Writes go through :func:`atomic_write_text` so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict

from autods.errors import UserInputError

RUN_JSON = "run.json"


class RunConfig(BaseModel):
    """What ``autods run`` was asked to do; enough for ``autods resume`` to continue."""

    model_config = ConfigDict(extra="forbid")

    name: str
    task_dir: str
    seed: int = 0
    budget: int = 24
    minutes: float | None = None
    target: float | None = None
    workers: int = 2
    brain: str = "expert"
    executor: str = "local"
    ray_address: str | None = None
    state_url: str | None = None
    status: str = "created"  # created | running | validating | done | failed | refused (bad input, exit 2)
    command: list[str] = []
    created_at: str = ""


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@dataclass(frozen=True)
class RunFolder:
    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / RUN_JSON

    @property
    def analytic(self) -> Path:
        return self.root / "analytic"

    @property
    def state_url(self) -> str:
        cfg = self.config()
        return cfg.state_url or f"sqlite:///{(self.root / 'state.db').resolve()}"

    @property
    def audit_log(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def holdout(self) -> Path:
        return self.root / "holdout.json"

    @property
    def holdout_ledger(self) -> Path:
        return self.root / "holdout_ledger.json"

    @property
    def champion_dir(self) -> Path:
        return self.root / "champion"

    def artifacts(self, experiment_id: str | int) -> Path:
        return self.root / "artifacts" / str(experiment_id)

    def path(self, name: str) -> Path:
        return self.root / name

    def config(self) -> RunConfig:
        if not self.config_path.is_file():
            raise UserInputError(f"'{self.root}' is not a run folder (no {RUN_JSON})", "pass runs/NAME as created by autods run")
        try:
            return RunConfig.model_validate_json(self.config_path.read_text(encoding="utf-8"))
        except ValueError:
            raise UserInputError(f"{self.config_path} is corrupt", "restore it or start a new run with autods run") from None

    def save_config(self, cfg: RunConfig) -> None:
        atomic_write_text(self.config_path, cfg.model_dump_json(indent=2) + "\n")

    def copy_task_spec(self, task_dir: Path) -> None:
        dest = self.root / "task"
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("TASK.md", "LAUNCH.md"):
            if (task_dir / name).is_file():
                shutil.copy2(task_dir / name, dest / name)

    def append_audit(self, event: dict[str, Any]) -> None:
        """Append one JSON line; flushed and fsynced so an audit line is never lost to a crash."""
        self.audit_log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.audit_log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event, sort_keys=True, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def write_analytic(folder: RunFolder, frame: pd.DataFrame, governance: dict[str, Any], design: dict[str, Any]) -> None:
    """Write the governed dataset; the parquet lands last so its presence means 'complete'."""
    folder.analytic.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder.analytic / "governance.json", governance)
    atomic_write_json(folder.analytic / "design.json", design)
    tmp = folder.analytic / ".frame.parquet.tmp"
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, folder.analytic / "frame.parquet")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))

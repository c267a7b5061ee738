"""``manifest.json``: what it takes to reproduce the run.

Data-file hashes (from governance), seeds (run, design, every experiment, the champion's
recipe), package versions, Python and platform, the git commit of the autods source when it
is a checkout, the exact command (``RunConfig.command``), and sha256 of every output file.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from autods.runfolder import atomic_write_json
from autods.tasks.provenance import file_sha256

__all__ = ["MANIFEST", "PACKAGES", "git_commit", "write_manifest"]

MANIFEST = "manifest.json"
PACKAGES = ("autods", "numpy", "pandas", "scipy", "scikit-learn", "scikit-survival", "lifelines", "lightgbm",
            "statsmodels", "fairlearn", "optuna", "pyarrow", "matplotlib", "jinja2", "pydantic", "SQLAlchemy",
            "presidio-analyzer", "shap", "mlflow")
OUTPUTS = ("fact_sheet.json", "validation.json", "biomarkers.json", "report.html", "model_card.md",
           "champion/model.joblib", "champion/model_full.joblib", "champion/recipe.json", "holdout.json",
           "holdout_ledger.json")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_commit(path: Path | None = None) -> str | None:
    """HEAD of the git checkout holding ``path`` (default: the autods source), or None."""
    where = path or Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def write_manifest(run_dir: str | Path, fs: dict[str, Any]) -> Path:
    root = Path(run_dir)
    seeds = sorted({int(r["seed"]) for r in fs["experiment_log"] if r.get("seed") is not None})
    champ = fs["champion"] or {}
    manifest = {
        "command": fs["run"]["command"],
        "run": fs["run"]["name"],
        "data": fs["provenance"]["sources"] or fs["data"]["files"],
        "seeds": {"run": fs["run"]["seed"], "design": fs["design"].get("seed"), "experiments": seeds,
                  "champion_recipe": (champ.get("recipe") or {}).get("seed")},
        "champion": {"experiment_id": champ.get("experiment_id"), "recipe_hash": champ.get("recipe_hash"),
                     "code": (fs.get("validation") or {}).get("code")},  # source + sha256 of agent-written code
        "packages": {name: _version(name) for name in PACKAGES},
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "outputs": {name: file_sha256(root / name) for name in OUTPUTS if (root / name).is_file()},
    }
    path = root / MANIFEST
    atomic_write_json(path, manifest)
    return path

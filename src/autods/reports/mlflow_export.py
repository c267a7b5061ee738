"""Export a run to MLflow (extra ``mlflow``): every experiment as an MLflow run, the champion registered.

Each experiment of the log becomes one run in the MLflow experiment ``autods/<run name>``
with the recipe as parameters, the judge's metrics (value, interval, per-fold scores as
steps) and its artifacts (``record.json``, ``oof.parquet``); failed experiments are runs
with status FAILED and their reason. The validated champion gets its own run with the
fact sheet, report, model card and a pyfunc model that wraps ``autods.load_model``, and
is registered as a model version. Only an explicit :class:`MlflowClient` is used, never
MLflow's global tracking URI, so exporting does not change the caller's MLflow state.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd  # module level: MLflow resolves predict's (string) annotations in these globals

from autods.errors import UserInputError

__all__ = ["export_mlflow"]

SHARED_ARTIFACTS = ("fact_sheet.json", "report.html", "model_card.md", "manifest.json", "validation.json")


def _require() -> None:
    if importlib.util.find_spec("mlflow") is None:
        raise UserInputError("MLflow export needs the mlflow package", "pip install 'autods[mlflow]'")


def _flat(prefix: str, obj: Any, out: dict[str, str]) -> dict[str, str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = str(obj)[:500]  # MLflow caps parameter values
    return out


def _pyfunc_model() -> Any:
    """An MLflow ``PythonModel`` around the champion: ``predict(df)`` gives P(positive), values or risk.

    Made here rather than at import so that importing this module does not import MLflow.
    ``model_input`` is annotated as a DataFrame: the champion takes the task's raw columns.
    """
    from mlflow.pyfunc import PythonModel

    class ChampionPyfunc(PythonModel):  # type: ignore[misc]
        def load_context(self, context: Any) -> None:
            import joblib

            self.model = joblib.load(context.artifacts["model"])

        def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
            if self.model.kind_ == "binary":
                return self.model.predict_proba(model_input)[:, 1]
            if self.model.kind_ == "multiclass":
                return self.model.predict_proba(model_input)
            return self.model.predict(model_input)

    return ChampionPyfunc()


def _log_experiment(client: Any, exp_id: str, root: Path, row: dict[str, Any], recipes: dict[str, Any]) -> str:
    from mlflow.entities import Metric, Param, RunTag

    tags = {"autods.experiment_id": row["experiment_id"], "autods.status": row["status"], "autods.family": row["family"],
            "autods.team": row["team"] or "", "autods.title": row["title"], "autods.reason": row["reason"][:5000]}
    run = client.create_run(exp_id, run_name=f"exp-{row['experiment_id']}", tags=tags)
    rid, now = run.info.run_id, int(time.time() * 1000)
    record_path = root / "artifacts" / row["experiment_id"] / "record.json"
    record = recipes.get(row["experiment_id"])
    params = {"seed": str(row["seed"])}
    if record is not None:
        params.update(_flat("recipe", record["recipe"], {}))
    metrics = []
    if row["value"] is not None:
        metrics.append(Metric(row["metric"], float(row["value"]), now, 0))
        for key in ("ci_low", "ci_high"):
            if row[key] is not None:
                metrics.append(Metric(f"{row['metric']}_{key}", float(row[key]), now, 0))
    if record is not None:
        metrics += [Metric(f"{row['metric']}_fold", float(s), now, k)
                    for k, s in enumerate(record.get("fold_scores") or []) if s is not None]
        metrics += [Metric(m, float(v), now, 0) for m, v in (record.get("secondary") or {}).items() if v is not None]
    client.log_batch(rid, metrics=metrics, params=[Param(k, v) for k, v in params.items()],
                     tags=[RunTag("autods.recipe_hash", row["recipe_hash"])])
    for name in ("record.json", "oof.parquet"):
        if (record_path.parent / name).is_file():
            client.log_artifact(rid, str(record_path.parent / name), "experiment")
    client.set_terminated(rid, "FAILED" if row["status"] in ("failed", "aborted") else "FINISHED")
    return rid


def _log_champion(client: Any, exp_id: str, root: Path, fs: dict[str, Any], model_name: str) -> dict[str, str]:
    import mlflow.pyfunc
    from mlflow.entities import Metric, Param
    from mlflow.exceptions import MlflowException

    champ = fs["champion"]
    run = client.create_run(exp_id, run_name="champion", tags={"autods.experiment_id": champ["experiment_id"],
                                                                "autods.role": "champion"})
    rid, now = run.info.run_id, int(time.time() * 1000)
    metrics = [Metric(f"{split}_{champ['metric']}{suffix}", float(champ[split][key]), now, 0)
               for split in ("cv", "test") for key, suffix in (("value", ""), ("ci_low", "_ci_low"), ("ci_high", "_ci_high"))
               if champ[split].get(key) is not None]
    if champ.get("calibration"):
        metrics += [Metric(f"calibration_{k}", float(v), now, 0) for k, v in champ["calibration"].items() if v is not None]
    client.log_batch(rid, metrics=metrics, params=[Param(k, v) for k, v in _flat("recipe", champ["recipe"], {}).items()])
    for name in SHARED_ARTIFACTS:
        if (root / name).is_file():
            client.log_artifact(rid, str(root / name), "report")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model"
        mlflow.pyfunc.save_model(str(path), python_model=_pyfunc_model(),
                                 # the model load_model returns: refitted on every row when a test was scored
                                 artifacts={"model": str(_model_file(root))},
                                 pip_requirements=["autods"])
        client.log_artifacts(rid, str(path), "model")
    client.set_terminated(rid, "FINISHED")
    try:
        client.get_registered_model(model_name)
    except MlflowException as err:
        if err.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_registered_model(model_name, description=fs["disclaimer"])
    version = client.create_model_version(model_name, source=f"runs:/{rid}/model", run_id=rid,
                                          tags={"autods.recipe_hash": champ["recipe_hash"]})
    return {"run_id": rid, "model_name": model_name, "version": str(version.version)}


def _artifact_location(tracking_uri: str, given: str | None) -> str | None:
    """Artifacts next to a SQLite tracking database (MLflow's default is ./mlruns in the cwd)."""
    if given is not None:
        return given
    if tracking_uri.startswith("sqlite:///"):
        return (Path(tracking_uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()
    return None


def export_mlflow(run_dir: str | Path, tracking_uri: str, *, experiment_name: str | None = None,
                  model_name: str | None = None, artifact_location: str | None = None) -> dict[str, Any]:
    """Export ``run_dir`` to the tracking store at ``tracking_uri`` (``file:`` or database URI).

    ``artifact_location`` defaults to ``mlartifacts/`` beside a SQLite database. Returns
    ``{"experiment_id", "runs": {experiment_id: mlflow run id}, "champion": {...} | None}``.
    """
    _require()
    from mlflow.tracking import MlflowClient

    from autods.reports.factsheet import FACT_SHEET, build_fact_sheet
    from autods.runfolder import read_json

    root = Path(run_dir)
    fs = read_json(root / FACT_SHEET) if (root / FACT_SHEET).is_file() else build_fact_sheet(root)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    name = experiment_name or f"autods/{fs['run']['name']}"
    existing = client.get_experiment_by_name(name)
    exp_id = existing.experiment_id if existing is not None else client.create_experiment(
        name, artifact_location=_artifact_location(tracking_uri, artifact_location),
        tags={"autods.task": fs["task"]["name"], "autods.disclaimer": "research use only; not a medical device"})
    recipes = {}
    for row in fs["experiment_log"]:
        path = root / "artifacts" / row["experiment_id"] / "record.json"
        if path.is_file():
            recipes[row["experiment_id"]] = read_json(path)
    runs = {row["experiment_id"]: _log_experiment(client, exp_id, root, row, recipes) for row in fs["experiment_log"]}
    champion = None
    if fs["champion"] is not None and (root / "champion" / "model.joblib").is_file():
        champion = _log_champion(client, exp_id, root, fs, model_name or f"autods-{fs['task']['name']}")
    return {"experiment_id": exp_id, "runs": runs, "champion": champion}


def _model_file(root: Path) -> Path:
    full = root / "champion" / "model_full.joblib"
    return full if full.is_file() else root / "champion" / "model.joblib"

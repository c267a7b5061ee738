"""MLflow export against a local SQLite tracking store: one MLflow run per experiment (params,
metrics, artifacts, failures kept with their reason), the champion registered as a model whose
pyfunc predicts exactly what autods.load_model predicts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_fixtures import shared_synthetic

from autods import load_model

# MLflow warns at import about its own type hints (UserWarning); it is imported lazily, inside
# the tests, so these third-party warnings can be scoped to this module only.
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning:mlflow.*"),
              pytest.mark.filterwarnings("ignore:.*type hint.*:UserWarning"),
              # MLflow's SQL tracking store uses a SQLAlchemy 2.1-deprecated loader strategy.
              pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning")]


def MlflowClient(**kw: str):  # noqa: N802 - stands in for the lazily imported class
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient as Client

    return Client(**kw)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict]:
    root = shared_synthetic("binary", tmp_path_factory.mktemp("mlflow-runs"))
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    return root, uri, _export(root, uri)


def _export(root: Path, uri: str) -> dict:
    pytest.importorskip("mlflow")
    from autods.reports import export_mlflow  # imports mlflow: after this module's warning filters apply

    return export_mlflow(root, uri)


def test_every_experiment_is_an_mlflow_run(exported: tuple[Path, str, dict]) -> None:
    root, uri, out = exported
    sheet = json.loads((root / "fact_sheet.json").read_text())
    client = MlflowClient(tracking_uri=uri)
    runs = {r.info.run_name: r for r in client.search_runs([out["experiment_id"]], max_results=1000)}
    assert set(runs) == {f"exp-{row['experiment_id']}" for row in sheet["experiment_log"]} | {"champion"}
    for row in sheet["experiment_log"]:
        run = runs[f"exp-{row['experiment_id']}"]
        assert run.data.tags["autods.status"] == row["status"]
        if row["status"] == "failed":
            assert run.info.status == "FAILED" and "no_such_column" in run.data.tags["autods.reason"]
            continue
        assert run.info.status == "FINISHED"
        assert run.data.metrics["auroc"] == pytest.approx(row["value"])
        assert run.data.params["recipe.family"] == row["family"]
        record = json.loads((root / "artifacts" / row["experiment_id"] / "record.json").read_text())
        folds = client.get_metric_history(run.info.run_id, "auroc_fold")
        assert [m.value for m in sorted(folds, key=lambda m: m.step)] == pytest.approx(record["fold_scores"])
        names = {a.path for a in client.list_artifacts(run.info.run_id, "experiment")}
        assert names == {"experiment/record.json", "experiment/oof.parquet"}
    champ = runs["champion"]
    assert champ.data.metrics["test_auroc"] == pytest.approx(sheet["champion"]["test"]["value"])
    assert {a.path for a in client.list_artifacts(champ.info.run_id, "report")} >= {"report/report.html",
                                                                                   "report/fact_sheet.json"}


def test_the_champion_is_registered_and_predicts_like_load_model(exported: tuple[Path, str, dict],
                                                                 tmp_path: Path) -> None:
    import mlflow.pyfunc

    root, uri, out = exported
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version(out["champion"]["model_name"], out["champion"]["version"])
    assert version.run_id == out["champion"]["run_id"] and version.status == "READY"
    local = client.download_artifacts(out["champion"]["run_id"], "model", str(tmp_path))
    pyfunc = mlflow.pyfunc.load_model(local)
    raw = pd.read_csv(Path(json.loads((root / "run.json").read_text())["task_dir"]) / "data" / "cohort.csv").head(20)
    np.testing.assert_allclose(np.asarray(pyfunc.predict(raw)), load_model(root).predict_proba(raw)[:, 1])


def test_exporting_again_adds_a_model_version(exported: tuple[Path, str, dict]) -> None:
    root, uri, out = exported
    again = _export(root, uri)
    assert again["experiment_id"] == out["experiment_id"]
    assert int(again["champion"]["version"]) == int(out["champion"]["version"]) + 1

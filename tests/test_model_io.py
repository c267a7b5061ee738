"""autods.load_model(run_dir): the champion applied to the task's RAW columns.

Raw rows carry PHI columns and the raw (unhashed) unit id; the loader applies the recorded
governance and must give exactly the predictions of the fitted pipeline on the governed rows.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_fixtures import shared_synthetic

import autods
from autods.errors import UserInputError
from autods.reports import validate_champion
from autods.reports.model_io import ChampionModel, load_model


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-io-runs")


def _raw(root: Path) -> pd.DataFrame:
    task_dir = Path(json.loads((root / "run.json").read_text())["task_dir"])
    return pd.read_csv(task_dir / "data" / "cohort.csv")


def _governed(root: Path) -> pd.DataFrame:
    return pd.read_parquet(root / "analytic" / "frame.parquet")


def test_load_model_is_exported_lazily(base: Path) -> None:
    assert autods.load_model is load_model
    assert isinstance(autods.load_model(shared_synthetic("binary", base)), ChampionModel)


def test_binary_raw_rows_give_the_pipeline_predictions(base: Path) -> None:
    root = shared_synthetic("binary", base)
    model, raw, governed = load_model(root), _raw(root), _governed(root)
    assert "mrn" in raw.columns and "mrn" not in governed.columns
    proba = model.predict_proba(raw)
    expected = model.runner_.predict_score(governed)
    np.testing.assert_array_equal(proba[:, 1], expected)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert model.classes_ == [0, 1]
    assert set(model.predict(raw).tolist()) <= {0, 1}
    assert "patient_id" not in model.feature_names_in_  # the unit id is not a feature


def test_missing_input_column_is_a_user_error(base: Path) -> None:
    model = load_model(shared_synthetic("binary", base))
    with pytest.raises(UserInputError, match="x_strong"):
        model.predict_proba(_raw(shared_synthetic("binary", base)).drop(columns=["x_strong"]))
    with pytest.raises(UserInputError, match="DataFrame"):
        model.predict_proba(np.zeros((2, 3)))  # type: ignore[arg-type]


def test_a_date_shifted_input_cannot_be_scored_from_raw_rows(base: Path) -> None:
    model = load_model(shared_synthetic("binary", base))
    model.governance_ = {"actions": [{"column": "x_weak", "action": "date_shifted"}]}
    with pytest.raises(UserInputError, match="date-shifted"):
        model.predict(_raw(shared_synthetic("binary", base)))


def test_regression_predicts_values_and_refuses_probabilities(base: Path) -> None:
    root = shared_synthetic("regression", base)
    model = load_model(root)
    np.testing.assert_array_equal(model.predict(_raw(root)), model.runner_.predict_score(_governed(root)))
    with pytest.raises(UserInputError, match="classification"):
        model.predict_proba(_raw(root))


def test_survival_risk_and_survival_functions(base: Path) -> None:
    root = shared_synthetic("survival", base)
    model, raw = load_model(root), _raw(root)
    risk = model.predict(raw)
    np.testing.assert_array_equal(risk, model.runner_.predict_score(_governed(root)))
    sf = model.predict_survival_function(raw.head(5))
    assert sf.shape == (5, len(model.event_times_))
    assert np.all(np.diff(sf, axis=1) <= 1e-12) and np.all((sf >= 0) & (sf <= 1))
    # higher risk = earlier event: the riskiest of the five has the lowest survival at the median time
    mid = len(model.event_times_) // 2
    assert np.argmax(risk[:5]) == np.argmin(sf[:, mid])
    with pytest.raises(UserInputError):
        model.predict_proba(raw)


def test_per_unit_composites_accept_the_raw_unit_id(base: Path) -> None:
    """The unit id is hashed in the governed data; unit history only groups by it (and orders by
    the time column), so raw ids work, and both columns are required on raw rows."""
    from autods.runners.pipeline import RecipeRunner, TrainingData

    root = shared_synthetic("binary", base)
    raw, governed = _raw(root), _governed(root)
    assert len(raw) == len(governed)  # row for row, as in the tests above
    # Pair the rows into two-visit patients (row 2k takes row 2k-1's id) with an order.
    pos = np.arange(len(raw))

    def paired(ids: pd.Series) -> np.ndarray:
        return np.where(pos % 2, ids.to_numpy(), np.roll(ids.to_numpy(), 1))

    raw = raw.assign(patient_id=paired(raw["patient_id"]), visit=pos % 3)
    governed = governed.assign(patient_id=paired(governed["patient_id"]), visit=pos % 3)
    recipe = {"family": "logistic", "features": ["x_strong"],
              "preprocess": {"composites": [{"name": "u", "expr": "unit_mean(x_strong)"}]}}
    data = TrainingData(governed, governed["y"].to_numpy(), "binary", ("x_strong", "x_weak"), "patient_id", "visit")
    runner = RecipeRunner().fit(data, recipe)
    model = ChampionModel(runner, task_type="binary", classes=[0, 1], experiment_id="composite", metric="auroc",
                          governance={"actions": []}, unit_column="patient_id")
    assert governed["patient_id"].iloc[0] != raw["patient_id"].iloc[0]  # hashed vs raw
    history = runner.pipeline_.named_steps["prep"].named_steps["composites"].transform(governed[["x_strong", "patient_id", "visit"]])
    assert history["u"].notna().any() and history["u"].isna().any()  # some rows have earlier visits, some none
    np.testing.assert_allclose(model.predict_proba(raw)[:, 1], runner.predict_score(governed))
    for column in ("patient_id", "visit"):
        with pytest.raises(UserInputError, match=column):
            model.predict(raw.drop(columns=[column]))


def test_no_champion_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no champion model"):
        load_model(tmp_path)


def test_the_default_model_is_refitted_on_every_row_after_the_test_and_the_tested_one_stays(base: Path) -> None:
    from autods.runners.pipeline import RecipeRunner, TrainingData

    root = shared_synthetic("binary", base)
    validation = json.loads((root / "validation.json").read_text())
    full, tested = load_model(root), load_model(root, which="tested")
    governed = _governed(root)
    assert validation["model"]["full"]["n_rows"] == len(governed) > validation["model"]["n_rows"]
    assert validation["model"]["n_rows"] == len(governed) - validation["test_split"]["n"]
    # the full model is the same recipe fitted on every governed row: refit it here and compare
    recipe = tested.runner_.recipe_
    task_rows = TrainingData(governed, governed["y"].to_numpy(), "binary", tuple(tested.feature_names_in_),
                             "patient_id", "visit")
    again = RecipeRunner().fit(task_rows, recipe)
    np.testing.assert_allclose(full.runner_.predict_score(governed), again.predict_score(governed), atol=1e-10)
    assert not np.allclose(full.runner_.predict_score(governed), tested.runner_.predict_score(governed))
    with pytest.raises(UserInputError, match="which="):
        load_model(root, which="best")

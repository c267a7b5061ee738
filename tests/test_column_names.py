"""Column names as users have them (issue 11, section 4): spaces, dots, parentheses, slashes,
units in brackets, non-ASCII letters, leading digits, JSON-special characters, and names that
collide after normalisation, on every path: the grammar, recipes and composites, the expert
library, model families (LightGBM refuses special JSON characters in its own feature names),
importances, the CLI run and ``load_model`` on raw rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import autods
from autods.agents.expert.library import unit_history
from autods.errors import RecipeError
from autods.reports.importance import permutation_importances
from autods.runners.expressions import columns_of, evaluate_expr, parse, quote_name
from autods.runners.pipeline import RecipeRunner, TrainingData

NASTY = ["Clump Thickness", "Uniformity of Cell Size", "Weight [kg]", "Größe [cm]", "âge", "6MWT (m)", "a.b", "a b",
         "a_b", "ratio/IQR", 'we"ird:{x},y', "tick`name", " padded ", "log", "unit_mean", "x-y", "p+q*2", "Größe"]
WEIRD = 'we"ird:{x},y'  # every character LightGBM refuses in a feature name


@pytest.mark.parametrize("name", NASTY)
def test_quote_name_round_trips_through_the_grammar(name: str) -> None:
    q = quote_name(name)
    tree = parse(f"log1p({q}) * 2 - {q} / (1 + max({q}, 0))")
    assert columns_of(tree) == {name}
    frame = pd.DataFrame({name: [1.0, 3.0], "other": [0.0, 0.0]})
    expected = np.log1p(frame[name]) * 2 - frame[name] / (1 + np.maximum(frame[name], 0))
    np.testing.assert_allclose(evaluate_expr(tree, frame), expected)


def test_plain_names_stay_bare_and_unquoted_spaces_point_to_backticks() -> None:
    assert [quote_name(n) for n in ("age", "Größe", "_x1")] == ["age", "Größe", "_x1"]
    assert quote_name("6MWT (m)") == "`6MWT (m)`" and quote_name("tick`name") == "`tick``name`"
    with pytest.raises(RecipeError, match="in backticks, e.g. `Clump Thickness`"):
        parse("unit_mean(Clump Thickness)")
    with pytest.raises(RecipeError, match="is a column name, write it in backticks"):
        parse("unit_mean(Visit (day))")


def _untidy(n: int = 160, seed: int = 2) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=n) for name in NASTY})
    frame["Sample code number"] = np.repeat(np.arange(n // 2) * 7 + 1000, 2)
    frame["Visit (day)"] = np.tile([0, 30], n // 2)
    y = (frame["Weight [kg]"] + frame[WEIRD] + 0.5 * rng.normal(size=n) > 0).astype(int).to_numpy()
    return frame, y


@pytest.mark.parametrize("family", ["logistic", "lightgbm", "random_forest"])
def test_families_and_quoted_composites_on_untidy_names(family: str) -> None:
    frame, y = _untidy()
    features = tuple(NASTY) + ("Visit (day)",)
    comps = [{"name": "Weight [kg] / Größe", "expr": f"{quote_name('Weight [kg]')} / {quote_name('Größe')}"},
             {"name": "history of a.b", "expr": f"unit_mean({quote_name('a.b')})"},
             {"name": f"{WEIRD} squared", "expr": f"{quote_name(WEIRD)} * {quote_name(WEIRD)}"}]
    params = {"n_estimators": 40} if family != "logistic" else {}
    data = TrainingData(frame, y, "binary", features, "Sample code number", "Visit (day)")
    runner = RecipeRunner().fit(data, {"family": family, "params": params, "preprocess": {"composites": comps}})
    pred = runner.predict_score(frame)
    assert np.isfinite(pred).all() and float(np.mean((pred > 0.5) == y)) > 0.7
    names = runner.pipeline_.named_steps["prep"].named_steps["columns"].get_feature_names_out()
    assert "numeric__Weight [kg] / Größe" in names and f"numeric__{WEIRD}" in names  # originals, not aliases
    if family != "lightgbm":
        return  # importances are model-agnostic: one family (the one that refuses names) is enough
    imp = permutation_importances(runner, frame, y, "auroc", seed=0, n_repeats=2)
    assert {r["feature"] for r in imp["features"]} <= set(features)
    assert imp["features"][0]["feature"] in ("Weight [kg]", WEIRD)


def test_library_history_composites_quote_untidy_names() -> None:
    frame, y = _untidy()
    summary = {"units_repeat": True, "time_column": "Visit (day)", "unit_column": "Sample code number",
               "features": [{"name": n, "kind": "numeric", "missing_fraction": 0.0} for n in ("Visit (day)", *NASTY)],
               "findings": []}
    rep = unit_history(summary, summary["features"])
    assert rep is not None
    comps = rep.preprocess["composites"]
    assert [c["expr"] for c in comps] == ["unit_mean(`Clump Thickness`)", "unit_mean(`Uniformity of Cell Size`)",
                                          "unit_mean(`Weight [kg]`)"]
    data = TrainingData(frame, y, "binary", tuple(NASTY) + ("Visit (day)",), "Sample code number", "Visit (day)")
    runner = RecipeRunner().fit(data, rep.recipe("logistic", {}))
    assert np.isfinite(runner.predict_score(frame)).all()


def _breast_cancer_task(root: Path) -> tuple[Path, pd.DataFrame]:
    """scikit-learn's Wisconsin breast cancer with its original headers, some renamed to worse
    ones, a UCI-style 'Sample code number' (repeated for re-measured samples) and visit days."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.drop(columns=["target"]).rename(columns={
        "mean texture": "Größe [cm]", "mean perimeter": "6MWT (m)", "mean area": "a.b", "mean smoothness": "a b",
        "mean fractal dimension": "a_b", "mean compactness": "âge", "mean symmetry": "ratio/IQR",
        "worst symmetry": WEIRD, "worst fractal dimension": "Weight [kg]"})
    code = np.arange(len(frame)) * 7 + 1000
    code[1:200:2] = code[0:200:2]
    frame.insert(0, "Sample code number", code)
    frame.insert(1, "Visit (day)", np.where((np.arange(len(frame)) % 2 == 1) & (np.arange(len(frame)) < 200), 30, 0))
    frame["diagnosis"] = np.where(data.target == 0, "malignant", "benign")
    root.mkdir(parents=True)
    frame.to_csv(root / "cohort.csv", index=False)
    (root / "TASK.md").write_text("---\nname: untidy-breast-cancer\ntask_type: binary\ndata: cohort.csv\n"
                                  "endpoint: {column: diagnosis, positive_class: malignant}\n"
                                  "id_column: Sample code number\ntime_column: Visit (day)\n---\n", encoding="utf-8")
    return root, frame


@pytest.mark.slow
def test_cli_run_and_load_model_on_untidy_breast_cancer(tmp_path: Path) -> None:
    from autods.cli import run

    task, raw = _breast_cancer_task(tmp_path / "task")
    code = run(["run", str(task), "--budget", "3", "--runs-dir", str(tmp_path / "runs"), "--run-name", "untidy"])
    assert code == 0
    folder = tmp_path / "runs" / "untidy"
    model = autods.load_model(folder)
    rows = raw.drop(columns=["diagnosis"]).sample(40, random_state=0)  # raw rows, original names
    assert {"Größe [cm]", "6MWT (m)", "a.b", "a b", "a_b", "mean radius", "worst concave points"} <= set(model.feature_names_in_)
    proba = model.predict_proba(rows)
    assert proba.shape == (40, 2) and np.isfinite(proba).all()
    truth = raw.loc[rows.index, "diagnosis"].to_numpy()
    assert np.mean(model.predict(rows) == truth) > 0.85
    with pytest.raises(autods.errors.UserInputError, match="Größe"):
        model.predict(rows.drop(columns=["Größe [cm]"]))
    # The report and fact sheet name the columns as the user has them.
    report = (folder / "report.html").read_text(encoding="utf-8")
    assert "Größe [cm]" in report and "6MWT (m)" in report
    inputs = json.dumps(json.loads((folder / "fact_sheet.json").read_text(encoding="utf-8"))["champion"], ensure_ascii=False)
    assert "Größe [cm]" in inputs
    # The steward's summary of this run (what the brain sees) makes the library write unit history
    # with quoted names; those composites parse, and run on the run's governed rows.
    from autods.agents.expert.library import representations
    from autods.agents.steward import govern
    from autods.runfolder import RunFolder

    summary = govern(task, RunFolder(folder))
    assert summary["time_column"] == "Visit (day)" and summary["units_repeat"]
    rep = next(r for r in representations(summary, {}) if r.name == "unit-history")
    assert all(c["expr"].startswith("unit_mean(`") for c in rep.preprocess["composites"])
    governed = pd.read_parquet(folder / "analytic" / "frame.parquet")
    y = (governed["diagnosis"] == "malignant").astype(int).to_numpy()
    names = tuple(c["name"] for c in summary["features"])
    data = TrainingData(governed, y, "binary", names, "Sample code number", "Visit (day)")
    assert np.isfinite(RecipeRunner().fit(data, rep.recipe("logistic", {})).predict_score(governed)).all()


def test_transformed_names_map_back_to_the_right_raw_column() -> None:
    """SHAP sums over transformed columns; 'categorical__a_b' is level 'b' of 'a', not the numeric 'a_b'."""
    from autods.reports.importance import _blocks, _raw_feature

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.choice(["b", "c"], 50), "a_b": rng.normal(size=50), "x__y": rng.normal(size=50),
                          "missingindicator_q": rng.normal(size=50)})
    frame.loc[0, "a_b"] = np.nan
    runner = RecipeRunner().fit(TrainingData(frame, rng.integers(0, 2, 50), "binary", tuple(frame.columns)), {"family": "logistic"})
    columns = runner.pipeline_.named_steps["prep"].named_steps["columns"]
    mapped = {n: _raw_feature(n, list(frame.columns), _blocks(columns)) for n in columns.get_feature_names_out()}
    assert mapped == {"numeric__a_b": "a_b", "numeric__x__y": "x__y", "numeric__missingindicator_q": "missingindicator_q",
                      "numeric__missingindicator_a_b": "a_b", "categorical__a_b": "a", "categorical__a_c": "a"}


def test_lightgbm_never_sees_the_names_even_with_pandas_output() -> None:
    """A user's notebook may set sklearn's transform_output='pandas'; LightGBM would then get the
    transformed names and refuse them ("Do not support special JSON characters in feature name")."""
    import sklearn

    frame, y = _untidy()
    recipe = {"family": "lightgbm", "params": {"n_estimators": 30}}
    with sklearn.config_context(transform_output="pandas"):
        runner = RecipeRunner().fit(TrainingData(frame, y, "binary", tuple(NASTY)), recipe)
        pred = runner.predict_score(frame)
    assert np.isfinite(pred).all()
    assert WEIRD in set(runner.pipeline_.named_steps["prep"].named_steps["columns"].feature_names_in_)


def test_the_llm_prompt_teaches_the_quoting_the_grammar_parses() -> None:
    """The rule an LLM brain reads names the same syntax :func:`quote_name` writes (issue 11)."""
    from autods.agents.llm.prompt import RULES
    from autods.runners.expressions import quote_name

    for name in ("Clump Thickness", "Weight [kg]", "6MWT (m)"):
        assert quote_name(name) in RULES
    assert "strictly before" in RULES and "time_column" in RULES

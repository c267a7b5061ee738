"""Integer-coded site columns (NCCTG lung's ``inst``: institutions numbered 1..33) are levels, not
quantities: the steward says so, the runners one-hot them inside the fold, and a saved model
takes the raw integer codes, an institution it never saw included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autods.guard.profile import profile_findings, profile_frame
from autods.runners.preprocess import build_preprocessor, column_kinds
from autods.runners.recipe import Preprocess
from autods.site_codes import is_site_code, site_word
from autods.tasks.spec import TaskSpec


def _lung() -> pd.DataFrame:
    from lifelines.datasets import load_lung

    return load_lung()


@pytest.mark.parametrize(("name", "expected"), [
    ("inst", True), ("site_id", True), ("hospitalid", True), ("CenterCode", True), ("batch", True),
    ("centre", True), ("platelets", False), ("instrument_gain", False), ("n_sites", False), ("age", False),
])
def test_a_site_word_is_a_whole_word_of_the_name(name: str, expected: bool) -> None:
    assert site_word(name) is expected


def test_only_integer_codes_with_a_few_levels_are_site_codes() -> None:
    codes = pd.Series([1, 3, 5, 3, 1, 12] * 5)
    assert is_site_code("inst", codes)
    assert is_site_code("inst", codes.astype(float).where(codes != 5))  # missing values do not matter
    assert not is_site_code("inst", codes + 0.5)  # a measured quantity, not a code
    assert not is_site_code("inst", pd.Series([0, 1] * 10))  # a flag
    assert not is_site_code("inst", pd.Series(range(40)))  # too many levels for sites
    assert not is_site_code("inst", codes.astype(str))  # text is categorical already
    assert not is_site_code("platelets", codes)


def test_the_steward_says_inst_is_a_code_and_the_profile_calls_it_categorical() -> None:
    frame = _lung()
    profile = profile_frame(frame)
    assert profile.site_codes == ["inst"] and profile.columns["inst"].kind == "categorical"
    assert "inst" not in profile.site_shift.get("inst", {})  # not compared with itself as a quantity
    messages = [f.message for f in profile_findings(profile)]
    assert any("'inst'" in m and "integer codes, modelled as categorical levels" in m for m in messages)
    spec = TaskSpec.model_validate({"name": "lung", "task_type": "survival", "endpoint": {"time": "time", "event": "status"},
                                    "data": "lung.csv", "site_column": "inst"})
    declared = [f.message for f in profile_findings(profile_frame(frame, spec), spec)]
    assert any(m.startswith("site column 'inst' holds integer codes") for m in declared)


def test_the_preprocessor_one_hots_the_code_and_accepts_an_unseen_institution() -> None:
    frame = _lung().dropna(subset=["inst"])
    features = ["inst", "age", "ph.ecog"]
    assert column_kinds(frame, features)["categorical"] == ["inst"]
    pre = build_preprocessor(Preprocess(min_frequency=None), frame, features).fit(frame[features])
    names = list(pre.named_steps["columns"].get_feature_names_out())
    assert sum(n.startswith("categorical__inst_") for n in names) == frame["inst"].nunique()
    new = frame[features].head(3).assign(inst=[99, 1, 3])  # 99: an institution the fit never saw
    out = pre.transform(new)
    assert out.shape == (3, len(names)) and np.isfinite(out).all()
    inst_cols = [i for i, n in enumerate(names) if n.startswith("categorical__inst_")]
    assert out[0, inst_cols].sum() == 0  # unseen: no level lit, no numeric extrapolation


def _pipelines(obj: object, depth: int = 3) -> list:  # type: ignore[type-arg]
    """The fitted recipe pipelines inside a champion runner (wrappers and ensembles hold runners)."""
    if hasattr(obj, "pipeline_") and hasattr(obj.pipeline_, "named_steps") and "prep" in obj.pipeline_.named_steps:
        return [obj.pipeline_]
    if depth == 0:
        return []
    found = []
    for value in vars(obj).values() if hasattr(obj, "__dict__") else []:
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if hasattr(item, "__dict__") and type(item).__module__.startswith("autods"):
                found += _pipelines(item, depth - 1)
    return found


@pytest.mark.slow
def test_cli_run_on_ncctg_lung_models_the_institution_as_levels(tmp_path: Path) -> None:
    import autods
    from autods.cli import run

    task = tmp_path / "task"
    (task / "data").mkdir(parents=True)
    raw = _lung()
    raw.to_csv(task / "data" / "lung.csv", index=False)
    (task / "TASK.md").write_text("---\nname: ncctg-lung\ntask_type: survival\nendpoint: {time: time, event: status}\n"
                                  "data: data/lung.csv\n---\n# NCCTG lung cancer survival\n`inst` is the enrolling "
                                  "institution.\n")
    assert run(["run", str(task), "--budget", "4", "--runs-dir", str(tmp_path / "runs"), "--run-name", "lung"]) == 0
    folder = tmp_path / "runs" / "lung"
    sheet = json.loads((folder / "fact_sheet.json").read_text())
    said = json.dumps(sheet["guardrails"]["findings"])
    assert "'inst' (18 levels): integer codes, modelled as categorical levels" in said
    model = autods.load_model(folder)
    pipelines = _pipelines(model.runner_)
    assert pipelines  # the champion (a wrapper or an ensemble holds its members' runners)
    for pipeline in pipelines:
        names = list(pipeline.named_steps["prep"].named_steps["columns"].get_feature_names_out())
        assert any(n.startswith("categorical__inst_") for n in names) and "numeric__inst" not in names
    rows = raw.drop(columns=["time", "status"]).head(5).assign(inst=[1, 33, 99, 3, 3])
    risk = model.predict(rows)
    assert len(risk) == 5 and np.isfinite(risk).all()

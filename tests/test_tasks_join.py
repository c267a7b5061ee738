"""Several data files: stacked when their columns match, joined one-to-many on the unit, joined on
unit + time for two long tables, and every ambiguous layout refused with one line (exit 2).

The old loader concatenated every file row-wise: each join test below fails on it (wrong row
count, endpoint missing on the unit rows, or no error raised)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autods.errors import DataError, TaskSpecError
from autods.tasks import load_task

FRONT = "name: t\ntask_type: binary\nendpoint: y\n"


def _task(tmp: Path, files: dict[str, pd.DataFrame], extra: str = "") -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    for name, frame in files.items():
        frame.to_csv(tmp / name, index=False)
    (tmp / "TASK.md").write_text(f"---\n{FRONT}data: [{', '.join(files)}]\n{extra}---\n")
    return tmp


def _units(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"participant_id": [f"P{i:03d}" for i in range(n)], "age": rng.integers(20, 80, n),
                         "y": np.arange(n) % 2})


def _daily(n: int = 40, days: int = 5, skip: tuple[int, ...] = ()) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = [(f"P{i:03d}", f"2024-01-{d + 1:02d}") for i in range(n) if i not in skip for d in range(days)]
    out = pd.DataFrame(rows, columns=["participant_id", "date"])
    return out.assign(steps=rng.integers(1000, 15000, len(out)))


def _steps(task: object, kind: str = "step") -> list[dict]:
    return [r for r in task.provenance if r["kind"] == kind]  # type: ignore[attr-defined]


def _one_line(exc: pytest.ExceptionInfo[DataError], *needles: str) -> None:
    text = str(exc.value)
    assert len(text.splitlines()) == 1
    for needle in needles:
        assert needle in text, text


def test_same_columns_are_stacked_and_provenance_says_so(tmp_path: Path) -> None:
    a, b = _units(40).iloc[:25], _units(40).iloc[25:]
    task = load_task(_task(tmp_path, {"a.csv": a, "b.csv": b[["y", "age", "participant_id"]]}))
    assert len(task.frame) == 40 and list(task.frame.columns) == list(a.columns)
    assert task.frame["participant_id"].tolist() == _units(40)["participant_id"].tolist()
    stack = [s for s in _steps(task) if s["name"].startswith("stack")]
    assert stack == [{"kind": "step", "name": "stack a.csv + b.csv", "rows": 40,
                      "detail": "same 3 columns: stacked row-wise (25 + 15 rows)"}]
    assert _steps(task, "join")[0]["how"] == "stack"


def test_unit_table_joins_one_to_many_from_the_long_table(tmp_path: Path) -> None:
    daily = pd.concat([_daily(40, 5, skip=(3, 7)), pd.DataFrame({"participant_id": ["P999"] * 2,
                       "date": ["2024-01-01", "2024-01-02"], "steps": [5, 6]})], ignore_index=True)
    task = load_task(_task(tmp_path, {"participants.csv": _units(40), "daily.csv": daily}, "time_column: date\n"))
    # 38 participants x 5 days + 2 rows of an unknown participant; those lose their endpoint
    join = _steps(task, "join")[0]
    assert join == {"kind": "join", "name": "join participants.csv to daily.csv on participant_id",
                    "how": "one_to_many", "on": ["participant_id"], "many": "daily.csv", "one": "participants.csv",
                    "rows_many": 192, "rows_one": 40, "rows": 192, "unmatched_many": 2, "unmatched_one": 2}
    step = next(s for s in _steps(task) if s["name"].startswith("join"))
    assert step["rows"] == 192 and step["units"] == 39
    assert "2 daily.csv rows have no participants.csv row" in step["detail"]
    assert "2 keys of participants.csv have no daily.csv row" in step["detail"]
    assert len(task.frame) == 190 and task.dropped_missing_endpoint == 2
    assert list(task.frame.columns) == ["participant_id", "date", "steps", "age", "y"]
    assert pd.api.types.is_datetime64_any_dtype(task.frame["date"])  # ISO text read as dates
    # each participant's row values came from its own unit row
    ref = _units(40).set_index("participant_id")
    assert (task.frame["age"].to_numpy() == ref.loc[task.frame["participant_id"], "age"].to_numpy()).all()


def test_unit_table_listed_second_or_first_gives_the_same_frame(tmp_path: Path) -> None:
    a = load_task(_task(tmp_path / "a", {"participants.csv": _units(), "daily.csv": _daily()})).frame
    b = load_task(_task(tmp_path / "b", {"daily.csv": _daily(), "participants.csv": _units()})).frame
    pd.testing.assert_frame_equal(a, b)


def test_stacked_files_then_join_onto_the_unit_table(tmp_path: Path) -> None:
    daily = _daily(40, 6)
    files = {"jan_a.csv": daily.iloc[:120], "participants.csv": _units(), "jan_b.csv": daily.iloc[120:]}
    task = load_task(_task(tmp_path, files))
    names = [s["name"] for s in _steps(task)]
    assert names[3:5] == ["stack jan_a.csv + jan_b.csv", "join participants.csv to jan_a.csv + jan_b.csv on participant_id"]
    assert len(task.frame) == 240 and task.frame["y"].notna().all()


def test_two_long_tables_join_on_unit_plus_time(tmp_path: Path) -> None:
    daily = _daily(40, 5)
    sleep = daily[["participant_id", "date"]].assign(sleep=np.linspace(5, 9, len(daily)))
    sleep = sleep.iloc[:-3]  # the last participant's last three nights were not recorded
    task = load_task(_task(tmp_path, {"daily.csv": daily, "sleep.csv": sleep, "participants.csv": _units()},
                           "time_column: date\n"))
    joins = _steps(task, "join")
    assert [j["on"] for j in joins] == [["participant_id", "date"], ["participant_id"]]
    assert joins[0]["how"] == "one_to_one" and joins[0]["unmatched_many"] == 3 and joins[0]["rows"] == 200
    assert len(task.frame) == 200 and int(task.frame["sleep"].isna().sum()) == 3
    assert task.frame.loc[5, "sleep"] == pytest.approx(sleep.loc[5, "sleep"])


def test_explicit_join_key_resolves_two_candidate_keys(tmp_path: Path) -> None:
    units = _units().assign(record_id=range(40))
    daily = _daily().merge(units[["participant_id", "record_id"]])
    files = {"participants.csv": units.drop(columns="record_id"), "daily.csv": daily}
    files["participants.csv"]["record_id"] = units["record_id"]
    with pytest.raises(DataError) as exc:
        load_task(_task(tmp_path / "a", files))
    _one_line(exc, "several candidate keys (participant_id, record_id)", "participants.csv", "daily.csv", "join:")
    # declaring the key makes record_id an ordinary column of both tables: still refused as a collision
    with pytest.raises(DataError) as exc:
        load_task(_task(tmp_path / "b", files, "join: participant_id\n"))
    _one_line(exc, "both have 'record_id' besides the key")
    task = load_task(_task(tmp_path / "c", files, "join: {on: [participant_id, record_id], how: one_to_many}\n"))
    assert len(task.frame) == 200 and _steps(task, "join")[0]["on"] == ["participant_id", "record_id"]


def test_declared_id_column_is_the_key(tmp_path: Path) -> None:
    units = _units().rename(columns={"participant_id": "pid"})
    units["subject_no"] = range(40)
    daily = _daily().rename(columns={"participant_id": "pid"}).merge(units[["pid", "subject_no"]])
    files = {"u.csv": units, "d.csv": daily.drop(columns="subject_no")}
    task = load_task(_task(tmp_path, files, "id_column: pid\n"))
    assert _steps(task, "join")[0]["on"] == ["pid"] and len(task.frame) == 200


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("no_shared", ("share no column", "u.csv, d.csv", "join:")),
        ("no_identifier", ("share no identifier column (shared: age)", "join:")),
        ("neither_unique", ("neither u.csv nor d.csv has one row per 'participant_id'", "join:")),
        ("duplicate_unit_time", ("duplicate participant_id + date keys in both data files (5 in u.csv, 5 in d.csv)",)),
        ("collision", ("both have 'age' besides the key (participant_id)", "join:")),
        ("key_types", ("join key 'participant_id' is", "numbers in u.csv", "text in d.csv")),
        ("one_to_one", ("join: how is one_to_one, but d.csv repeats 'participant_id'",)),
    ],
)
def test_ambiguous_layouts_are_one_line_data_errors(tmp_path: Path, case: str, needles: tuple[str, ...]) -> None:
    units, daily, extra = _units(), _daily(), ""
    if case == "no_shared":
        daily = daily.rename(columns={"participant_id": "who"})
    elif case == "no_identifier":
        units, daily = units.rename(columns={"participant_id": "a"}), daily.rename(columns={"participant_id": "b"})
        daily["age"] = 1
    elif case == "neither_unique":
        units = pd.concat([units, units], ignore_index=True)
    elif case == "duplicate_unit_time":
        units = daily.assign(y=np.arange(len(daily)) % 2).drop(columns="steps")
        units, daily = pd.concat([units, units.iloc[:5]]), pd.concat([daily, daily.iloc[:5]])
        extra = "time_column: date\n"
    elif case == "collision":
        daily["age"] = 30
    elif case == "key_types":
        units["participant_id"] = range(40)
    elif case == "one_to_one":
        extra = "join: {on: participant_id, how: one_to_one}\n"
    with pytest.raises(DataError) as exc:
        load_task(_task(tmp_path, {"u.csv": units, "d.csv": daily}, extra))
    _one_line(exc, *needles)


@pytest.mark.parametrize(
    ("join", "needle"),
    [("join: []", "join: on must name one or more columns"), ("join: [a, a]", "names a column twice"),
     ("join: {on: a, how: many_to_many}", "'join.how' is invalid"), ("join: {key: a}", "missing the required key .join.on.")],
)
def test_join_key_is_validated(tmp_path: Path, join: str, needle: str) -> None:
    with pytest.raises(TaskSpecError, match=needle.replace("[", r"\[")):
        load_task(_task(tmp_path, {"u.csv": _units(), "d.csv": _daily()}, join + "\n"))


def test_join_with_one_file_is_refused(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    _units().to_csv(tmp_path / "u.csv", index=False)
    (tmp_path / "TASK.md").write_text(f"---\n{FRONT}data: u.csv\njoin: participant_id\n---\n")
    with pytest.raises(TaskSpecError, match="join: combines several data files"):
        load_task(tmp_path)


def test_join_with_a_non_table_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="join: combines table files, but this task's data is read by the wearable"):
        load_task(_task(tmp_path, {"u.csv": _units(), "d.csv": _daily()}, "format: wearable\njoin: participant_id\n"))


def test_join_key_missing_from_a_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        load_task(_task(tmp_path, {"u.csv": _units(), "d.csv": _daily()}, "join: [date]\n"))
    _one_line(exc, "join: on names 'date', which is not in u.csv")


# --- through the CLI, on a real public cohort ------------------------------------------------
# heartvalve (Lim et al. 1998, via SurvSet): 256 aortic-valve patients, 984 follow-up echo visits.
# Split the way a hospital would export it: one row per patient (baseline, valve, outcome) and one
# row per visit (gradient, LV mass index, ejection fraction); three patients' visits are missing.

VISIT_COLUMNS = ["num_grad", "num_lvmi", "num_ef"]
NO_VISITS = (5, 17, 250)


def _heartvalve(out: Path, front: str | None = None) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    from SurvSet.data import SurvLoader

    with warnings.catch_warnings():
        # SurvSet's pickles were written by numpy 1.x and unpickle through numpy.core (a deprecated alias)
        warnings.filterwarnings("ignore", "numpy.core", DeprecationWarning)
        raw = SurvLoader().load_dataset("heartvalve")["df"]
    static = [c for c in raw.columns if c.startswith(("fac_", "num_")) and c not in VISIT_COLUMNS]
    g = raw.groupby("pid", sort=True)
    patients = g[static].first().assign(futime=g["time2"].max(), death=g["event"].max()).reset_index()
    visits = raw[["pid", "time", *VISIT_COLUMNS]].rename(columns={"time": "visit_years"})
    visits = visits[~visits["pid"].isin(NO_VISITS)]
    out.mkdir(parents=True)
    patients.to_csv(out / "patients.csv", index=False)
    visits.to_csv(out / "visits.csv", index=False)
    front = front or ("name: heartvalve\ntask_type: survival\nendpoint: {time: futime, event: death}\n"
                      "data: [patients.csv, visits.csv]\ntime_column: visit_years\n")
    (out / "TASK.md").write_text(f"---\n{front}---\nAortic valve replacement: death after surgery.\n")
    return out, patients, visits


def test_heartvalve_two_files_load_with_the_right_counts(tmp_path: Path) -> None:
    task_dir, patients, visits = _heartvalve(tmp_path / "task")
    assert (len(patients), len(visits), visits["pid"].nunique()) == (256, 964, 253)  # 20 visits of 3 patients left out
    task = load_task(task_dir)
    join = _steps(task, "join")[0]
    assert join["on"] == ["pid"] and join["one"] == "patients.csv" and join["many"] == "visits.csv"
    assert (join["rows_one"], join["rows_many"], join["rows"]) == (256, len(visits), len(visits))
    assert (join["unmatched_one"], join["unmatched_many"]) == (3, 0)
    assert len(task.frame) == len(visits) and task.frame["pid"].nunique() == 253


@pytest.mark.slow
def test_cli_runs_the_heartvalve_unit_and_visit_tables(tmp_path: Path) -> None:
    import json

    from autods.cli import run

    task_dir, patients, visits = _heartvalve(tmp_path / "task")
    code = run(["run", str(task_dir), "--budget", "2", "--runs-dir", str(tmp_path / "runs"), "--run-name", "hv", "--quiet"])
    assert code == 0
    fs = json.loads((tmp_path / "runs" / "hv" / "fact_sheet.json").read_text())
    flow = {s["step"]: s for s in fs["cohort_flow"]}
    assert flow["read patients.csv"]["n_rows"] == 256 and flow["read visits.csv"]["n_rows"] == len(visits)
    join = flow["join patients.csv to visits.csv on pid"]
    assert (join["n_rows"], join["n_units"]) == (len(visits), 253)
    assert "3 keys of patients.csv have no visits.csv row" in join["note"]
    assert fs["data"]["n_rows"] == len(visits) and fs["data"]["n_units"] == 253
    assert fs["guardrails"]["cv"]["group_column"] == "pid"  # the unit the join found groups the folds


def test_cli_ambiguous_layout_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from autods.cli import run

    task_dir, patients, visits = _heartvalve(tmp_path / "task")
    visits.assign(num_age=1.0).to_csv(task_dir / "visits.csv", index=False)  # a column in both files
    before = sorted(p.name for p in task_dir.iterdir())
    runs = tmp_path / "runs"
    assert run(["run", str(task_dir), "--budget", "2", "--runs-dir", str(runs), "--run-name", "amb", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "data files visits.csv and patients.csv both have 'num_age' besides the key (pid)" in err
    assert "join:" in err and "Fix:" in err
    assert sorted(p.name for p in task_dir.iterdir()) == before
    if (runs / "amb").exists():  # resume must refuse the same layout the same way, not crash
        assert run(["resume", str(runs / "amb"), "--quiet"]) == 2
        assert "both have 'num_age'" in capsys.readouterr().err


def _dietox() -> pd.DataFrame:
    import os

    import statsmodels

    return pd.read_csv(os.path.join(os.path.dirname(statsmodels.__file__), "regression", "tests", "results",
                                    "dietox.csv"))


def test_the_only_shared_code_column_is_the_key_whatever_its_name(tmp_path: Path) -> None:
    # statsmodels' dietox split as a farm would keep it: one row per pig, one row per weighing
    frame = _dietox()
    pigs = frame[["Pig", "Evit", "Cu", "Litter"]].drop_duplicates("Pig")
    weighings = frame[["Pig", "Time", "Feed", "Weight"]]
    task = load_task(_task(tmp_path, {"pigs.csv": pigs, "weighings.csv": weighings},
                           "task_type: regression\nendpoint: Weight\n"))
    assert len(task.frame) == len(frame) and task.frame["Evit"].notna().all()


def test_a_shared_measurement_is_never_taken_as_the_key(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = pd.DataFrame({"bmi": rng.normal(27, 4, 30).round(3), "y": rng.normal(size=30)})
    b = pd.DataFrame({"bmi": a["bmi"].repeat(2).to_numpy(), "z": rng.normal(size=60)})
    with pytest.raises(DataError, match="share no identifier column"):
        load_task(_task(tmp_path, {"a.csv": a, "b.csv": b}, "task_type: regression\nendpoint: y\n"))

"""Task specs and loaders: every malformed input is one UserInputError naming problem and fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autods.errors import DataError, TaskSpecError, UserInputError
from autods.tasks import load_task, parse_launch_md, parse_task_md


def write_task(tmp: Path, front: str, frame: pd.DataFrame | None = None, name: str = "d.csv", launch: str | None = None) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "TASK.md").write_text(f"---\n{front}\n---\nbody text\n")
    if frame is not None:
        frame.to_csv(tmp / name, index=False)
    if launch is not None:
        (tmp / "LAUNCH.md").write_text(f"---\n{launch}\n---\n")
    return tmp


BASIC = "name: t\ntask_type: binary\nendpoint: y\ndata: d.csv"


def frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n), "y": np.arange(n) % 2, "pid": np.arange(n) // 2})


def test_valid_task_loads(tmp_path: Path) -> None:
    task = load_task(write_task(tmp_path, BASIC + "\nid_column: pid", frame()))
    assert task.frame.shape == (40, 3)
    assert task.target().tolist()[:4] == [0, 1, 0, 1]
    assert task.groups()[:2].tolist() == ["0", "0"]
    assert task.feature_columns() == ["x"]
    assert task.spec.description == "body text"
    assert len(task.data_hashes["d.csv"]) == 64


def test_survival_endpoint_and_structured_target(tmp_path: Path) -> None:
    df = pd.DataFrame({"t": [5.0, 3.0, 8.0, 1.0], "e": [1, 0, 1, 0], "x": [1, 2, 3, 4]})
    task = load_task(write_task(tmp_path, "name: s\ntask_type: survival\nendpoint: {time: t, event: e}\ndata: d.csv", df))
    y = task.target()
    assert y.dtype.names == ("event", "time")
    assert y["event"].tolist() == [True, False, True, False]


def test_parquet_and_external(tmp_path: Path) -> None:
    frame().to_parquet(tmp_path / "d.parquet")
    frame(seed=1).to_csv(tmp_path / "ext.csv", index=False)
    write_task(tmp_path, "name: t\ntask_type: binary\nendpoint: y\ndata: d.parquet\nexternal: ext.csv")
    task = load_task(tmp_path)
    assert task.external is not None and len(task.external) == 40


@pytest.mark.parametrize(
    ("front", "needle"),
    [
        ("name: t\ntask_type: binary\nendpoint: y\ndata: d.csv\ncolour: red", "unknown key 'colour'"),
        ("name: t\ntask_type: binary\nendpoint: [y\ndata: d.csv", "not valid YAML"),
        ("name: t\ntask_type: binary\ndata: d.csv", "missing the required key 'endpoint'"),
        ("name: t\ntask_type: classification\nendpoint: y\ndata: d.csv", "'task_type' is invalid"),
        ("name: t\ntask_type: survival\nendpoint: y\ndata: d.csv", "survival task needs endpoint"),
        ("name: t\ntask_type: binary\nendpoint: y\ndata: d.csv\nvalidation: kfold", "'validation' is invalid"),
        ("- a\n- b", "must be a mapping"),
    ],
)
def test_bad_task_md(tmp_path: Path, front: str, needle: str) -> None:
    write_task(tmp_path, front, frame())
    with pytest.raises(TaskSpecError) as info:
        load_task(tmp_path)
    msg = str(info.value)
    assert needle in msg and "Fix:" in msg and "\n" not in msg


def test_no_front_matter_and_unclosed(tmp_path: Path) -> None:
    with pytest.raises(TaskSpecError, match="no YAML front matter"):
        parse_task_md("name: t\n", tmp_path)
    with pytest.raises(TaskSpecError, match="not closed"):
        parse_task_md("---\nname: t\n", tmp_path)


def test_missing_folder_and_task_md(tmp_path: Path) -> None:
    with pytest.raises(TaskSpecError, match="does not exist"):
        load_task(tmp_path / "nope")
    with pytest.raises(TaskSpecError, match="no TASK.md"):
        load_task(tmp_path)


def test_missing_and_unreadable_data(tmp_path: Path) -> None:
    write_task(tmp_path, BASIC)
    with pytest.raises(DataError, match="does not exist"):
        load_task(tmp_path)
    (tmp_path / "d.csv").write_bytes(b"\xff\xfe\x00garbage\x00\x81")
    with pytest.raises(DataError, match="cannot be read"):
        load_task(tmp_path)
    (tmp_path / "d.csv").write_text("")
    with pytest.raises(DataError):
        load_task(tmp_path)


def test_unsupported_format(tmp_path: Path) -> None:
    write_task(tmp_path, "name: t\ntask_type: binary\nendpoint: y\ndata: d.xlsx")
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(DataError, match="unsupported format"):
        load_task(tmp_path)


def test_empty_data(tmp_path: Path) -> None:
    write_task(tmp_path, BASIC)
    (tmp_path / "d.csv").write_text("x,y\n")
    with pytest.raises(DataError, match="no rows"):
        load_task(tmp_path)


def test_endpoint_absent_suggests_column(tmp_path: Path) -> None:
    write_task(tmp_path, "name: t\ntask_type: binary\nendpoint: Y\ndata: d.csv", frame())
    with pytest.raises(DataError, match="did you mean 'y'"):
        load_task(tmp_path)


def test_constant_endpoint(tmp_path: Path) -> None:
    df = frame().assign(y=1)
    with pytest.raises(DataError, match="constant"):
        load_task(write_task(tmp_path, BASIC, df))


def test_all_missing_endpoint(tmp_path: Path) -> None:
    df = frame().assign(y=np.nan)
    with pytest.raises(DataError, match="missing in every row"):
        load_task(write_task(tmp_path, BASIC, df))


def test_survival_time_not_positive(tmp_path: Path) -> None:
    df = pd.DataFrame({"t": [5.0, 0.0, 8.0, -1.0], "e": [1, 0, 1, 0]})
    with pytest.raises(DataError, match=r"negative in 1 row\(s\)"):
        load_task(write_task(tmp_path, "name: s\ntask_type: survival\nendpoint: {time: t, event: e}\ndata: d.csv", df))


def test_survival_without_events(tmp_path: Path) -> None:
    df = pd.DataFrame({"t": [5.0, 2.0], "e": [0, 0]})
    with pytest.raises(DataError, match="no events"):
        load_task(write_task(tmp_path, "name: s\ntask_type: survival\nendpoint: {time: t, event: e}\ndata: d.csv", df))


def test_wrong_positive_class(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="positive_class 'yes' does not occur"):
        load_task(write_task(tmp_path, BASIC + "\npositive_class: 'yes'", frame()))


def test_binary_with_three_levels(tmp_path: Path) -> None:
    df = frame().assign(y=np.arange(40) % 3)
    with pytest.raises(DataError, match="has 3 levels"):
        load_task(write_task(tmp_path, BASIC, df))


def test_named_column_absent(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="id_column names column 'patient'"):
        load_task(write_task(tmp_path, BASIC + "\nid_column: patient", frame()))


def test_rows_with_missing_endpoint_are_dropped_and_counted(tmp_path: Path) -> None:
    df = frame()
    df.loc[:4, "y"] = np.nan
    task = load_task(write_task(tmp_path, BASIC, df))
    assert task.dropped_missing_endpoint == 5 and len(task.frame) == 35


def test_positive_class_string_levels(tmp_path: Path) -> None:
    df = frame().assign(y=np.where(np.arange(40) % 2, "readmitted", "home"))
    task = load_task(write_task(tmp_path, BASIC + "\npositive_class: readmitted", df))
    assert task.target().sum() == 20 and task.target()[1] == 1


def test_launch_md_unknown_key_and_defaults(tmp_path: Path) -> None:
    with pytest.raises(TaskSpecError, match="unknown key 'budget' in LAUNCH.md"):
        parse_launch_md("---\nbudget: 3\n---\n")
    launch = parse_launch_md("---\nexit_condition: {budget: 3}\n---\n")
    assert launch.exit_condition.budget == 3 and launch.deident_policy == "drop"
    with pytest.raises(TaskSpecError, match="deident_policy"):
        parse_launch_md("---\ndeident_policy: shred\n---\n")


def test_every_user_error_is_exit_code_2() -> None:
    assert UserInputError("a", "b").exit_code == 2
    assert str(DataError("problem.", "fix it.")) == "problem. Fix: fix it."


@pytest.mark.parametrize("example", ["task-readmission", "task-breast-cancer", "task-gbsg2-survival"])
def test_bundled_examples_load(examples_dir: Path, example: str) -> None:
    task = load_task(examples_dir / example)
    assert len(task.frame) > 100 and task.dropped_missing_endpoint == 0


def test_positive_class_matches_float_read_endpoint(tmp_path: Path) -> None:
    df = frame()
    df["y"] = df["y"].astype(float)
    df.loc[0, "y"] = np.nan  # pandas now reads the column as float: 1.0
    task = load_task(write_task(tmp_path, BASIC + "\npositive_class: 1", df))
    assert task.target().sum() == 20 and task.target()[0] == 1  # row 0 (missing) was dropped

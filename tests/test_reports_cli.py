"""CLI commands of the user's path: autods init, autods report, and --help on every command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from report_check import check_report
from report_fixtures import shared_synthetic

from autods.cli import app, run
from autods.tasks.load import load_task


def test_init_scaffolds_a_task_folder_that_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "my survival study"
    assert run(["init", str(dest), "--from", "task-gbsg2-survival"]) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["TASK.md", "data"]
    task = load_task(dest)
    assert task.spec.name == "my-survival-study" and task.task_type == "survival" and len(task.frame) == 686
    assert "autods run" in capsys.readouterr().out


def test_init_copies_launch_md_and_readme_when_the_example_has_them(tmp_path: Path) -> None:
    assert run(["init", str(tmp_path / "w"), "--from", "task-wearable-biomarkers"]) == 0
    assert {"TASK.md", "LAUNCH.md", "README.md", "data"} == {p.name for p in (tmp_path / "w").iterdir()}


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    assert run(["init", str(dest), "--from", "task-breast-cancer"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already exists" in err and "Traceback" not in err
    assert [p.name for p in dest.iterdir()] == ["notes.txt"]


def test_init_unknown_example_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["init", str(tmp_path / "x"), "--from", "task-nope"]) == 2
    assert "no bundled example named 'task-nope'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_report_rerenders_from_the_run_folder(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    root = shutil.copytree(shared_synthetic("binary", tmp_path_factory.mktemp("cli-runs")), tmp_path / "run")
    for name in ("report.html", "fact_sheet.json", "model_card.md", "manifest.json"):
        (root / name).unlink()
    assert run(["report", str(root)]) == 0
    assert "report.html" in capsys.readouterr().out
    sheet = json.loads((root / "fact_sheet.json").read_text())
    _, problems = check_report((root / "report.html").read_text(), sheet)
    assert problems == []
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["command"] == sheet["run"]["command"] and manifest["data"] == sheet["provenance"]["sources"]
    assert [d["sha256"] for d in manifest["data"]] == [f["sha256"] for f in sheet["data"]["files"]]
    assert manifest["packages"]["scikit-learn"] and manifest["seeds"]["run"] == 0
    assert set(manifest["outputs"]) >= {"fact_sheet.json", "report.html", "model_card.md", "champion/model.joblib"}


def test_report_on_a_folder_that_is_not_a_run_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["report", str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted({c.name or c.callback.__name__ for c in app.registered_commands}))
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage:" in out and len(out.split("Usage:")[1].strip().splitlines()) > 2

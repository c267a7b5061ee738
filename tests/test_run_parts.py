"""Which parts of a run failed (``autods.reports.runstate.run_parts``), on hand-made run folders:
the audit log's last track line counts, a biomarker track that could not run is a failure of a
biomarker task, a track not run yet is pending while the run finishes and a failure once it has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from autods.reports.runstate import empty_state, run_failures, run_parts
from autods.runfolder import RunConfig, RunFolder


def _folder(tmp: Path, task_type: str, tracks: list[dict[str, Any]], *, report: bool = True) -> RunFolder:
    folder = RunFolder(tmp / "r")
    (folder.root / "task").mkdir(parents=True)
    endpoint = "y"
    (folder.root / "task" / "TASK.md").write_text(
        f"---\nname: t\ntask_type: {task_type}\nendpoint: {endpoint}\ndata: d.csv\n---\n")
    folder.save_config(RunConfig(name="r", task_dir=str(tmp)))
    with open(folder.audit_log, "w", encoding="utf-8") as fh:
        for t in tracks:
            fh.write(json.dumps({"type": "track", **t}) + "\n")
    if report:
        (folder.root / "report.html").write_text("<html></html>")
    return folder


def _state(results: int, failed: int, promoted: bool) -> dict[str, Any]:
    state = empty_state()
    state.update(available=True, history=[{"result_id": 1}] if promoted else [],
                 log=[{"status": "failed", "reason": "crash: ValueError: boom"}] * failed)
    state["counts"].update(total=results + failed, failed=failed)
    return state


OK_REPORT = {"job_id": "track:report", "ok": True, "record": {"status": "written"}}


def test_a_failed_report_track_is_a_failed_part(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "binary", [{"job_id": "track:validate:3", "ok": True, "record": {"status": "validated"}},
                                          {"job_id": "track:report", "ok": False, "error": "OSError: disk full"}],
                     report=False)
    parts = run_parts(folder, state=_state(4, 0, True))
    assert parts["experiments"] == {"status": "ok"} and parts["validation"] == {"status": "ok"}
    assert parts["report"]["status"] == "failed" and "disk full" in parts["report"]["cause"]
    assert "autods resume" in parts["report"]["fix"]
    assert [f["part"] for f in run_failures(parts)] == ["report"]


def test_the_last_track_line_counts_after_a_resume(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "binary", [{"job_id": "track:validate:3", "ok": False, "error": "DataError: x"},
                                          OK_REPORT, {"job_id": "track:validate:3", "ok": True,
                                                      "record": {"status": "validated"}}, OK_REPORT])
    assert run_failures(run_parts(folder, state=_state(4, 0, True))) == []


@pytest.mark.parametrize(("record", "failed"), [({"status": "run"}, False), ({"status": "not applicable",
                                                 "reason": "endpoint varies within a unit"}, True)])
def test_a_biomarker_task_needs_its_biomarker_track(tmp_path: Path, record: dict[str, Any], failed: bool) -> None:
    folder = _folder(tmp_path, "biomarker", [{"job_id": "track:biomarkers", "ok": True, "record": record},
                                             {"job_id": "track:validate:3", "ok": True, "record": {"status": "x"}},
                                             OK_REPORT])
    failures = run_failures(run_parts(folder, state=_state(4, 0, True)))
    assert [f["part"] for f in failures] == (["biomarkers"] if failed else [])
    if failed:
        assert "endpoint varies within a unit" in failures[0]["cause"]


def test_pending_while_finishing_failed_once_finished(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "binary", [], report=False)
    state = _state(3, 1, True)
    assert run_failures(run_parts(folder, final=False, state=state)) == []  # the report track reads this
    assert [f["part"] for f in run_failures(run_parts(folder, final=True, state=state))] == ["validation", "report"]


def test_no_result_means_experiments_and_validation_failed(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "binary", [OK_REPORT])
    parts = run_parts(folder, state=_state(0, 5, False))
    assert parts["experiments"]["cause"].startswith("every experiment failed (5 of 5)")
    assert "boom" in parts["experiments"]["cause"]
    assert parts["validation"]["cause"].startswith("no champion was validated")
    assert [f["part"] for f in run_failures(parts)] == ["experiments", "validation"]


@pytest.mark.parametrize("doc, done", [(None, False), ({"status": "run"}, True),
                                       ({"status": "not applicable"}, True), ({"status": "failed"}, False)])
def test_a_resumed_biomarker_run_keeps_a_finished_biomarker_track(tmp_path: Path, doc: dict[str, Any] | None,
                                                                  done: bool) -> None:
    from types import SimpleNamespace

    from autods.agents.session import Session

    folder = _folder(tmp_path, "biomarker", [{"job_id": "track:biomarkers", "ok": True, "record": {}}])
    if doc is not None:
        (folder.root / "biomarkers.json").write_text(json.dumps(doc))
    session = SimpleNamespace(folder=folder, cfg=folder.config(),
                              options=SimpleNamespace(finish=("biomarkers", "validation", "report")),
                              _task_type=lambda: "biomarker", _validate=lambda: None, _track=lambda *a: None,
                              _biomarkers_done=lambda: Session._biomarkers_done(session))
    steps = [name for name, _ in Session._finishers(session)]  # type: ignore[arg-type]
    assert ("biomarkers" in steps) is not done
    assert steps[-2:] == ["validation", "report"]  # the champion-dependent tracks always run again

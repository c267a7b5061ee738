"""Failure is loud and resumable (issue 11 §6), through the real CLI and the default local executor.

- a run whose experiments all fail exits 3 with one stderr line per failed part; the summary,
  ``autods status`` and the report's summary say so;
- a failed track (champion validation, here on a broken external file) exits 3, and after the
  fix ``autods resume`` re-runs that track and exits 0;
- an internal error exits 1 with one line naming the traceback file (in the run folder);
- a recipe a brain builds wrongly is refused back to it, and the run goes on to a champion;
- library warnings (numpy overflow in the workers, here) land in ``run.log``, not on the terminal.

The runs are real (``autods run`` with the local process pool; workers are real subprocesses);
only the judge's resample counts are lowered, through the CLI's call of ``start_run``, so each
run takes seconds of CPU rather than a minute.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from autods.agents import run as run_module
from autods.agents.run import RunOptions
from autods.cli import run as cli

FAST = RunOptions(n_resamples=0, track_resamples=20, floor_seeds=1)
FAILED_LINE = re.compile(r"^autods: failed: (\w+): .+\. Fix: .+$")


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's runs with few resamples (the options a run folder keeps for resume too)."""
    monkeypatch.setattr(run_module, "start_run", functools.partial(run_module.start_run, options=FAST))


def _cohort(rows: slice = slice(0, 200)) -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    frame = data.data.iloc[rows, :6].copy()
    frame.columns = [f"f{i}" for i in range(6)]
    frame["malignant"] = 1 - data.target.iloc[rows].to_numpy()
    return frame.reset_index(drop=True)


def _task(root: Path, frame: pd.DataFrame, extra: str = "") -> Path:
    (root / "data").mkdir(parents=True)
    frame.to_csv(root / "data" / "d.csv", index=False)
    (root / "TASK.md").write_text("---\nname: cohort\ntask_type: binary\nendpoint: malignant\npositive_class: 1\n"
                                  f"data: data/d.csv\n{extra}---\nBreast-cancer nuclei, one row per tumour.\n")
    return root


@contextmanager
def _terminal() -> Iterator[dict[str, str]]:
    """Capture file descriptors 1 and 2 (the worker processes inherit them): what a user's
    terminal would show, including anything a worker prints."""
    out: dict[str, str] = {}
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    files = {fd: tempfile.TemporaryFile(mode="w+b") for fd in (1, 2)}
    try:
        for fd, fh in files.items():
            os.dup2(fh.fileno(), fd)
        yield out
    finally:
        for fd, fh in files.items():
            os.dup2(saved[fd], fd)
            os.close(saved[fd])
            fh.seek(0)
            out["stdout" if fd == 1 else "stderr"] = fh.read().decode("utf-8", "replace")
            fh.close()


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with _terminal() as term:
        code = cli(args)
    out, err = capsys.readouterr()
    return code, term["stdout"] + out, term["stderr"] + err


def _run(task: Path, runs: Path, name: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return _cli(["run", str(task), "--runs-dir", str(runs), "--run-name", name, "--budget", "2", "--quiet"], capsys)


def _failed_parts(stderr: str) -> list[str]:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert all(FAILED_LINE.match(ln) for ln in lines), stderr  # nothing else: no traceback, no warning
    return [FAILED_LINE.match(ln).group(1) for ln in lines]  # type: ignore[union-attr]


@pytest.mark.slow
def test_every_experiment_failed_exits_3_and_says_so_everywhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = _cohort()
    frame.loc[frame.index[::3], "f0"] = np.inf  # every fit refuses infinite inputs
    task = _task(tmp_path / "task", frame)
    code, _, err = _run(task, tmp_path / "runs", "r", capsys)
    assert code == 3, err
    assert _failed_parts(err) == ["experiments", "validation"]
    assert "infinity" in err  # the cause is named, not just "failed"

    root = tmp_path / "runs" / "r"
    summary = json.loads((root / "run_summary.json").read_text())
    assert summary["status"] == "failed"
    assert summary["parts"]["experiments"]["status"] == "failed"
    assert summary["parts"]["validation"]["status"] == "failed"
    assert summary["parts"]["report"]["status"] == "ok"
    assert [f["part"] for f in summary["failures"]] == ["experiments", "validation"]
    assert json.loads((root / "run.json").read_text())["status"] == "failed"

    code, out, _ = _cli(["status", str(root)], capsys)
    assert code == 0 and "finished with failures" in out and "every experiment failed" in out
    code, out, _ = _cli(["status", str(root), "--json"], capsys)
    assert [f["part"] for f in json.loads(out)["failures"]] == ["experiments", "validation"]

    page = (root / "report.html").read_text()
    summary_html = page[page.index('<section id="summary">'):]
    assert summary_html.index("This run finished with failures") < summary_html.index("No champion was validated")
    assert "every experiment failed" in summary_html[:summary_html.index("</section>")]
    from report_check import check_report

    _, problems = check_report(page, json.loads((root / "fact_sheet.json").read_text()))
    assert problems == []  # the failure text comes from the fact sheet, like every other value
    card = (root / "model_card.md").read_text()
    assert card.index("This run finished with failures") < card.index("## Model details")
    assert "**experiments**: every experiment failed" in card
    from autods.reports.factsheet import validate_fact_sheet

    validate_fact_sheet(json.loads((root / "fact_sheet.json").read_text()))  # run.failures is declared


@pytest.mark.slow
def test_failed_track_exits_3_and_resume_reruns_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    external = _cohort(slice(400, 520))
    task = _task(tmp_path / "task", _cohort(), extra="external: data/ext.csv\n")
    external.drop(columns=["f3"]).to_csv(task / "data" / "ext.csv", index=False)  # the user's broken file
    code, _, err = _run(task, tmp_path / "runs", "r", capsys)
    assert code == 3, err
    assert _failed_parts(err) == ["validation"]
    assert "f3" in err and "autods resume" in err
    root = tmp_path / "runs" / "r"
    summary = json.loads((root / "run_summary.json").read_text())
    assert summary["champion"] is not None and summary["parts"]["validation"]["status"] == "failed"
    assert not (root / "validation.json").exists()

    external.to_csv(task / "data" / "ext.csv", index=False)  # fixed
    code, _, err = _cli(["resume", str(root), "--quiet"], capsys)
    assert code == 0, err
    assert err.strip() == ""
    summary = json.loads((root / "run_summary.json").read_text())
    assert summary["status"] == "ok" and summary["failures"] == []
    assert json.loads((root / "validation.json").read_text())["external"]["value"] > 0.8
    validations = [json.loads(ln) for ln in (root / "audit.jsonl").read_text().splitlines()
                   if '"track:validate:' in ln and '"type": "track"' in ln]
    assert [v["ok"] for v in validations] == [False, True]  # re-run once, by resume
    assert "This run finished with failures" not in (root / "report.html").read_text()
    code, _, _ = _cli(["resume", str(root), "--quiet"], capsys)
    assert code == 0  # a run without failures is left as it is


def test_internal_error_exits_1_with_one_line_and_a_traceback_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from autods.agents import session

    def planted(self: object) -> None:
        raise ZeroDivisionError("planted bug")

    monkeypatch.setattr(session.Session, "run", planted)
    code, _, err = _run(_task(tmp_path / "task", _cohort()), tmp_path / "runs", "r", capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "bug" in lines[0] and "planted bug" in lines[0]
    path = Path(re.search(r"traceback written to (\S+?)\.? ", lines[0]).group(1))  # type: ignore[union-attr]
    assert path.parent == tmp_path / "runs" / "r" / "errors" and path.is_file()
    assert "ZeroDivisionError: planted bug" in path.read_text() and "Traceback" in path.read_text()
    code, out, _ = _cli(["status", str(tmp_path / "runs" / "r")], capsys)
    assert code == 0 and "internal error" in out


def test_internal_error_before_the_run_folder_goes_to_a_temp_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def planted(*_a: object, **_k: object) -> None:
        raise KeyError("planted")

    monkeypatch.setattr(run_module, "materialise", planted)
    code, _, err = _run(_task(tmp_path / "task", _cohort()), tmp_path / "runs", "r", capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    path = Path(re.search(r"traceback written to (\S+?)\.? ", err).group(1))  # type: ignore[union-attr]
    assert path.is_file() and "KeyError" in path.read_text()
    path.unlink()
    assert not (tmp_path / "runs" / "r").exists()


@pytest.fixture(scope="module")
def brain_and_warnings_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One run for the two tests below: every analyst proposal carries a parameter its family
    does not have (the real case: "family 'coxnet' has no parameter 'ties'"), and one feature
    is so large that the scaler's variance overflows in the worker processes."""
    import importlib

    analyst = importlib.import_module("autods.agents.expert.analyst")  # the package exports a function of that name
    tmp = tmp_path_factory.mktemp("brain")
    frame = _cohort()
    frame["f1"] = frame["f1"] * 1e153  # squares overflow; lbfgs fails to converge; fits still finish
    task = _task(tmp / "task", frame)
    original = analyst._proposal

    def invalid(obs: object, recipe: dict, why: str, mode: str) -> object:
        return original(obs, {**recipe, "params": {**recipe.get("params", {}), "ties": "efron"}}, why, mode)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(analyst, "_proposal", invalid)
        mp.setattr(run_module, "start_run", functools.partial(run_module.start_run, options=FAST))
        with _terminal() as term:
            # budget 6: the baseline (trivial, default, its confirmation) leaves room for the analysts
            code = cli(["run", str(task), "--runs-dir", str(tmp / "runs"), "--run-name", "r", "--budget", "6", "--quiet"])
    return {"code": code, "root": tmp / "runs" / "r", **term}


@pytest.mark.slow
def test_brain_proposal_with_an_invalid_parameter_is_refused_as_feedback(brain_and_warnings_run: dict) -> None:
    run = brain_and_warnings_run
    assert run["code"] == 0, run["stderr"]
    root: Path = run["root"]  # type: ignore[assignment]
    summary = json.loads((root / "run_summary.json").read_text())
    assert summary["champion"] is not None and summary["status"] == "ok"
    steps = [json.loads(ln) for ln in (root / "audit.jsonl").read_text().splitlines() if '"agent_step"' in ln]
    refused = [s for s in steps if s["role"] == "analyst" and not s["ok"]
               and "has no parameter 'ties'" in (s["feedback"] or "")]
    assert refused and refused[0]["feedback"].startswith("proposal refused:")
    from autods.agents.status import run_status

    assert run_status(root)["failures"] == []
    from autods.reports.runstate import read_state

    assert read_state(run_module.RunFolder(root))["discussion"]["posts"].get("note", 0) >= 1  # told on the forum


@pytest.mark.slow
def test_library_warnings_go_to_the_run_log_not_the_terminal(brain_and_warnings_run: dict) -> None:
    run = brain_and_warnings_run
    terminal = str(run["stderr"]) + str(run["stdout"])
    assert "Warning" not in terminal and "overflow" not in terminal, terminal[:2000]
    log = (Path(run["root"]) / "run.log").read_text()  # type: ignore[arg-type]
    assert "RuntimeWarning: overflow" in log
    pids = set(re.findall(r"pid=(\d+) .*RuntimeWarning: overflow", log))
    assert pids - {str(os.getpid())}, "no worker process logged its warnings"

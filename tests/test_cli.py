"""The CLI contract: exit 0 on success, exit 2 with one stderr line (problem + fix) on bad input,
never a traceback, and nothing written into the task folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autods.cli import run


def _task(tmp: Path, front: str, frame: pd.DataFrame | None) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "TASK.md").write_text(f"---\n{front}\n---\n")
    if frame is not None:
        frame.to_csv(tmp / "d.csv", index=False)
    return tmp


GOOD = pd.DataFrame({"x": np.arange(60) % 7, "y": np.arange(60) % 2})


@pytest.mark.parametrize(
    ("front", "frame", "needle"),
    [
        ("name: t\ntask_type: binary\nendpoint: y\ndata: d.csv\nfoo: 1", GOOD, "unknown key 'foo'"),
        ("name: t\ntask_type: binary\nendpoint: y\ndata: missing.csv", GOOD, "does not exist"),
        ("name: t\ntask_type: binary\nendpoint: z\ndata: d.csv", GOOD, "endpoint column 'z'"),
        ("name: t\ntask_type: binary\nendpoint: y\ndata: d.csv", GOOD.assign(y=0), "constant"),
        ("name: t\ntask_type: binary\nendpoint: y\ndata: d.csv\nendpoint: [", GOOD, "not valid YAML"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], front: str, frame: pd.DataFrame, needle: str) -> None:
    task = _task(tmp_path / "task", front, frame)
    before = sorted(p.name for p in task.iterdir())
    code = run(["check", str(task), "--no-baseline"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert needle in err and "Fix:" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert sorted(p.name for p in task.iterdir()) == before


def test_missing_task_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["check", str(tmp_path / "absent")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_unknown_command_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["frobnicate"]) == 2


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["version"]) == 0
    assert capsys.readouterr().out.strip() == "0.1.0"


def test_entry_point_subprocess_has_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "autods.cli", "check", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_unknown_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["demo", "--example", "nope"]) == 2
    assert "task-readmission" in capsys.readouterr().err


def test_serve_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["serve"]) == 2
    assert "needs a run folder or --state" in capsys.readouterr().err
    assert run(["serve", "--state", f"sqlite:///{tmp_path}/s.db", "--host", "0.0.0.0", "--no-tokens"]) == 2
    assert "without tokens" in capsys.readouterr().err
    assert run(["serve", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_serve_answers_over_a_real_socket(tmp_path: Path) -> None:
    import socket
    import time

    import httpx

    from autods.runfolder import RunConfig, RunFolder
    from autods.server.service import Service
    from autods.state.store import Store

    folder = RunFolder(tmp_path / "run")
    folder.root.mkdir()
    folder.save_config(RunConfig(name="r", task_dir=str(tmp_path)))
    Service(Store.open(folder.state_url)).create_run("r")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "autods.cli", "serve", str(folder.root), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                doc = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2).json()
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.3)
        assert "/api/runs" in doc["paths"]
        assert httpx.get(f"http://127.0.0.1:{port}/api/runs", timeout=5).status_code == 200  # loopback: open board
    finally:
        proc.terminate()
        proc.communicate(timeout=30)  # also closes the pipes

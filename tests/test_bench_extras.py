"""bench/*.py that need an extra name it in one line (exit 2) instead of ending in a traceback
(issue 14 "Checked by"): run with the extras' packages hidden from the import system."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Runs the script as __main__ with the extras' packages (flaml/autogluon/xgboost of the bench
# extra, SurvSet of the dev extra) made unfindable, as on a machine without them; the check must
# stop it before anything runs.
HIDE = """
import importlib.util, runpy, sys
real = importlib.util.find_spec
def find_spec(name, *args):
    if name.split('.')[0] in ('flaml', 'autogluon', 'xgboost', 'SurvSet'):
        return None
    return real(name, *args)
importlib.util.find_spec = find_spec
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""


@pytest.mark.parametrize(("args", "extra", "package"), [
    (["bench/quality.py"], "bench", "flaml"),
    # bench/team.py needs no bench extra; its SurvSet cohorts need the dev extra
    (["bench/team.py", "--cohorts", "wdbc,prostate"], "dev", "SurvSet"),
])
def test_missing_extra_prints_one_line(args: list[str], extra: str, package: str) -> None:
    done = subprocess.run([sys.executable, "-c", HIDE, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr == ""
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"pip install -e '.[{extra}]'" in lines[0] and package in lines[0]

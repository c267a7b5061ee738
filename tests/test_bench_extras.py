"""bench/*.py that need the bench extra name it in one line (exit 2) instead of ending in a
traceback (issue 14 "Checked by"): run with the extra's packages hidden from the import system."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Runs the script as __main__ with flaml/autogluon/xgboost made unfindable, as on a machine
# without the extra; the check must stop it before any other import.
HIDE = """
import importlib.util, runpy, sys
real = importlib.util.find_spec
def find_spec(name, *args):
    if name.split('.')[0] in ('flaml', 'autogluon', 'xgboost'):
        return None
    return real(name, *args)
importlib.util.find_spec = find_spec
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name='__main__')
"""


@pytest.mark.parametrize("script", ["bench/team.py", "bench/quality.py"])
def test_missing_bench_extra_prints_one_line(script: str) -> None:
    done = subprocess.run([sys.executable, "-c", HIDE, script], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr == ""
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, lines
    assert "pip install -e '.[bench]'" in lines[0] and "flaml" in lines[0]

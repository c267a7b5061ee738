"""Issue-2 judge benchmarks in one command: (a) judge overhead vs plain cross_val_predict,
(b) vectorised vs per-resample bootstrap CI of AUROC. Each part prints its own ratio.

Run: ``.venv/bin/python bench/judge.py`` (about 10 minutes on 2 cores); pass ``--quick``
for a 20,000-row smoke run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    parts = [
        ("(a) judge overhead", [sys.executable, str(HERE / "judge_overhead.py")] + (["--rows", "20000"] if quick else [])),
        ("(b) bootstrap CI of AUROC", [sys.executable, str(HERE / "judge_bootstrap.py")] + (["--rows", "20000"] if quick else [])),
    ]
    code = 0
    for title, cmd in parts:
        print(f"== {title}: {' '.join(Path(c).name if c.endswith('.py') else c for c in cmd[1:])}", flush=True)
        code |= subprocess.run(cmd, check=False).returncode
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

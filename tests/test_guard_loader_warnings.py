"""What the loader decided for the user (zero follow-up rows dropped) becomes a warning finding.

Real cohort: lifelines' Rossi recidivism data (432 rows), with three follow-up times set to 0.
"""

from __future__ import annotations

from pathlib import Path

from lifelines.datasets import load_rossi

from autods.guard.govern import govern
from autods.tasks import load_task


def test_zero_follow_up_drop_is_a_warning_finding(tmp_path: Path) -> None:
    frame = load_rossi()
    frame.loc[[3, 30, 300], "week"] = 0
    frame.to_csv(tmp_path / "rossi.csv", index=False)
    (tmp_path / "TASK.md").write_text("---\nname: rossi\ntask_type: survival\nendpoint: {time: week, event: arrest}\n"
                                      "data: rossi.csv\n---\nRecidivism.\n")
    task = load_task(tmp_path)
    gov = govern(task)
    warned = [f for f in gov.findings if f.check == "survival_time"]
    assert len(task.frame) == 429 and len(warned) == 1
    assert warned[0].severity.value == "warning" and "3" in warned[0].message

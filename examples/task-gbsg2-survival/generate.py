"""Export the German Breast Cancer Study Group 2 cohort (686 patients) bundled with scikit-survival.

Endpoint: recurrence-free survival (``time`` in days, ``event`` 1 = recurrence or death).
Run: ``python examples/task-gbsg2-survival/generate.py``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sksurv.datasets import load_gbsg2


def generate() -> pd.DataFrame:
    x, y = load_gbsg2()
    frame = pd.DataFrame(x).copy()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].astype(str)
    frame["time"] = y["time"]
    frame["event"] = y["cens"].astype(int)
    return frame


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "data" / "gbsg2.csv"
    generate().to_csv(out, index=False)
    print(f"wrote {out}")

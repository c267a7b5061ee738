"""Export scikit-learn's bundled Wisconsin breast-cancer data (569 x 30) as this task's CSV.

The diagnosis is coded ``malignant`` = 1, the positive class. Offline: the data ships inside
scikit-learn. Run: ``python examples/task-breast-cancer/generate.py``.
"""

from __future__ import annotations

from pathlib import Path

from sklearn.datasets import load_breast_cancer


def generate():
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace(" ", "_"))
    # sklearn codes benign = 1; the clinical question is malignancy, so recode it as the event
    frame["malignant"] = 1 - frame.pop("target")
    return frame


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "data" / "breast_cancer.csv"
    generate().to_csv(out, index=False)
    print(f"wrote {out}")

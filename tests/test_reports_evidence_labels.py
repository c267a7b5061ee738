"""The confusion matrix of a multiclass champion with integer labels (sklearn's wine cultivars 0/1/2
crashed the validation track: "unknown is not supported")."""

from __future__ import annotations

import numpy as np

from autods.reports.evidence import curves


def test_integer_labels_and_float_classes_match_by_value() -> None:
    y = np.array([0, 1, 2, 1, 0], dtype=object)  # as the validation track holds them
    pred = np.eye(3)[[0, 1, 2, 2, 0]]
    for classes in ([0, 1, 2], [0.0, 1.0, 2.0], np.array([0, 1, 2])):
        got = curves("multiclass", y, pred, classes=classes)["confusion"]
        assert got["matrix"] == [[2, 0, 0], [0, 1, 1], [0, 0, 1]]


def test_text_labels() -> None:
    y = np.array(["a", "b", "c", "b", "a"], dtype=object)
    got = curves("multiclass", y, np.eye(3)[[0, 1, 2, 2, 0]], classes=["a", "b", "c"])["confusion"]
    assert got == {"labels": ["a", "b", "c"], "matrix": [[2, 0, 0], [0, 1, 1], [0, 0, 1]]}

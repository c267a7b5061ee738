"""SHAP in the validation: computed on narrow models, skipped with a stated reason on wide ones.

The permutation explainer needs at least 2p + 1 model calls per explained row; a gene-expression
cohort with hundreds of inputs used to end the whole validation with shap's own ValueError.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autods.reports.importance import MAX_SHAP_INPUTS, shap_importances
from autods.runners.pipeline import RecipeRunner, TrainingData


def _runner(p: int, seed: int = 0) -> tuple[RecipeRunner, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(120, p)), columns=[f"g{j}" for j in range(p)])
    y = (frame["g0"] + rng.normal(scale=0.5, size=120) > 0).astype(int).to_numpy()
    data = TrainingData(frame, y, "binary", tuple(frame.columns), None, None)
    return RecipeRunner().fit(data, {"family": "logistic"}), frame


def test_wide_model_skips_shap_with_the_reason() -> None:
    pytest.importorskip("shap")
    runner, frame = _runner(MAX_SHAP_INPUTS + 20)
    out = shap_importances(runner, frame, seed=0, max_rows=20)
    assert out is not None and "features" not in out
    assert f"{MAX_SHAP_INPUTS + 20} inputs" in out["skipped"]


def test_narrow_model_gets_shap_values_led_by_the_signal() -> None:
    pytest.importorskip("shap")
    runner, frame = _runner(4)
    out = shap_importances(runner, frame, seed=0, max_rows=40)
    assert out is not None and "skipped" not in out
    assert out["features"][0]["feature"] == "g0"

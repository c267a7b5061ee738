"""The champion model as a user gets it back: ``autods.load_model(run_dir)``.

:class:`ChampionModel` takes a DataFrame with the task's **raw** columns (as in the data
file) and applies the whole fitted pipeline: the recorded de-identification actions (PHI
columns dropped; a hashed unit id may be given raw, it only groups rows), the exclusions,
then the recipe's preprocessing and model. Conventions follow scikit-learn and
scikit-survival:

* classification: ``predict_proba(frame)`` -> ``n x n_classes`` (columns in ``classes_``
  order, original labels), ``predict(frame)`` -> labels;
* regression: ``predict(frame)`` -> values;
* survival: ``predict(frame)`` -> risk score (higher = earlier event),
  ``predict_survival_function(frame, times)`` -> ``n x len(times)`` S(t).

The file is a pickle (joblib): load only run folders you trust.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autods.errors import UserInputError

__all__ = ["MODEL_FILE", "MODEL_FULL_FILE", "ChampionModel", "load_model", "save_model"]

#: the champion exactly as the held-out test scored it (fitted on the development rows)
MODEL_FILE = "model.joblib"
#: the same recipe refitted on every row once the held-out test was scored: the model to use
MODEL_FULL_FILE = "model_full.joblib"


class ChampionModel:
    """A fitted champion plus what it takes to apply it to raw rows (see the module docstring).

    Attributes: ``runner_`` (fitted :class:`~autods.runners.RecipeRunner`), ``task_type_``,
    ``kind_``, ``classes_`` (original labels, classification), ``feature_names_in_`` (raw
    columns required), ``recipe_``, ``experiment_id_``, ``metric_``, ``governance_`` (the
    recorded actions, never values), ``event_times_`` (survival: training event times).
    """

    def __init__(self, runner: Any, *, task_type: str, classes: list[Any] | None, experiment_id: str,
                 metric: str, governance: dict[str, Any], unit_column: str | None,
                 event_times: np.ndarray | None = None) -> None:
        self.runner_ = runner
        self.task_type_ = task_type
        self.kind_ = runner.kind_
        self.classes_ = None if classes is None else list(classes)
        self.feature_names_in_ = [str(c) for c in runner.feature_names_in_]
        self.recipe_ = runner.recipe_.canonical_dict()
        self.experiment_id_ = str(experiment_id)
        self.metric_ = metric
        self.governance_ = governance
        self.unit_column_ = unit_column
        self.event_times_ = event_times

    def __repr__(self) -> str:
        return (f"ChampionModel(experiment={self.experiment_id_!r}, family={self.recipe_['family']!r}, "
                f"task_type={self.task_type_!r}, inputs={len(self.feature_names_in_)})")

    # -- raw rows -> the governed inputs the pipeline was fitted on ---------------------------

    def _order_columns(self) -> list[str]:
        # Per-unit history composites group rows by the unit id and order them by the time
        # column; nothing else reads them (older pickles know no time column).
        composites = self.runner_.pipeline_.named_steps["prep"].named_steps["composites"]
        if self.unit_column_ is None or composites.unit_column is None:
            return []
        cols = [str(self.unit_column_), getattr(composites, "time_column", None)]
        return [c for c in dict.fromkeys(cols) if c is not None and c not in self.feature_names_in_]

    def _shifted(self) -> set[str]:
        return {a["column"] for a in self.governance_.get("actions", []) if a.get("action") == "date_shifted"}

    def governed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Apply the recorded governance to raw rows and keep the model's inputs."""
        if not isinstance(frame, pd.DataFrame):
            raise UserInputError(f"expected a pandas DataFrame, got {type(frame).__name__}",
                                 "pass the rows as a DataFrame with the task's raw columns")
        needed = list(self.feature_names_in_) + self._order_columns()
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise UserInputError(f"the rows lack the model input column(s): {', '.join(missing[:10])}",
                                 f"pass a DataFrame with the task's raw columns, including {missing[0]!r}")
        blocked = sorted(self._shifted() & set(self.feature_names_in_))
        if blocked:
            raise UserInputError(f"model input {blocked[0]!r} was date-shifted per patient during de-identification",
                                 "score rows from the run's governed dataset (analytic/frame.parquet) instead")
        dropped = {a["column"] for a in self.governance_.get("actions", []) if a.get("action") == "dropped"}
        out = frame.drop(columns=[c for c in frame.columns if c in dropped and c not in needed])
        # The unit id is hashed in the governed data, but the pipeline only groups rows by it
        # (per-unit composites), so raw ids group identically; a per-patient date shift keeps
        # the order of a patient's rows, so raw times order them identically too.
        return out[needed].reset_index(drop=True)

    # -- predictions ----------------------------------------------------------------------------

    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.runner_.predict_score(self.governed(frame)))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order (classification only)."""
        if self.kind_ == "binary":
            p = self._score(frame)
            return np.column_stack([1.0 - p, p])
        if self.kind_ == "multiclass":
            return self._score(frame)
        raise UserInputError(f"predict_proba is for classification; this is a {self.task_type_} model",
                             "use predict()" + (" or predict_survival_function()" if self.kind_ == "survival" else ""))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Labels (classification), values (regression) or risk scores (survival, higher = earlier)."""
        if self.kind_ in ("binary", "multiclass"):
            proba = self.predict_proba(frame)
            return np.asarray(self.classes_, dtype=object)[np.argmax(proba, axis=1)]
        return self._score(frame)

    def predict_survival_function(self, frame: pd.DataFrame, times: Any = None) -> np.ndarray:
        """S(t) per row at ``times`` (default: the training event times); survival only."""
        if self.kind_ != "survival":
            raise UserInputError(f"predict_survival_function is for survival; this is a {self.task_type_} model",
                                 "use predict() or predict_proba()")
        grid = self.event_times_ if times is None else np.asarray(times, dtype=float)
        return self.runner_.predict_survival_function(self.governed(frame), grid)


def save_model(model: ChampionModel, directory: Path, name: str = MODEL_FILE) -> Path:
    """Write ``directory/name`` atomically (a crash never leaves half a model)."""
    import os
    import tempfile

    import joblib

    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".model.", dir=directory)
    os.close(fd)
    try:
        joblib.dump(model, tmp)
        os.replace(tmp, directory / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return directory / name


def load_model(run_dir: str | Path, which: str = "full") -> ChampionModel:
    """The validated champion of ``runs/NAME`` (written by the validation step).

    ``which="full"`` (default): the champion recipe refitted on every row of the data, development
    and held-out, after the held-out test was scored once; the report's figures describe the same
    recipe fitted on the development rows, so they estimate how this model performs. ``"tested"``:
    exactly the fitted model the held-out test scored. A run without a held-out split has only one
    model, fitted on every row, and both names return it.
    """
    import joblib

    if which not in ("full", "tested"):
        raise UserInputError(f"load_model(which={which!r}) is not a model of a run", "use which='full' or which='tested'")
    folder = Path(run_dir) / "champion"
    path = folder / MODEL_FULL_FILE if which == "full" and (folder / MODEL_FULL_FILE).is_file() else folder / MODEL_FILE
    if not path.is_file():
        raise UserInputError(f"no champion model at {path}",
                             "finish the run (autods run / autods resume): the model is saved when the champion is validated")
    model = joblib.load(path)
    if not isinstance(model, ChampionModel):
        raise UserInputError(f"{path} does not hold an autods champion model", "re-run the validation step")
    return model

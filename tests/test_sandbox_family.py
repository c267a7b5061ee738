"""The ``code`` family: canonical hashing, fail-closed refusal, and scoring through the judge.

A code estimator wrapping the same scikit-learn model as a recipe must get the recipe's CV
score (the judge's folds and metric are the same code path), and a pickled champion must
predict in a fresh sandbox after a reload.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from autods.errors import RecipeError
from autods.execution import sandbox
from autods.execution.sandbox import INSTALL_FIX, Limits, SandboxRefused, bwrap_argv
from autods.runners import Recipe, RecipeRunner, evaluate
from autods.runners.code_family import CodeEstimator, code_manifest
from autods.tasks import load_task

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")

LOGISTIC = """
from sklearn.linear_model import LogisticRegression

class Model:
    def fit(self, X, y):
        self.m = LogisticRegression(C=1.0, l1_ratio=0.0, max_iter=2000, random_state=0).fit(X, y)
        return self

    def predict_proba(self, X):
        return self.m.predict_proba(X)
"""

FEATURES = """
import numpy as np

class Features:
    def fit(self, X, y):
        self.cols = [c for c in X.columns][:3]
        return self

    def transform(self, X):
        base = X.to_numpy()
        return np.column_stack([base, base[:, :3] ** 2])
"""


def code(source: str = LOGISTIC, **params: object) -> Recipe:
    return Recipe(family="code", params={"source": source, **params})


# --- canonical recipe --------------------------------------------------------------------------


def test_comments_and_layout_do_not_change_the_hash() -> None:
    reformatted = "# a comment\n" + LOGISTIC.replace("C=1.0, l1_ratio", "C = 1.0,  l1_ratio") + "\n\n# trailing\n"
    assert code(reformatted).canonical_hash() == code(LOGISTIC).canonical_hash()
    assert code(LOGISTIC.replace("C=1.0", "C=0.5")).canonical_hash() != code(LOGISTIC).canonical_hash()
    # defaults written out or left implicit are one recipe
    assert code(entry="Model", role="estimator", contract=1).canonical_hash() == code().canonical_hash()


@pytest.mark.parametrize(("params", "words"), [
    ({"source": "class Model(:\n  pass"}, "does not parse (SyntaxError at line 1"),
    ({"source": "x = 1"}, "no top-level class 'Model'"),
    ({"source": LOGISTIC, "contract": 2}, "contract 2 is not supported"),
    ({"source": LOGISTIC, "role": "judge"}, "role 'judge' is unknown"),
    ({"source": FEATURES, "entry": "Features", "role": "transformer"}, "needs params.then"),
    ({"source": FEATURES, "entry": "Features", "role": "transformer", "then": "code"}, "needs params.then"),
    ({"source": LOGISTIC, "then": "logistic"}, "only for role 'transformer'"),
    ({}, "needs params.source"),
])
def test_bad_code_recipes_are_one_line_recipe_errors(params, words) -> None:
    with pytest.raises(RecipeError) as info:
        Recipe(family="code", params=params)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_transformer_params_are_checked_by_the_then_family() -> None:
    with pytest.raises(RecipeError, match="family 'logistic' has no parameter 'alpha'"):
        code(FEATURES, entry="Features", role="transformer", then="logistic", then_params={"alpha": 1.0})


def test_manifest_entry_carries_source_and_sha256() -> None:
    import hashlib

    entry = code_manifest(code("# note\n" + LOGISTIC))
    assert entry is not None and entry["contract"] == 1 and entry["role"] == "estimator"
    assert entry["sha256"] == hashlib.sha256(entry["source"].encode()).hexdigest()
    assert "# note" not in entry["source"] and code_manifest(Recipe(family="logistic")) is None


# --- through the judge -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bc_task(tmp_path_factory: pytest.TempPathFactory):
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.sample(250, random_state=0)  # small: the sandbox is what is tested
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame["malignant"] = 1 - frame.pop("target")
    root = tmp_path_factory.mktemp("bc")
    (root / "data.csv").write_text(frame.to_csv(index=False))
    (root / "TASK.md").write_text("---\nname: bc\ntask_type: binary\nendpoint: malignant\ndata: data.csv\n---\nx\n")
    return load_task(root)


@needs_bwrap
def test_code_logistic_scores_like_the_logistic_recipe(bc_task) -> None:
    recipe = evaluate(bc_task, Recipe(family="logistic"), n_resamples=50, repeats=1)
    coded = evaluate(bc_task, code(), n_resamples=50, repeats=1)
    assert coded.fold_keys == recipe.fold_keys and coded.metric == "auroc"
    assert abs(coded.value - recipe.value) < 1e-9
    np.testing.assert_allclose(coded.fold_scores, recipe.fold_scores, rtol=0, atol=1e-9)
    np.testing.assert_allclose(coded.oof.pred, recipe.oof.pred, rtol=0, atol=1e-9)
    assert coded.recipe_hash == code("# same model\n" + LOGISTIC).canonical_hash()


@needs_bwrap
def test_transformer_then_logistic_matches_the_same_features_in_the_parent(bc_task) -> None:
    from sklearn.linear_model import LogisticRegression

    data = bc_task.frame[bc_task.feature_columns()].iloc[:200]
    y = bc_task.target(bc_task.frame)[:200]
    runner = RecipeRunner()
    from autods.runners.pipeline import TrainingData

    train = TrainingData(data, y, "binary", tuple(data.columns))
    runner.fit(train, code(FEATURES, entry="Features", role="transformer", then="logistic"))
    Z = runner.pipeline_[:-1].transform(data)
    Zt = np.column_stack([Z, Z[:, :3] ** 2])
    want = LogisticRegression(C=1.0, l1_ratio=0.0, max_iter=2000, random_state=0).fit(Zt, y).predict_proba(Zt)[:, 1]
    np.testing.assert_allclose(runner.predict_score(data), want, rtol=0, atol=1e-9)


@needs_bwrap
def test_pickled_code_model_predicts_in_a_fresh_sandbox(bc_task, tmp_path) -> None:
    data = bc_task.frame[bc_task.feature_columns()]
    from autods.runners.pipeline import TrainingData

    runner = RecipeRunner().fit(TrainingData(data, bc_task.target(bc_task.frame), "binary", tuple(data.columns)), code())
    before = runner.predict_score(data)
    assert isinstance(runner.pipeline_[-1].model_, bytes) and "autods_code" not in sys.modules
    joblib.dump(runner, tmp_path / "m.joblib")
    sandbox.shutdown_sandbox()  # as in a new process: nothing warm survives
    again = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(again.predict_score(data), before)


def _runner_pair(task_type: str, frame: pd.DataFrame, y: object, family: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    from autods.runners.pipeline import TrainingData

    data = TrainingData(frame, y, task_type, tuple(frame.columns))
    recipe = RecipeRunner().fit(data, Recipe(family=family)).predict_score(frame)
    coded = RecipeRunner().fit(data, code(source)).predict_score(frame)
    return recipe, coded


@needs_bwrap
def test_regression_code_matches_the_ridge_recipe() -> None:
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    source = ("from sklearn.linear_model import Ridge\nclass Model:\n    def fit(self, X, y):\n"
              "        self.m = Ridge(alpha=1.0).fit(X, y)\n        return self\n"
              "    def predict(self, X):\n        return self.m.predict(X)\n")
    recipe, coded = _runner_pair("regression", X, y.to_numpy(), "ridge", source)
    np.testing.assert_allclose(coded, recipe, rtol=0, atol=1e-9)


@needs_bwrap
def test_survival_code_gets_a_structured_y_and_matches_the_cox_recipe() -> None:
    from sksurv.datasets import load_whas500

    X, y = load_whas500()
    X = X[["age", "bmi", "hr", "sysbp", "diasbp"]].astype(float).iloc[:250]
    y = y[:250]
    source = ("from sksurv.linear_model import CoxPHSurvivalAnalysis\nclass Model:\n    def fit(self, X, y):\n"
              "        assert y.dtype.names == ('event', 'time'), y.dtype.names\n"
              "        self.m = CoxPHSurvivalAnalysis(alpha=0.01, ties='efron', n_iter=100).fit(X, y)\n        return self\n"
              "    def predict(self, X):\n        return self.m.predict(X)\n")
    from sksurv.util import Surv

    y = Surv.from_arrays(event=y["fstat"], time=y["lenfol"], name_event="event", name_time="time")
    recipe, coded = _runner_pair("survival", X, y, "cox", source)
    np.testing.assert_allclose(coded, recipe, rtol=0, atol=1e-9)


@needs_bwrap
def test_multiclass_code_gets_coded_labels_and_matches_the_logistic_recipe() -> None:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    labels = np.asarray(["setosa", "versicolor", "virginica"], dtype=object)[y.to_numpy()]
    source = LOGISTIC.replace("self.m = ", "assert sorted(set(y.tolist())) == [0, 1, 2]\n        self.m = ")
    recipe, coded = _runner_pair("multiclass", X, labels, "logistic", source)
    assert coded.shape == (150, 3)
    np.testing.assert_allclose(coded, recipe, rtol=0, atol=1e-9)


def test_an_installation_containing_home_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(sys, "prefix", str(Path.home().parent))
    with pytest.raises(SandboxRefused, match="contains"):
        bwrap_argv("/usr/bin/bwrap", Limits())


# --- fail closed (last: these stop the shared sandbox) ----------------------------------------


@pytest.fixture
def fresh_sandbox() -> object:
    sandbox.shutdown_sandbox()
    yield
    sandbox.shutdown_sandbox()


def _tiny() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    return X, (X["a"] > 0).astype(int).to_numpy()


def test_missing_bwrap_refuses_code(monkeypatch, tmp_path, fresh_sandbox) -> None:
    monkeypatch.setenv("AUTODS_BWRAP", str(tmp_path / "no-bwrap"))
    marker = tmp_path / "ran"
    with pytest.raises(SandboxRefused) as info:
        CodeEstimator(f"open({str(marker)!r}, 'w').write('bare')\nclass Model:\n    pass").fit(*_tiny())
    assert INSTALL_FIX in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


def test_bwrap_without_namespaces_refuses_code(monkeypatch, tmp_path, fresh_sandbox) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("AUTODS_BWRAP", str(fake))
    with pytest.raises(SandboxRefused) as info:
        CodeEstimator(LOGISTIC).fit(*_tiny())
    assert "No permissions to create new namespace" in str(info.value) and INSTALL_FIX in str(info.value)


def test_command_line_binds_only_the_import_surface_read_only() -> None:
    argv = bwrap_argv("/usr/bin/bwrap", Limits())
    assert "--bind" not in argv and "--unshare-all" in argv and "--die-with-parent" in argv
    assert "--new-session" in argv and argv[argv.index("--cap-drop") + 1] == "ALL"
    sources = [argv[i + 1] for i, a in enumerate(argv) if a == "--ro-bind"]
    allowed = (sys.prefix, sys.base_prefix, "/usr", "/etc/ld.so.cache", "/etc/localtime", str(sandbox.CHILD))
    assert sources and all(any(s == a or s.startswith(a + "/") for a in allowed) for s in sources)
    assert str(Path.home()) not in sources and str(Path.cwd()) not in sources


@needs_bwrap
def test_the_sandbox_counts_its_calls_cpu_time() -> None:
    """bench/sandbox.py adds Sandbox.cpu_seconds to its own CPU time: a call that spins ~0.3 CPU
    seconds in the child must show up there (and not in this process's CPU time)."""
    import time

    spin = ("import time\nclass Model:\n    def fit(self, X, y):\n        end = time.process_time() + 0.3\n"
            "        while time.process_time() < end:\n            pass\n        return self\n")
    box = sandbox.get_sandbox()
    before, own = box.cpu_seconds, time.process_time()
    CodeEstimator(spin).fit(pd.DataFrame({"a": [0.0, 1.0]}), np.array([0, 1]))
    assert 0.3 <= box.cpu_seconds - before < 5.0
    assert time.process_time() - own < 0.3

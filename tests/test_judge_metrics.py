"""Judge metrics and scores, each checked against an independent reference implementation."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from lifelines.utils import concordance_index
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_ipcw, integrated_brier_score
from sksurv.util import Surv

from autods.errors import JudgeError
from autods.judge.metrics import Calibration, calibration, compute_metric
from autods.judge.score import METRICS, PRIMARY_METRIC, Score


@pytest.fixture
def binary() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=300)
    y = (rng.random(300) < 1 / (1 + np.exp(-1.5 * x))).astype(int)
    p = 1 / (1 + np.exp(-(1.2 * x + rng.normal(scale=0.5, size=300))))
    return y, p


@pytest.fixture
def survival() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 2))
    t_event = rng.exponential(scale=np.exp(-(0.8 * x[:, 0] - 0.5 * x[:, 1])))
    t_cens = rng.exponential(scale=1.5, size=200)
    y = Surv.from_arrays(event=t_event <= t_cens, time=np.minimum(t_event, t_cens))
    return x, y, x[:, 0] - 0.4 * x[:, 1] + rng.normal(scale=0.3, size=200)


def test_binary_metrics_match_sklearn(binary: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = binary
    assert compute_metric("auroc", y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert compute_metric("auprc", y, p) == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)
    assert compute_metric("brier", y, p) == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)
    assert compute_metric("log_loss", y, p) == pytest.approx(skm.log_loss(y, p), abs=1e-12)
    labels = (p >= 0.5).astype(int)
    assert compute_metric("accuracy", y, p) == pytest.approx(skm.accuracy_score(y, labels))
    assert compute_metric("accuracy", y, labels) == pytest.approx(skm.accuracy_score(y, labels))
    assert compute_metric("macro_f1", y, p) == pytest.approx(skm.f1_score(y, labels, average="macro"))


def test_multiclass_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, size=150)
    logits = rng.normal(size=(150, 3)) + 2.0 * np.eye(3)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    assert compute_metric("macro_f1", y, proba) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert compute_metric("macro_f1", y, pred) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert compute_metric("accuracy", y, proba) == pytest.approx(skm.accuracy_score(y, pred))
    assert compute_metric("log_loss", y, proba) == pytest.approx(skm.log_loss(y, proba), abs=1e-10)
    ovr = skm.roc_auc_score(y, proba, multi_class="ovr")
    assert compute_metric("auroc", y, proba) == pytest.approx(ovr, abs=1e-12)
    expected_brier = np.mean(np.sum((proba - np.eye(3)[y]) ** 2, axis=1))
    assert compute_metric("brier", y, proba) == pytest.approx(expected_brier)
    # string classes: columns follow sorted class order
    names = np.array(["a", "b", "c"])[y]
    assert compute_metric("accuracy", names, proba) == pytest.approx(skm.accuracy_score(y, pred))


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(size=100)
    pred = y + rng.normal(scale=0.6, size=100)
    assert compute_metric("r2", y, pred) == pytest.approx(skm.r2_score(y, pred), abs=1e-12)
    rmse = np.sqrt(skm.mean_squared_error(y, pred))
    assert compute_metric("rmse", y, pred) == pytest.approx(rmse, abs=1e-12)


def test_harrell_c_matches_lifelines(survival: tuple) -> None:
    _, y, risk = survival
    # lifelines scores "higher = longer survival", so the risk is negated.
    expected = concordance_index(y["time"], -risk, y["event"])
    assert compute_metric("c_index", y, risk) == pytest.approx(expected, abs=1e-10)


def test_uno_c_matches_sksurv(survival: tuple) -> None:
    _, y, risk = survival
    y_train, y_test = y[:120], y[120:]
    tau = float(np.quantile(y_train["time"], 0.8))
    expected = concordance_index_ipcw(y_train, y_test, risk[120:], tau=tau)[0]
    got = compute_metric("uno_c", y_test, risk[120:], y_train=y_train, tau=tau)
    assert got == pytest.approx(expected, abs=1e-12)
    # default censoring distribution: y_true itself
    assert compute_metric("uno_c", y, risk) == pytest.approx(concordance_index_ipcw(y, y, risk)[0])


def test_integrated_brier_matches_sksurv(survival: tuple) -> None:
    x, y, _ = survival
    model = CoxPHSurvivalAnalysis().fit(x[:140], y[:140])
    y_test = y[140:]
    lo, hi = np.quantile(y_test["time"], [0.1, 0.7])
    times = np.linspace(lo, hi, 15)
    surv = np.vstack([fn(times) for fn in model.predict_survival_function(x[140:])])
    expected = integrated_brier_score(y[:140], y_test, surv, times)
    got = compute_metric("integrated_brier", y_test, model.predict(x[140:]), surv_fn=surv,
                         times=times, y_train=y[:140])
    assert got == pytest.approx(expected, abs=1e-12)
    with pytest.raises(JudgeError, match="surv_fn"):
        compute_metric("integrated_brier", y_test, model.predict(x[140:]))


def test_calibration_matches_statsmodels_and_sklearn(binary: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = binary
    lp = np.log(p / (1 - p))
    fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
    citl = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(), offset=lp).fit()
    cal = calibration(y, p)
    assert isinstance(cal, Calibration)
    assert cal.slope == pytest.approx(fit.params[1], abs=1e-8)
    assert cal.intercept == pytest.approx(citl.params[0], abs=1e-8)
    assert cal.brier == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)
    # an independent optimiser: unpenalised sklearn logistic regression
    lr = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(lp[:, None], y)
    assert cal.slope == pytest.approx(lr.coef_[0, 0], abs=1e-4)
    assert compute_metric("calibration_slope", y, p) == pytest.approx(cal.slope)


def test_calibration_known_properties() -> None:
    rng = np.random.default_rng(5)
    lp = rng.normal(scale=1.5, size=20_000)
    p_true = 1 / (1 + np.exp(-lp))
    y = (rng.random(lp.size) < p_true).astype(int)
    good = calibration(y, p_true)
    assert good.slope == pytest.approx(1.0, abs=0.06)
    assert good.intercept == pytest.approx(0.0, abs=0.05)
    overconfident = calibration(y, 1 / (1 + np.exp(-2.0 * lp)))  # logits doubled
    assert overconfident.slope == pytest.approx(0.5, abs=0.04)
    shifted = calibration(y, 1 / (1 + np.exp(-(lp - 1.0))))  # risk underestimated
    assert shifted.intercept == pytest.approx(1.0, abs=0.06)


def test_calibration_extreme_probabilities_are_clipped_and_separation_is_nan() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    cal = calibration(y, np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0]))  # perfect separation
    assert np.isnan(cal.slope) and np.isnan(cal.intercept) and cal.brier == 0.0


def test_degenerate_input_raises_judge_error() -> None:
    with pytest.raises(JudgeError, match="single class"):
        compute_metric("auroc", np.ones(5, dtype=int), np.linspace(0, 1, 5))
    with pytest.raises(JudgeError, match="unknown metric"):
        compute_metric("f2", [0, 1], [0.1, 0.9])
    with pytest.raises(JudgeError, match="rows"):
        compute_metric("r2", [0.0, 1.0, 2.0], [0.0, 1.0])
    with pytest.raises(JudgeError, match="structured array"):
        compute_metric("c_index", np.array([1.0, 2.0]), np.array([0.1, 0.2]))


def test_every_metric_has_a_direction_and_primary_metrics_exist() -> None:
    assert set(PRIMARY_METRIC.values()) <= set(METRICS)
    assert METRICS["auroc"] and not METRICS["rmse"] and not METRICS["integrated_brier"]


def test_score_better_than_is_direction_aware() -> None:
    assert Score("auroc", 0.80).better_than(Score("auroc", 0.75))
    assert not Score("auroc", 0.80).better_than(Score("auroc", 0.75), margin=0.05)
    assert Score("auroc", 0.80).better_than(Score("auroc", 0.75), margin=0.049)
    assert Score("rmse", 1.0).better_than(Score("rmse", 1.5))
    assert not Score("rmse", 1.5).better_than(Score("rmse", 1.0))
    assert Score("calibration_slope", 0.95).better_than(Score("calibration_slope", 1.2))
    assert Score("calibration_slope", 1.05).better_than(Score("calibration_slope", 0.8))
    assert not Score("auroc", float("nan")).better_than(Score("auroc", 0.5))
    assert Score("r2", 0.3).higher_is_better and not Score("brier", 0.1).higher_is_better
    with pytest.raises(JudgeError, match="different metrics"):
        Score("auroc", 0.8).better_than(Score("auprc", 0.5))
    with pytest.raises(JudgeError, match="unknown metric"):
        Score("accuracyy", 0.8)

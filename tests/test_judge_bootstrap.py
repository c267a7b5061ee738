"""Bootstrap CIs, the vectorised AUROC path and permutation tests against scipy/sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import brier_score_loss, roc_auc_score

from autods.errors import JudgeError
from autods.judge._vectorized import AurocKernel
from autods.judge.bootstrap import (
    CI,
    bootstrap_ci,
    bootstrap_replicates,
    fold_ci,
    jackknife_values,
    permutation_test,
)
from autods.judge.metrics import compute_metric


def _binary(n: int, seed: int, effect: float = 0.8, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    score = rng.normal(size=n) + effect * y
    p = 1 / (1 + np.exp(-score))
    return y, (np.round(p, decimals) if decimals is not None else p)


@pytest.mark.parametrize("decimals", [None, 1])  # 1 decimal: heavy ties
def test_vectorized_auroc_equals_sklearn_on_every_resample(decimals: int | None) -> None:
    y, p = _binary(400, 0, decimals=decimals)
    idx = np.random.default_rng(7).integers(0, y.size, size=(60, y.size))
    got = AurocKernel(y, p, np.arange(y.size), y.size).replicates_from_rows(idx)
    expected = np.array([roc_auc_score(y[i], p[i]) for i in idx])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_vectorized_paths_equal_the_per_resample_loop() -> None:
    y, p = _binary(150, 1, decimals=2)
    groups = np.random.default_rng(2).integers(0, 30, size=y.size)
    for g in (None, groups):
        for metric in ("auroc", "brier", "accuracy", "log_loss"):
            fast = bootstrap_replicates(metric, y, p, n_resamples=80, seed=3, groups=g)
            slow = bootstrap_replicates(lambda a, b, m=metric: compute_metric(m, a, b), y, p,
                                        n_resamples=80, seed=3, groups=g)
            np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12)
    x = np.random.default_rng(4).normal(size=150)
    pred = x + np.random.default_rng(5).normal(size=150)
    for metric in ("r2", "rmse"):
        fast = bootstrap_replicates(metric, x, pred, n_resamples=80, seed=3, groups=groups)
        slow = bootstrap_replicates(lambda a, b, m=metric: compute_metric(m, a, b), x, pred,
                                    n_resamples=80, seed=3, groups=groups)
        np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-12)


def test_closed_form_jackknife_equals_leave_one_out() -> None:
    y, p = _binary(120, 6, decimals=1)
    loo = np.array([roc_auc_score(np.delete(y, i), np.delete(p, i)) for i in range(y.size)])
    np.testing.assert_allclose(jackknife_values("auroc", y, p), loo, atol=1e-12)
    groups = np.random.default_rng(8).integers(0, 15, size=y.size)
    lugo = np.array([roc_auc_score(y[groups != g], p[groups != g]) for g in range(15)])
    np.testing.assert_allclose(jackknife_values("auroc", y, p, groups=groups), lugo, atol=1e-12)
    brier = np.array([brier_score_loss(np.delete(y, i), np.delete(p, i)) for i in range(y.size)])
    np.testing.assert_allclose(jackknife_values("brier", y, p), brier, atol=1e-12)


def test_cluster_bootstrap_of_duplicated_rows_equals_row_bootstrap() -> None:
    y, p = _binary(200, 9)
    reps = 4  # every unit contributes 4 identical rows: resampling units = resampling rows
    ci_rows = bootstrap_ci("auroc", y, p, n_resamples=300, seed=1, method="bca")
    ci_units = bootstrap_ci("auroc", np.repeat(y, reps), np.repeat(p, reps), n_resamples=300,
                            seed=1, method="bca", groups=np.repeat(np.arange(200), reps))
    naive = bootstrap_ci("auroc", np.repeat(y, reps), np.repeat(p, reps), n_resamples=300, seed=1)
    assert ci_units.low == pytest.approx(ci_rows.low, abs=1e-12)
    assert ci_units.high == pytest.approx(ci_rows.high, abs=1e-12)
    assert naive.high - naive.low < 0.7 * (ci_rows.high - ci_rows.low)  # ignoring clusters


def _auroc_by_ranks(labels: np.ndarray, scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mann-Whitney AUROC from scipy midranks, vectorised for scipy's resampling helpers."""
    ranks = stats.rankdata(scores, axis=axis)
    n1 = labels.sum(axis=axis)
    n0 = labels.shape[axis] - n1
    return ((ranks * labels).sum(axis=axis) - n1 * (n1 + 1) / 2) / (n1 * n0)


def test_percentile_auroc_ci_matches_scipy_bootstrap() -> None:
    y, p = _binary(200, 10)
    assert _auroc_by_ranks(y, p) == pytest.approx(roc_auc_score(y, p))
    ours = bootstrap_ci("auroc", y, p, n_resamples=4000, seed=0)
    ref = stats.bootstrap((y, p), _auroc_by_ranks, paired=True, vectorized=True,
                          n_resamples=20_000, method="percentile", rng=np.random.default_rng(123))
    assert isinstance(ours, CI) and ours.method == "percentile" and ours.n_resamples == 4000
    assert ours.value == pytest.approx(roc_auc_score(y, p))
    # Monte Carlo sd of each bound is about 0.002 here; a 90% interval would miss by 0.01.
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.006)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.006)


def test_bca_matches_scipy_bca_on_a_skewed_mean() -> None:
    x = np.random.default_rng(11).lognormal(sigma=1.0, size=40)
    kw = {"n_resamples": 50_000, "rng": np.random.default_rng(5)}
    ref = stats.bootstrap((x,), np.mean, method="BCa", **kw).confidence_interval
    pct = stats.bootstrap((x,), np.mean, method="percentile", n_resamples=50_000,
                          rng=np.random.default_rng(5)).confidence_interval
    assert ref.low - pct.low > 0.025 and ref.high - pct.high > 0.025  # BCa really shifts here
    mean_of_pred = bootstrap_ci(lambda a, b: float(np.mean(b)), np.zeros(40), x,
                                n_resamples=20_000, method="bca", seed=2)
    # the vectorised path on the same statistic: Brier with y = 0 and p = sqrt(x / c) is mean(x) / c
    c = x.max() * 1.01
    brier = bootstrap_ci("brier", np.zeros(40, dtype=int), np.sqrt(x / c), n_resamples=20_000,
                         method="bca", seed=2)
    for ci in (mean_of_pred, (brier.low * c, brier.high * c)):
        low, high = (ci.low, ci.high) if isinstance(ci, CI) else ci
        assert low == pytest.approx(ref.low, abs=0.015)
        assert high == pytest.approx(ref.high, abs=0.015)


def test_permutation_auroc_matches_scipy() -> None:
    y, p = _binary(80, 12, effect=0.2)
    obs, pval = permutation_test("auroc", y, p, n_permutations=4000, seed=0)
    ref = stats.permutation_test((y, p), _auroc_by_ranks, permutation_type="pairings",
                                 alternative="greater", n_resamples=20_000, vectorized=True,
                                 rng=np.random.default_rng(1))
    assert obs == pytest.approx(roc_auc_score(y, p))
    assert 0.02 < ref.pvalue < 0.5  # the tolerance below is meaningful in this range
    assert pval == pytest.approx(ref.pvalue, abs=0.025)


def test_permutation_lower_is_better_matches_scipy() -> None:
    y, p = _binary(50, 13, effect=0.6)
    obs, pval = permutation_test("brier", y, p, n_permutations=2000, seed=0)
    ref = stats.permutation_test((y, p), lambda a, b, axis=-1: np.mean((b - a) ** 2, axis=axis),
                                 permutation_type="pairings", alternative="less",
                                 n_resamples=20_000, vectorized=True, rng=np.random.default_rng(1))
    assert obs == pytest.approx(brier_score_loss(y, p))
    assert 0.02 < ref.pvalue < 0.5
    assert pval == pytest.approx(ref.pvalue, abs=0.03)
    _, p_null = permutation_test("auroc", y, np.random.default_rng(3).random(50), n_permutations=500)
    assert p_null > 0.05


def test_fold_ci_matches_t_interval() -> None:
    values = np.array([0.71, 0.74, 0.69, 0.77, 0.72])
    ci = fold_ci(values)
    low, high = stats.t.interval(0.95, df=4, loc=values.mean(), scale=stats.sem(values))
    assert (ci.low, ci.high, ci.method, ci.n_resamples) == (pytest.approx(low), pytest.approx(high), "t", 5)
    with pytest.raises(JudgeError):
        fold_ci([0.7])


def test_undefined_metric_and_bad_method_raise() -> None:
    with pytest.raises(JudgeError, match="undefined"):
        bootstrap_ci("auroc", np.zeros(20, dtype=int), np.linspace(0, 1, 20))
    with pytest.raises(JudgeError, match="method"):
        bootstrap_ci("auroc", [0, 1, 0, 1], [0.1, 0.8, 0.3, 0.6], method="studentized")
    with pytest.raises(JudgeError, match="target value"):
        permutation_test("calibration_slope", [0, 1, 0, 1], [0.1, 0.8, 0.3, 0.6])


def test_survival_generic_path_jackknife_matches_lifelines_and_ci_brackets() -> None:
    from lifelines.utils import concordance_index
    from sksurv.util import Surv

    rng = np.random.default_rng(14)
    x = rng.normal(size=40)
    t_event, t_cens = rng.exponential(scale=np.exp(-x)), rng.exponential(1.5, size=40)
    y = Surv.from_arrays(event=t_event <= t_cens, time=np.minimum(t_event, t_cens))
    loo = [concordance_index(np.delete(y["time"], i), -np.delete(x, i), np.delete(y["event"], i))
           for i in range(40)]
    np.testing.assert_allclose(jackknife_values("c_index", y, x), loo, atol=1e-10)
    ci = bootstrap_ci("c_index", y, x, n_resamples=200, method="bca", groups=np.arange(40) // 2)
    assert ci.low < ci.value < ci.high and ci.n_resamples == 200


def _surv_data(n: int = 150, seed: int = 3):
    from sksurv.util import Surv

    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    time = np.round(rng.exponential(np.exp(-0.7 * risk)) * 10, 0) + 1  # rounded: many tied times
    event = rng.random(n) < 0.7
    risk = np.round(risk, 1)  # tied risks too
    return Surv.from_arrays(event=event, time=time, name_event="event", name_time="time"), risk


def test_harrell_kernel_matches_sksurv_on_every_resample() -> None:
    from sksurv.metrics import concordance_index_censored

    from autods.judge.bootstrap import bootstrap_replicates

    y, risk = _surv_data()

    def harrell(yt, yp):  # a callable forces the per-resample loop with the same draws
        return concordance_index_censored(yt["event"], yt["time"], yp)[0]

    fast = bootstrap_replicates("c_index", y, risk, n_resamples=60, seed=11)
    slow = bootstrap_replicates(harrell, y, risk, n_resamples=60, seed=11)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    groups = np.arange(len(risk)) // 3
    fast_g = bootstrap_replicates("c_index", y, risk, n_resamples=40, seed=5, groups=groups)
    slow_g = bootstrap_replicates(harrell, y, risk, n_resamples=40, seed=5, groups=groups)
    np.testing.assert_allclose(fast_g, slow_g, rtol=0, atol=1e-12)


def test_harrell_kernel_jackknife_matches_leave_one_out() -> None:
    from sksurv.metrics import concordance_index_censored

    from autods.judge.bootstrap import jackknife_values

    y, risk = _surv_data(n=60)
    jack = jackknife_values("c_index", y, risk)
    keep = np.ones(len(risk), dtype=bool)
    expected = []
    for g in range(len(risk)):
        keep[:] = True
        keep[g] = False
        expected.append(concordance_index_censored(y["event"][keep], y["time"][keep], risk[keep])[0])
    np.testing.assert_allclose(jack, expected, atol=1e-12)

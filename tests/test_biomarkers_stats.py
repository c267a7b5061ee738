"""Vectorized biomarker statistics against scipy / statsmodels / lifelines reference values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from autods.judge.biomarkers import checks as rs
from autods.judge.biomarkers import checks_construct as cc
from autods.judge.biomarkers.screening import Response, ScreeningLedger, cox_score_test, screen
from autods.judge.biomarkers.stats import bh_adjust, corr_pvalue, corrwith, kendall_columns, rank_columns


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    n = 150
    X = rng.normal(size=(n, 6))
    X[:, 3] = np.round(X[:, 3])  # ties
    y = 0.4 * X[:, 0] - 0.25 * X[:, 1] + 0.2 * X[:, 3] + rng.normal(size=n)
    return X, y


def test_spearman_and_pearson_match_scipy(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    res = screen(X, [f"x{j}" for j in range(X.shape[1])], Response("continuous", y))
    r = corrwith(X, y)
    for j in range(X.shape[1]):
        ref = stats.spearmanr(X[:, j], y)
        assert res.effect[j] == pytest.approx(ref.statistic, abs=1e-12)
        assert res.p_value[j] == pytest.approx(ref.pvalue, rel=1e-9)
        pr = stats.pearsonr(X[:, j], y)
        assert r[j] == pytest.approx(pr.statistic, abs=1e-12)
        assert corr_pvalue(r[j], len(y)) == pytest.approx(pr.pvalue, rel=1e-9)


def test_kendall_matches_scipy(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    tau, p = kendall_columns(X, y)
    for j in range(X.shape[1]):
        ref = stats.kendalltau(X[:, j], y)
        assert (tau[j], p[j]) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)


def test_bh_matches_statsmodels_exactly() -> None:
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(size=200), rng.uniform(0, 1e-3, size=20), [0.5, 0.5, 1.0]])
    np.testing.assert_allclose(bh_adjust(p), multipletests(p, method="fdr_bh")[1], rtol=0, atol=1e-15)


def test_ledger_keeps_multiplicity_across_rounds(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    ledger = ScreeningLedger()
    r1 = screen(X[:, :3], ["a", "b", "c"], Response("continuous", y))
    r2 = screen(X[:, 3:], ["d", "e", "f"], Response("continuous", y))
    ledger.add("round1", r1)
    table = ledger.add("round2", r2)
    both = np.concatenate([r1.p_value, r2.p_value])
    np.testing.assert_allclose(table["p_adjusted"], multipletests(both, method="fdr_bh")[1], atol=1e-15)
    assert ledger.n_tested == 6
    with pytest.raises(ValueError):
        ledger.add("round1", r1)


def test_later_round_cannot_reset_multiplicity() -> None:
    from autods.judge.biomarkers.screening import ScreenResult

    def round_of(p: np.ndarray) -> ScreenResult:
        names = tuple(f"f{i}" for i in range(p.size))
        return ScreenResult(names, np.zeros(p.size), p, bh_adjust(p))

    ledger = ScreeningLedger()
    ledger.add("broad", round_of(np.linspace(0.2, 1.0, 50)))
    small = round_of(np.array([0.01, 0.6, 0.9]))
    ledger.add("narrow", small)
    # Alone, the narrow round would call f0 significant (0.03); over all 53 hypotheses it is not.
    assert small.p_adjusted[0] < 0.05
    assert ledger.adjusted("narrow")[0] == pytest.approx(0.01 * 53, rel=1e-12)


def test_binary_screen_point_biserial_and_auc(data: tuple[np.ndarray, np.ndarray]) -> None:
    from sklearn.metrics import roc_auc_score

    X, y = data
    yb = (y > np.median(y)).astype(int)
    res = screen(X, [f"x{j}" for j in range(X.shape[1])], Response("binary", yb))
    for j in range(X.shape[1]):
        ref = stats.pointbiserialr(yb, X[:, j])
        assert res.effect[j] == pytest.approx(ref.statistic, abs=1e-12)
        assert res.p_value[j] == pytest.approx(ref.pvalue, rel=1e-9)
        assert res.auc[j] == pytest.approx(roc_auc_score(yb, X[:, j]), abs=1e-12)


def test_cox_score_matches_lifelines_wald() -> None:
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(11)
    n = 300
    X = rng.normal(size=(n, 3))
    t = rng.exponential(np.exp(-(0.35 * X[:, 0] - 0.2 * X[:, 1])))
    censor = rng.exponential(2.0, size=n)
    time, event = np.minimum(t, censor), (t <= censor).astype(int)
    beta, p = cox_score_test(X, time, event)
    for j in range(3):
        df = pd.DataFrame({"x": (X[:, j] - X[:, j].mean()) / X[:, j].std(), "T": time, "E": event})
        fit = CoxPHFitter().fit(df, "T", "E")
        # Score and Wald tests agree asymptotically; the one-step beta is close to the MLE.
        assert np.log10(p[j]) == pytest.approx(np.log10(fit.summary.loc["x", "p"]), abs=0.15)
        assert beta[j] == pytest.approx(fit.params_["x"], abs=0.03)


def test_permutation_matches_scipy_within_monte_carlo_error() -> None:
    rng = np.random.default_rng(5)
    n = 60
    x = rng.normal(size=n)
    y = 0.25 * x + rng.normal(size=n)
    prep = rs.Prepared.build(x[:, None], y)
    ours = rs.permutation(prep, 4000, 0.05, np.random.default_rng(0)).evidence["p_permutation"][0]
    ref = stats.permutation_test((x,), lambda a: stats.spearmanr(a, y).statistic, permutation_type="pairings",
                                 n_resamples=4000, rng=np.random.default_rng(1)).pvalue
    assert abs(ours - ref) < 4 * np.sqrt(ref * (1 - ref) / 4000) + 1e-3


def test_bootstrap_ci_close_to_scipy_reranked() -> None:
    rng = np.random.default_rng(9)
    n = 300
    x = rng.normal(size=n)
    y = 0.3 * x + rng.normal(size=n)
    prep = rs.Prepared.build(x[:, None], y)
    out = rs.bootstrap_ci(prep, 2000, np.random.default_rng(0)).evidence
    ref = stats.bootstrap((x, y), lambda a, b: stats.spearmanr(a, b).statistic, paired=True, vectorized=False,
                          n_resamples=2000, method="percentile", rng=np.random.default_rng(1)).confidence_interval
    # Fixed full-sample ranks (no re-ranking per resample) differ from scipy's by O(1/n) + MC error.
    assert out["ci_low"][0] == pytest.approx(ref.low, abs=0.02)
    assert out["ci_high"][0] == pytest.approx(ref.high, abs=0.02)


def test_leave_one_out_closed_form_matches_recomputation(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    prep = rs.Prepared.build(X, y)
    out = rs.leave_one_out(prep).evidence
    ranks, ry = rank_columns(X), rank_columns(y)
    for j in range(X.shape[1]):
        loo = [np.corrcoef(np.delete(ranks[:, j], i), np.delete(ry, i))[0, 1] for i in range(len(y))]
        s = np.sign(prep.rho[j])
        worst = min(v * s for v in loo) * s
        assert out["loo_worst_rho"][j] == pytest.approx(worst, abs=1e-12)


def test_partial_spearman_matches_residual_regression() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(2)
    n = 200
    age = rng.uniform(20, 80, n)
    x = age + rng.normal(scale=10, size=n)
    y = age + rng.normal(scale=10, size=n)
    prep = rs.Prepared.build(x[:, None], y)
    out = cc.confounding(prep, age[:, None], 0.05)
    d = sm.add_constant(rank_columns(age))
    rx = sm.OLS(rank_columns(x), d).fit().resid
    ry = sm.OLS(rank_columns(y), d).fit().resid
    ref = stats.pearsonr(rx, ry)
    assert out.evidence["partial_rho"][0] == pytest.approx(ref.statistic, abs=1e-10)
    # One covariate costs one degree of freedom relative to the plain correlation test.
    assert out.evidence["p_partial"][0] == pytest.approx(corr_pvalue(ref.statistic, n, 1), rel=1e-9)
    assert not out.passed[0], "association running through age must fail confounding sensitivity"

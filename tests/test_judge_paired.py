"""Paired promotion statistics and the optimism of the search, against independent references.

* The corrected repeated k-fold t-test against baycomp's correlated t-test (Corani & Benavoli
  2015, which applies the same Nadeau-Bengio variance correction; its posterior probability of a
  negative difference under a flat prior equals the one-sided p-value) and, with no correction,
  against scipy's one-sample t-test.
* A planted best-of-30 that is pure noise: the naive paired t-test promotes it, the corrected
  rule does not, and BBC-CV falls back toward the truth (AUROC 0.5).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold

from autods.errors import JudgeError
from autods.judge.optimism import bbc_cv
from autods.judge.paired import compare, corrected_t_test, fold_differences, simplest_within_one_se


def _folds(scores: np.ndarray) -> dict[str, float]:
    return {f"r{i // 5}k{i % 5}": float(s) for i, s in enumerate(scores)}


def test_uncorrected_equals_scipy_one_sample_t() -> None:
    d = np.random.default_rng(1).normal(0.01, 0.02, 25)
    ours = corrected_t_test(d, test_over_train=0.0)
    ref = stats.ttest_1samp(d, 0.0, alternative="greater")
    assert ours.t == pytest.approx(ref.statistic, rel=1e-12) and ours.p_value == pytest.approx(ref.pvalue, rel=1e-12)


@pytest.mark.parametrize(("runs", "k"), [(5, 5), (1, 10), (3, 4)])
def test_corrected_equals_baycomp_correlated_t(runs: int, k: int) -> None:
    baycomp = pytest.importorskip("baycomp")
    rng = np.random.default_rng(runs * 10 + k)
    champion = rng.normal(0.80, 0.03, runs * k)
    challenger = champion + rng.normal(0.008, 0.02, runs * k)
    keys = [f"r{i // k}k{i % k}" for i in range(runs * k)]
    ours = compare(dict(zip(keys, challenger)), dict(zip(keys, champion)), higher_is_better=True,
                   test_over_train=1.0 / (k - 1))
    p_left, _ = baycomp.CorrelatedTTest.probs(champion, challenger, rope=0, runs=runs)
    assert ours.p_value == pytest.approx(p_left, rel=1e-9)
    mean, var, df = baycomp.CorrelatedTTest.compute_statistics(champion, challenger, runs)
    assert ours.se == pytest.approx(np.sqrt(var), rel=1e-12) and ours.df == df


def test_lower_is_better_metrics_flip_the_sign() -> None:
    keys = [f"k{i}" for i in range(10)]
    champion = dict(zip(keys, np.linspace(0.20, 0.22, 10)))
    challenger = {k: v - 0.03 + 0.001 * i for i, (k, v) in enumerate(champion.items())}
    assert compare(challenger, champion, higher_is_better=False, test_over_train=0.25).better
    assert not compare(challenger, champion, higher_is_better=True, test_over_train=0.25).better


def test_unpaired_folds_are_refused() -> None:
    with pytest.raises(JudgeError, match="not paired"):
        fold_differences({"r0k0": 0.8, "r0k1": 0.7}, {"r0k0": 0.8, "r1k1": 0.7}, True)


def test_identical_models_are_never_better() -> None:
    same = _folds(np.full(25, 0.8))
    assert not compare(same, same, higher_is_better=True, test_over_train=0.25).better


@pytest.fixture(scope="module")
def noise_search() -> dict:
    """30 experiments whose predictions are pure noise, scored on the same 5 x 5 folds of 200 rows."""
    rng = np.random.default_rng(7)
    n = 200
    y = rng.integers(0, 2, n)
    splits = list(RepeatedStratifiedKFold(n_splits=5, n_repeats=5, random_state=0).split(np.zeros(n), y))
    oof, folds = {}, {}
    for e in range(30):
        scores = rng.random(n)
        oof[f"e{e}"] = scores  # the pooled out-of-fold predictions of the first repeat
        folds[f"e{e}"] = {f"r{i // 5}k{i % 5}": roc_auc_score(y[te], rng.random(te.size) if i >= 5 else scores[te])
                          for i, (_, te) in enumerate(splits)}
    return {"y": y, "oof": oof, "folds": folds}


def test_best_of_30_noise_is_not_promoted(noise_search: dict) -> None:
    folds = noise_search["folds"]
    mean = {e: np.mean(list(f.values())) for e, f in folds.items()}
    best = max(mean, key=mean.get)
    worst = min(mean, key=mean.get)
    d = fold_differences(folds[best], folds[worst], True)
    naive = stats.ttest_1samp(d, 0.0, alternative="greater").pvalue
    corrected = compare(folds[best], folds[worst], higher_is_better=True, test_over_train=0.25)
    assert naive < 0.05  # the naive test would promote pure noise here: the check can fail
    assert not corrected.better and corrected.p_value > 0.05


def test_bbc_cv_falls_back_toward_the_truth(noise_search: dict) -> None:
    out = bbc_cv("auroc", noise_search["y"], noise_search["oof"], n_boot=400, seed=0)
    assert out.raw > 0.55  # picking the best of 30 noise models looks like signal
    assert abs(out.corrected - 0.5) < 0.03 and out.optimism > 0.04
    assert out.ci_low < 0.5 < out.ci_high


def test_bbc_cv_keeps_a_real_signal() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    oof = {"signal": y + rng.normal(0, 0.8, 300), **{f"noise{i}": rng.random(300) for i in range(5)}}
    out = bbc_cv("auroc", y, oof, n_boot=300, seed=1)
    assert out.winner == "signal" and abs(out.raw - out.corrected) < 0.02


def test_bbc_cv_cluster_and_generic_paths_agree_in_kind() -> None:
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(60), 3)
    y = np.repeat(rng.integers(0, 2, 60), 3)
    oof = {f"m{i}": rng.random(180) for i in range(8)}
    vec = bbc_cv("auroc", y, oof, groups=groups, n_boot=200, seed=2)
    loop = bbc_cv("auprc", y, oof, groups=groups, n_boot=200, seed=2)  # no vectorised kernel: the generic loop
    assert vec.corrected < vec.raw and loop.corrected < loop.raw
    prevalence = y.mean()
    assert abs(loop.corrected - prevalence) < 0.08  # AUPRC of noise is the prevalence


def test_one_se_rule_prefers_the_simpler_model_when_not_separated() -> None:
    rng = np.random.default_rng(5)
    base = rng.normal(0.80, 0.03, 25)
    close = {"lgbm": ("lightgbm", _folds(base + 0.004 + rng.normal(0, 0.01, 25))), "lr": ("logistic", _folds(base))}
    assert simplest_within_one_se(close, higher_is_better=True, test_over_train=0.25) == "lr"
    far = {"lgbm": ("lightgbm", _folds(base + 0.05)), "lr": ("logistic", _folds(base + rng.normal(0, 0.005, 25)))}
    assert simplest_within_one_se(far, higher_is_better=True, test_over_train=0.25) == "lgbm"

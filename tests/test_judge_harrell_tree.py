"""The Fenwick-tree Harrell's C kernel against scikit-survival, on sksurv's flchain (7,874 people).

Each bootstrap resample is checked by materialising its rows and calling
``sksurv.metrics.concordance_index_censored``; ties in time (integer days) and in risk (age in
whole years) are common in this cohort, so the tie rules are exercised.
"""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.metrics import concordance_index_censored

from autods.judge._harrell_tree import TreeHarrellKernel
from autods.judge._vectorized import HarrellKernel, make_kernel, unit_counts
from autods.judge.bootstrap import bootstrap_ci


@pytest.fixture(scope="module")
def flchain() -> tuple[np.ndarray, np.ndarray]:
    from sksurv.datasets import load_flchain

    x, y = load_flchain()
    keep = y["futime"] > 0
    out = np.zeros(int(keep.sum()), dtype=[("event", bool), ("time", float)])
    out["event"], out["time"] = y["death"][keep], y["futime"][keep]
    return out, x["age"].to_numpy(dtype=float)[keep]


def test_replicates_equal_sksurv_on_materialised_resamples(flchain: tuple[np.ndarray, np.ndarray]) -> None:
    y, risk = flchain
    n = len(y)
    kernel = make_kernel("c_index", y, risk, np.arange(n), n, {})
    assert isinstance(kernel, TreeHarrellKernel)  # above the dense kernel's limit
    drawn = np.random.default_rng(0).integers(0, n, (4, n))
    got = kernel.replicates(unit_counts(drawn, n))
    for b, rows in enumerate(drawn):
        ref = concordance_index_censored(y["event"][rows], y["time"][rows], risk[rows])[0]
        assert got[b] == pytest.approx(ref, abs=1e-12)
    full = kernel.replicates(np.ones((1, n)))[0]
    assert full == pytest.approx(concordance_index_censored(y["event"], y["time"], risk)[0], abs=1e-12)


def test_equals_the_dense_kernel_with_clusters() -> None:
    rng = np.random.default_rng(1)
    n, n_units = 600, 150
    y = np.zeros(n, dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = rng.random(n) < 0.4, np.round(rng.exponential(10, n)) + 1
    risk = np.round(rng.normal(size=n), 1)
    units = rng.integers(0, n_units, n)
    counts = unit_counts(rng.integers(0, n_units, (30, n_units)), n_units)
    dense = HarrellKernel(y, risk, units, n_units).replicates(counts)
    tree = TreeHarrellKernel(y, risk, units, n_units).replicates(counts)
    np.testing.assert_allclose(tree, dense, atol=1e-12)


def test_bootstrap_ci_on_the_whole_cohort(flchain: tuple[np.ndarray, np.ndarray]) -> None:
    y, risk = flchain
    ci = bootstrap_ci("c_index", y, risk, n_resamples=400, method="bca", seed=0)
    point = concordance_index_censored(y["event"], y["time"], risk)[0]
    assert ci.value == pytest.approx(point) and ci.low < point < ci.high and ci.high - ci.low < 0.03

"""The battery inside a daemonic executor worker: it must run there, not try to spawn a child
(``daemonic processes are not allowed to have children`` broke the default local executor)."""

from __future__ import annotations

import multiprocessing

import numpy as np


def test_isolated_battery_runs_in_a_daemonic_worker() -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes=1) as pool:  # pool workers are daemonic, like the local executor's
        assert pool.apply(_is_daemon) is True
        result = pool.apply(_battery_in_worker)
    assert result["n"] == 120 and result["features"] == 3


def _is_daemon() -> bool:
    return multiprocessing.current_process().daemon


def _battery_in_worker() -> dict[str, int]:
    from autods.judge.biomarkers.battery import BatteryConfig, BatteryInput, run_battery_isolated
    from autods.judge.biomarkers.screening import Response

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = X[:, 0] + rng.normal(size=120)
    inp = BatteryInput(X, ("signal", "null_a", "null_b"), Response("continuous", y))
    res = run_battery_isolated(inp, BatteryConfig(n_permutations=50, n_bootstrap=50))
    return {"n": res.n, "features": len(res.features)}


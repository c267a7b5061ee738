"""The 11-check validation battery, vectorized across candidates, runnable in a spawn subprocess.

``run_battery`` does the work in-process; ``run_battery_isolated`` runs the same function in a
fresh ``spawn`` interpreter (no inherited state, no shared memory with the caller: agents
cannot reach into it) and returns an identical result. Every random stream is derived from
``BatteryConfig.seed`` through ``SeedSequence.spawn``, one child per check, so adding a check
never shifts another check's draws.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autods.judge.biomarkers import checks as rs
from autods.judge.biomarkers import checks_construct as cc
from autods.judge.biomarkers.screening import Response

__all__ = ["CHECKS", "CORE", "HARD_GATES", "BatteryConfig", "BatteryInput", "BatteryResult", "run_battery", "run_battery_isolated"]

#: The checks in their issue order (check k is ``CHECKS[k - 1]``).
CHECKS: tuple[str, ...] = (
    "held_out", "permutation", "bootstrap", "leave_one_out", "subgroup", "triangulation",
    "construct_validity", "confounding", "construct_independence", "ci_consistency", "discrimination",
)
HARD_GATES: tuple[str, ...] = ("construct_validity", "construct_independence", "ci_consistency")
CORE: tuple[str, ...] = ("held_out", "permutation", "bootstrap", "ci_consistency")


@dataclass(frozen=True)
class BatteryConfig:
    seed: int = 0
    n_permutations: int = 1000
    n_bootstrap: int = 1000
    alpha: float = 0.05
    holdout_fraction: float = 0.3
    min_subgroup: int = 20
    age_band: float = 10.0


@dataclass(frozen=True)
class BatteryInput:
    """Everything the battery needs, as plain arrays (picklable for the subprocess).

    ``covariates`` is the numeric demographic design (one-hot for categories); ``validated``
    holds already validated candidates to condition on; ``compositional[j]`` says whether
    candidate j was built from an excluded variable; ``sex`` / ``age`` define subgroups.
    """

    X: np.ndarray
    features: tuple[str, ...]
    response: Response
    excluded: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    covariates: np.ndarray | None = None
    validated: np.ndarray | None = None
    compositional: np.ndarray | None = None
    sex: np.ndarray | None = None
    age: np.ndarray | None = None


@dataclass(frozen=True)
class BatteryResult:
    """Per-candidate verdicts (``passed``/``applicable``: candidates x 11) and evidence arrays."""

    features: tuple[str, ...]
    n: int
    effect: np.ndarray
    passed: np.ndarray
    applicable: np.ndarray
    evidence: dict[str, np.ndarray]
    construct: np.ndarray
    config: BatteryConfig

    def verdicts(self, j: int) -> dict[str, dict[str, Any]]:
        """Check name -> {passed (None when not applicable), evidence} for candidate j."""
        out: dict[str, dict[str, Any]] = {}
        for k, name in enumerate(CHECKS):
            ok = bool(self.passed[j, k]) if self.applicable[j, k] else None
            out[name] = {"passed": ok}
        for key, values in self.evidence.items():
            owner = _EVIDENCE_OWNER.get(key, "battery")
            value = values[j].item() if hasattr(values[j], "item") else values[j]
            out.setdefault(owner, {"passed": None})[key] = value
        return out


_EVIDENCE_OWNER = {
    "rho_discovery": "held_out", "rho_heldout": "held_out", "p_heldout": "held_out", "reversed": "held_out",
    "p_permutation": "permutation", "ci_low": "bootstrap", "ci_high": "bootstrap", "ci_mid": "ci_consistency",
    "loo_worst_rho": "leave_one_out", "loo_most_influential": "leave_one_out",
    "subgroups_evaluated": "subgroup", "subgroup_worst_rho": "subgroup",
    "pearson": "triangulation", "p_pearson": "triangulation", "kendall": "triangulation", "p_kendall": "triangulation",
    "max_rho_excluded": "construct_validity", "partial_rho": "confounding", "p_partial": "confounding",
    "proxy_strength": "construct_independence", "auc": "discrimination",
}


def _strata(response: Response, w: np.ndarray) -> np.ndarray:
    """Class (binary), event (survival) or a median split (continuous): keeps splits balanced."""
    if response.kind == "binary":
        return np.asarray(response.y).astype(int)
    if response.kind == "survival":
        return np.asarray(response.event).astype(int)
    return (w > np.median(w)).astype(int)


def _groups(inp: BatteryInput, strata: np.ndarray, cfg: BatteryConfig, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Two random halves (stratified), each sex, each age band (``age_band`` years)."""
    half = rs.stratified_split(strata, 0.5, rng)
    groups = [("half=a", half), ("half=b", ~half)]
    if inp.sex is not None:
        sex = np.asarray(inp.sex).astype(str)
        groups += [(f"sex={s}", sex == s) for s in np.unique(sex)]
    if inp.age is not None:
        band = np.floor(np.asarray(inp.age, dtype=float) / cfg.age_band)
        groups += [(f"age={int(b * cfg.age_band)}s", band == b) for b in np.unique(band[np.isfinite(band)])]
    return groups


def run_battery(inp: BatteryInput, config: BatteryConfig | None = None) -> BatteryResult:
    """Run all 11 checks on every candidate, in-process."""
    cfg = config or BatteryConfig()
    X = np.asarray(inp.X, dtype=float)
    p = X.shape[1]
    if len(inp.features) != p:
        raise ValueError(f"{len(inp.features)} feature names for {p} candidate columns")
    w = inp.response.working()
    prep = rs.Prepared.build(X, w)
    seeds = [np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(4)]
    strata = _strata(inp.response, w)
    boot = rs.bootstrap_ci(prep, cfg.n_bootstrap, seeds[2])
    E = np.asarray(inp.excluded, dtype=float).reshape(X.shape[0], -1) if np.size(inp.excluded) else np.empty((X.shape[0], 0))
    design = [a for a in (inp.covariates, inp.validated) if a is not None and np.size(a)]
    comp = np.zeros(p, dtype=bool) if inp.compositional is None else np.asarray(inp.compositional, dtype=bool)
    independence, construct = cc.construct_independence(prep, E, comp)
    outcomes = [
        rs.held_out(prep, strata, cfg.holdout_fraction, cfg.alpha, seeds[0]),
        rs.permutation(prep, cfg.n_permutations, cfg.alpha, seeds[1]),
        boot,
        rs.leave_one_out(prep),
        rs.subgroups(prep, _groups(inp, strata, cfg, seeds[3]), cfg.min_subgroup),
        cc.triangulation(prep, cfg.alpha),
        cc.construct_validity(prep, E),
        cc.confounding(prep, np.column_stack([np.asarray(a, dtype=float) for a in design]) if design else None, cfg.alpha),
        independence,
        cc.ci_consistency(prep, boot.evidence["ci_mid"]),
        cc.discrimination(prep, inp.response.kind == "binary"),
    ]
    evidence: dict[str, np.ndarray] = {}
    for o in outcomes:
        evidence.update(o.evidence)
    return BatteryResult(
        features=tuple(inp.features), n=int(X.shape[0]), effect=prep.rho,
        passed=np.column_stack([o.passed & o.applicable for o in outcomes]),
        applicable=np.column_stack([o.applicable for o in outcomes]),
        evidence=evidence, construct=construct, config=cfg,
    )


def run_battery_isolated(inp: BatteryInput, config: BatteryConfig | None = None, timeout: float = 600.0) -> BatteryResult:
    """Run :func:`run_battery` in a fresh ``spawn`` subprocess and return its result.

    Inside an executor worker (a daemonic process, which may not have children) the battery
    runs in that worker: it is already a spawned interpreter isolated from the run's process.
    """
    if multiprocessing.current_process().daemon:
        return run_battery(inp, config)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes=1) as pool:
        return pool.apply_async(run_battery, (inp, config)).get(timeout=timeout)

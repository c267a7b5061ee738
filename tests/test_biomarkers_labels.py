"""Each label rule of issue 3 item 5, on hand-built verdict vectors (11 checks, issue order)."""

from __future__ import annotations

import numpy as np
import pytest

from autods.judge.biomarkers.battery import CHECKS
from autods.judge.biomarkers.labels import MIN_N, assign_labels

ALL = np.ones(11, dtype=bool)
CONT = ALL.copy()
CONT[CHECKS.index("discrimination")] = False  # continuous endpoint: 10 applicable checks


def verdict(*failing: str, applicable: np.ndarray = CONT) -> np.ndarray:
    v = applicable.copy()
    for name in failing:
        v[CHECKS.index(name)] = False
    return v


def label(passed: np.ndarray, effect: float = 0.3, reversed_: bool = False, n: int = 500,
          applicable: np.ndarray = CONT) -> tuple[str, str]:
    labels, reasons = assign_labels(passed[None, :], applicable[None, :], [effect], [reversed_], n)
    return str(labels[0]), str(reasons[0])


def test_all_pass_is_screened() -> None:
    assert label(verdict())[0] == "screened"


def test_screened_at_exactly_70_percent_with_core_passing() -> None:
    # 7 of 10 pass: three non-core, non-gate checks fail.
    assert label(verdict("leave_one_out", "subgroup", "triangulation"))[0] == "screened"


def test_marginal_effect_downgrades_screened_to_conditional() -> None:
    lab, why = label(verdict(), effect=0.05)
    assert lab == "conditional" and "marginal" in why


def test_failed_confounding_downgrades_screened_to_conditional() -> None:
    lab, why = label(verdict("confounding"))
    assert lab == "conditional" and "confounding" in why
    # a conditional band candidate stays conditional; a marginal one too
    assert label(verdict("confounding"), effect=0.05)[0] == "conditional"


def test_40_to_70_percent_is_conditional() -> None:
    # 6 of 10 pass, core all pass.
    assert label(verdict("leave_one_out", "subgroup", "triangulation", "confounding"))[0] == "conditional"
    # 4 of 10 pass, a core check failing: still in the 40-70% band.
    v = verdict("permutation", "leave_one_out", "subgroup", "triangulation", "confounding", "held_out")
    assert v.sum() == 4 and label(v)[0] == "conditional"


def test_below_40_percent_is_rejected() -> None:
    v = verdict("permutation", "leave_one_out", "subgroup", "triangulation", "confounding", "held_out", "bootstrap")
    assert v.sum() == 3 and label(v)[0] == "rejected"


def test_core_failure_above_70_percent_is_rejected_literally() -> None:
    # 9 of 10 pass but the held-out confirmation fails: not screened, and not in the 40-70% band.
    assert label(verdict("held_out"))[0] == "rejected"


def test_checks_1_to_3_all_failing_is_rejected_even_when_the_rest_pass() -> None:
    lab, why = label(verdict("held_out", "permutation", "bootstrap"))
    assert lab == "rejected" and "all failed" in why


@pytest.mark.parametrize("gate", ["construct_validity", "construct_independence", "ci_consistency"])
def test_any_hard_gate_failure_rejects(gate: str) -> None:
    lab, why = label(verdict(gate))
    assert lab == "rejected" and gate in why
    # A hard gate beats every other rule, including exploratory and unstable.
    assert label(verdict(gate), n=MIN_N - 1)[0] == "rejected"
    assert label(verdict(gate), reversed_=True)[0] == "rejected"


def test_held_out_sign_reversal_is_unstable() -> None:
    assert label(verdict("held_out"), reversed_=True)[0] == "unstable"


def test_small_cohort_is_exploratory() -> None:
    assert label(verdict(), n=MIN_N - 1)[0] == "exploratory"
    assert label(verdict(), n=MIN_N)[0] == "screened"


def test_discrimination_counts_for_binary_endpoints() -> None:
    # Binary: 11 applicable checks; failing AUC plus two others leaves 8/11 = 73% -> screened.
    v = verdict("discrimination", "leave_one_out", "subgroup", applicable=ALL)
    assert label(v, applicable=ALL)[0] == "screened"
    v = verdict("discrimination", "leave_one_out", "subgroup", "triangulation", applicable=ALL)
    assert label(v, applicable=ALL)[0] == "conditional"


def test_vectorized_over_candidates() -> None:
    passed = np.vstack([verdict(), verdict("construct_validity"), verdict("held_out")])
    labels, _ = assign_labels(passed, np.vstack([CONT] * 3), [0.3, 0.3, 0.3], [False, False, True], 500)
    assert list(labels) == ["screened", "rejected", "unstable"]

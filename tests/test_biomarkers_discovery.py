"""End to end on the bundled wearable example, and the 20-seed planted-truth study (slow)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from autods.judge.biomarkers import BatteryConfig, discover_biomarkers
from autods.judge.biomarkers.report import CANDIDATE_FIELDS, JUDGEMENT_AXES, NOT_ASSESSED
from autods.tasks import load_task

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "task-wearable-biomarkers"
FAST = BatteryConfig(n_permutations=300, n_bootstrap=300)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wearable_generate", EXAMPLE / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


GEN = _generator()


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    return discover_biomarkers(load_task(EXAMPLE), config=FAST, isolated=False)


def test_rows_have_exactly_the_fact_sheet_fields(result) -> None:  # type: ignore[no-untyped-def]
    assert result.candidates and all(tuple(r) == CANDIDATE_FIELDS for r in result.candidates)
    for r in result.candidates:
        assert r["ci_low"] <= r["effect"] <= r["ci_high"] or r["label"] != "screened"
        assert 0 <= r["checks_passed"] <= r["checks_applicable"] <= 11
        assert r["p_value"] <= r["p_adjusted"] + 1e-12 and r["p_adjusted"] <= 1


def test_planted_associations_are_screened(result) -> None:  # type: ignore[no-untyped-def]
    assert {f: result.label_of(f) for f in GEN.PLANTED} == {f: "screened" for f in GEN.PLANTED}


def test_tautology_is_removed_for_construct_overlap(result) -> None:  # type: ignore[no-untyped-def]
    removed = {r["name"]: r for r in result.removed}
    assert removed[GEN.TAUTOLOGY]["reason"] == "construct overlap"
    assert result.label_of(GEN.TAUTOLOGY) is None
    assert {"name": GEN.TAUTOLOGY, "reason": "construct overlap"} in result.fact_sheet()["excluded_features"]


def test_age_confounded_feature_fails_confounding(result) -> None:  # type: ignore[no-untyped-def]
    record = next(a for a in result.assessments if a["feature"] == GEN.CONFOUNDED)
    assert record["verdicts"]["confounding"]["passed"] is False
    assert "confounding" in record["generalizability"]["failed"]
    assert result.label_of(GEN.CONFOUNDED) != "screened"


def test_nulls_are_not_screened(result) -> None:  # type: ignore[no-untyped-def]
    assert [f for f in GEN.NULLS if result.label_of(f) == "screened"] == []


def test_judgement_axes_are_never_invented(result) -> None:  # type: ignore[no-untyped-def]
    for record in result.assessments:
        assert all(record[axis] == NOT_ASSESSED for axis in JUDGEMENT_AXES)
        assert record["statistical_validity"]["score"] is not None


def test_incremental_value_and_gates(result) -> None:  # type: ignore[no-untyped-def]
    inc = result.incremental
    assert inc is not None and inc.metric == "r2" and len(inc.fold_gains) == 5
    assert inc.gain > 2 * inc.gain_sd > 0, "planted wearable signals add to age + sex"
    families = [f.split("__")[0] for f in result.forest_plot]
    assert max(families.count(f) for f in families) <= 2


def test_a_second_round_shares_the_ledger(result) -> None:  # type: ignore[no-untyped-def]
    before = result.ledger.n_tested
    again = discover_biomarkers(load_task(EXAMPLE), config=FAST, isolated=False, ledger=result.ledger,
                                round_name="round2", validated=["steps__mean"])
    assert again.ledger.n_tested == before + len(again.candidates)
    assert "steps__mean" not in {r["feature"] for r in again.candidates}


def test_judgements_supplied_by_a_brain_are_kept(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "t", ignore=shutil.ignore_patterns("__pycache__"))
    frame = GEN.generate(n_participants=120, n_days=14, seed=3)
    frame.to_parquet(tmp_path / "t" / "data" / "wearable_long.parquet")
    res = discover_biomarkers(load_task(tmp_path / "t"), config=FAST, isolated=False,
                              judgements={"steps__mean": {"plausibility": "physical activity is a known correlate"}})
    record = next(a for a in res.assessments if a["feature"] == "steps__mean")
    assert record["plausibility"].startswith("physical") and record["novelty"] == NOT_ASSESSED


@pytest.mark.slow
def test_twenty_seed_study_recall_and_null_screened_share(tmp_path: Path) -> None:
    """600 participants x 28 days per seed (smaller than the bundled 2,000 for speed)."""
    shutil.copytree(EXAMPLE, tmp_path / "t", ignore=shutil.ignore_patterns("__pycache__"))
    hits, nulls_screened, n_nulls = [], 0, 0
    for seed in range(20):
        GEN.generate(n_participants=600, seed=100 + seed).to_parquet(tmp_path / "t" / "data" / "wearable_long.parquet")
        res = discover_biomarkers(load_task(tmp_path / "t"), config=BatteryConfig(seed=seed), isolated=False)
        hits += [res.label_of(f) == "screened" for f in GEN.PLANTED]
        nulls_screened += sum(res.label_of(f) == "screened" for f in GEN.NULLS)
        n_nulls += len(GEN.NULLS)
    recall, null_share = float(np.mean(hits)), nulls_screened / n_nulls
    print(f"recall={recall:.3f} null_screened_share={null_share:.4f} ({nulls_screened}/{n_nulls})")
    assert recall >= 0.8
    assert null_share <= 0.05

"""Feature construction from long data: values against hand computation, and label isolation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from autods.errors import JudgeError
from autods.tasks.longitudinal import construct_features


@pytest.fixture(scope="module")
def daily() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    dates = pd.date_range("2024-03-04", periods=14, freq="D")  # starts on a Monday
    rows = [{"pid": f"u{u}", "date": d, "steps": float(rng.integers(1000, 12000)), "sleep": rng.normal(7, 1)}
            for u in range(3) for d in dates]
    frame = pd.DataFrame(rows)
    frame.loc[5, "sleep"] = np.nan  # a missing day must be skipped, not break the unit
    return frame.sample(frac=1.0, random_state=1)  # construction must not rely on row order


def test_aggregates_match_hand_computation(daily: pd.DataFrame) -> None:
    out = construct_features(daily, "pid", "date", ["steps", "sleep"])
    assert list(out.index) == ["u0", "u1", "u2"]
    for unit, rows in daily.sort_values("date").groupby("pid"):
        for col in ("steps", "sleep"):
            v = rows[col].to_numpy()
            d = ((rows["date"] - daily["date"].min()).dt.days).to_numpy(dtype=float)
            ok = ~np.isnan(v)
            assert out.loc[unit, f"{col}__mean"] == pytest.approx(np.nanmean(v))
            assert out.loc[unit, f"{col}__sd"] == pytest.approx(np.nanstd(v, ddof=1))
            assert out.loc[unit, f"{col}__cv"] == pytest.approx(np.nanstd(v, ddof=1) / abs(np.nanmean(v)))
            q75, q25 = np.nanpercentile(v, [75, 25])
            assert out.loc[unit, f"{col}__iqr"] == pytest.approx(q75 - q25)
            assert out.loc[unit, f"{col}__mad_successive"] == pytest.approx(np.nanmean(np.abs(np.diff(v))))
            assert out.loc[unit, f"{col}__slope"] == pytest.approx(stats.linregress(d[ok], v[ok]).slope)
            wk = rows["date"].dt.dayofweek.to_numpy() >= 5
            assert out.loc[unit, f"{col}__weekend_ratio"] == pytest.approx(np.nanmean(v[wk]) / np.nanmean(v[~wk]))
    assert "steps__night_ratio" not in out.columns, "daily dates carry no time of day"
    assert out.attrs["lineage"]["sleep__sd"] == ("sleep",)


def test_night_ratio_when_timestamps_have_hours() -> None:
    times = pd.date_range("2024-03-04", periods=48, freq="h")
    frame = pd.DataFrame({"pid": "a", "ts": times, "hr": np.where((times.hour >= 22) | (times.hour < 6), 50.0, 75.0)})
    out = construct_features(frame, "pid", "ts", ["hr"])
    assert out.loc["a", "hr__night_ratio"] == pytest.approx(50 / 75)
    # Daily values are per-day means, so day-to-day variability of two identical days is 0.
    assert out.loc["a", "hr__mad_successive"] == pytest.approx(0.0)


def test_numeric_time_column_without_calendar_ratios() -> None:
    frame = pd.DataFrame({"pid": ["a"] * 5, "visit": [0, 1, 2, 3, 4], "x": [1.0, 3.0, 5.0, 7.0, 9.0]})
    out = construct_features(frame, "pid", "visit", ["x"])
    assert out.loc["a", "x__slope"] == pytest.approx(2.0)
    assert "x__weekend_ratio" not in out.columns


def test_composites_use_the_safe_grammar(daily: pd.DataFrame) -> None:
    out = construct_features(daily, "pid", "date", ["steps", "sleep"],
                             composites=[("sleep_per_kstep", "sleep__mean / (steps__mean / 1000)")])
    np.testing.assert_allclose(out["sleep_per_kstep"], out["sleep__mean"] / (out["steps__mean"] / 1000))
    assert out.attrs["lineage"]["sleep_per_kstep"] == ("sleep", "steps")


def test_label_isolation_refuses_the_endpoint(daily: pd.DataFrame) -> None:
    frame = daily.assign(phq=1.0)
    with pytest.raises(JudgeError, match="label isolation"):
        construct_features(frame, "pid", "date", ["steps", "phq"], forbidden={"phq"})


def test_label_isolation_refuses_composites_of_excluded(daily: pd.DataFrame) -> None:
    with pytest.raises(JudgeError, match="label isolation"):
        construct_features(daily, "pid", "date", ["steps", "sleep"], composites=[("r", "steps__mean / lab_x")],
                           forbidden={"lab_x"})

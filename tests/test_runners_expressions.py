"""The composite-feature grammar: values, NaN semantics, per-unit aggregates, and adversarial input.

Threat model covered: code injection through an expression (calls to unknown names,
attribute access, subscripts, lambdas, strings, keywords) and resource exhaustion through
deep nesting or huge input. Not covered: numerically heavy but valid expressions on large
frames (bounded by MAX_LENGTH only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autods.errors import RecipeError
from autods.runners.expressions import MAX_DEPTH, columns_of, evaluate_expr, parse, uses_units


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1.0, 4.0, 0.0, -2.0], "b": [2.0, 0.0, 1.0, 4.0], "sys bp": [120, 140, 130, 110],
                         "pid": ["p1", "p1", "p2", "p2"]})


def ev(expr: str, frame: pd.DataFrame) -> np.ndarray:
    return evaluate_expr(parse(expr), frame, frame["pid"].to_numpy())


def test_precedence_and_unary_minus(frame: pd.DataFrame) -> None:
    np.testing.assert_allclose(ev("1 + 2 * a - -b / 2", frame), 1 + 2 * frame.a + frame.b / 2)
    np.testing.assert_allclose(ev("(1 + 2) * a", frame), 3 * frame.a)
    np.testing.assert_allclose(ev("-a * -1", frame), frame.a)
    np.testing.assert_allclose(ev("2.5e1 + .5", frame), [25.5] * 4)


def test_backtick_names_with_spaces(frame: pd.DataFrame) -> None:
    np.testing.assert_allclose(ev("`sys bp` / 10", frame), frame["sys bp"] / 10)
    assert columns_of(parse("`sys bp` - a")) == {"sys bp", "a"}


def test_division_by_zero_and_undefined_logs_are_nan(frame: pd.DataFrame) -> None:
    out = ev("a / b", frame)
    assert np.isnan(out[1]) and out[0] == 0.5
    assert np.isnan(ev("log(a)", frame)[2:]).all()
    assert np.isnan(ev("sqrt(a)", frame)[3])
    assert np.isfinite(ev("exp(1000 * a)", frame)).all()  # clipped, never inf


def test_functions(frame: pd.DataFrame) -> None:
    np.testing.assert_allclose(ev("max(a, b, 3)", frame), [3, 4, 3, 4])
    np.testing.assert_allclose(ev("min(a, b)", frame), [1, 0, 0, -2])
    np.testing.assert_allclose(ev("abs(a)", frame), [1, 4, 0, 2])
    np.testing.assert_allclose(ev("log1p(b)", frame), np.log1p(frame.b))


def test_unit_aggregates_use_only_earlier_rows_of_the_given_frame() -> None:
    # Rows out of time order on purpose: history follows the times, not the row order.
    frame = pd.DataFrame({"a": [4.0, 1.0, 7.0, 0.0, -2.0], "t": [2, 1, 3, 1, 2], "pid": ["p1", "p1", "p1", "p2", "p2"]})

    def hist(expr: str, f: pd.DataFrame) -> np.ndarray:
        return evaluate_expr(parse(expr), f, f["pid"].to_numpy(), f["t"].to_numpy(dtype=float))

    np.testing.assert_allclose(hist("unit_mean(a)", frame), [1, np.nan, 2.5, np.nan, 0])
    np.testing.assert_allclose(hist("unit_sd(a)", frame), [np.nan, np.nan, np.std([1, 4], ddof=1), np.nan, np.nan])
    np.testing.assert_allclose(hist("unit_cv(a)", frame)[2], np.std([1, 4], ddof=1) / 2.5)
    # Evaluated on a subset (a fold), the aggregate changes: it sees only those rows.
    sub = frame.iloc[[0, 2]]
    np.testing.assert_allclose(hist("unit_mean(a)", sub), [np.nan, 4.0])
    assert uses_units(parse("a + unit_sd(b)")) and not uses_units(parse("a + b"))


def test_unit_aggregate_without_units_or_times_is_recipe_error(frame: pd.DataFrame) -> None:
    with pytest.raises(RecipeError, match="no unit id"):
        evaluate_expr(parse("unit_sd(a)"), frame, None)
    with pytest.raises(RecipeError, match="no time_column"):
        evaluate_expr(parse("unit_sd(a)"), frame, frame["pid"].to_numpy())


def test_unknown_column_is_named(frame: pd.DataFrame) -> None:
    with pytest.raises(RecipeError, match="unknown column 'creatinine'"):
        ev("a / creatinine", frame)
    with pytest.raises(RecipeError, match="'pid', which is not numeric"):
        ev("pid + 1", frame)


@pytest.mark.parametrize("bad", [
    "__import__('os')",
    "__import__(os)",
    "os.system",
    "a.__class__",
    "a.real",
    "lambda: 1",
    "(lambda x: x)(1)",
    "'a' + 'b'",
    '"string"',
    "a[0]",
    "a if b else 1",
    "a ** 2",
    "a; b",
    "eval(a)",
    "getattr(a, b)",
    "open(a)",
    "a b",
    "a,b",
    "",
    "   ",
    "(a",
    "a)",
    "log()",
    "log(a, b)",
    "min(a)",
    "`unclosed",
    "a @ b",
    "a % b",
    "{a}",
    "#a",
])
def test_adversarial_inputs_are_rejected(bad: str) -> None:
    with pytest.raises(RecipeError):
        parse(bad)


def test_unknown_function_is_named() -> None:
    with pytest.raises(RecipeError, match="unknown function 'system'"):
        parse("system(a)")


@pytest.mark.parametrize("deep", ["(" * 500 + "a" + ")" * 500, "-" * 500 + "a", "log(" * 200 + "a" + ")" * 200,
                                  "(" * 100_000 + "a" + ")" * 100_000])
def test_very_deep_nesting_is_rejected_not_a_recursion_error(deep: str) -> None:
    with pytest.raises(RecipeError):
        parse(deep)


def test_nesting_at_the_limit_still_parses() -> None:
    parse("(" * (MAX_DEPTH - 1) + "a" + ")" * (MAX_DEPTH - 1))

"""A small, safe expression grammar for composite features. Never ``eval``.

Grammar (recursive descent; ``*`` = repetition)::

    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/") unary)*
    unary   := "-" unary | atom
    atom    := NUMBER | column | call | "(" expr ")"
    call    := NAME "(" expr ("," expr)* ")"
    column  := NAME | `any column name`        (a backtick inside is doubled: `a``b`)

``NAME`` is a letter or ``_`` followed by letters, digits or ``_`` (Unicode letters count:
``Größe``, ``âge``). Any other column name is written between backticks, exactly as it is
in the data: `` `Clump Thickness` ``, `` `Weight [kg]` ``, `` `6MWT (m)` ``, `` `a.b` ``.
:func:`quote_name` does this, and every generated expression must use it.

Functions: ``log``, ``log1p``, ``sqrt``, ``abs``, ``exp`` (argument clipped to +/-50 so it
cannot overflow), ``min``/``max`` (elementwise, two or more arguments), and the per-unit
history aggregates ``unit_mean``, ``unit_sd``, ``unit_cv`` (sd / |mean|).

Undefined results are NaN, never an error or an infinity: division by zero, log of a
non-positive value, sqrt of a negative one. The model's imputer then handles them.

Per-unit aggregates are a unit's *history*: for each row, the mean (sd, cv) of the argument
over the rows of the same unit dated **strictly before** it by the task's ``time_column``
(an expanding window; NaN for a unit's first visit, and for rows with no time). A later
encounter never feeds an earlier row, and rows on the same date do not see each other.
Without a time column there is no "before", so they are refused. They are evaluated on
the frame the pipeline is given (the training rows when fitting, the scored rows when
predicting), so nothing crosses a fold boundary, and they only see feature columns, never
the endpoint, which the runner does not pass in.

Anything else (strings, attribute access, subscripts, lambdas, unknown names, nesting
deeper than :data:`MAX_DEPTH`) is a :class:`~autods.errors.RecipeError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Union

import numpy as np
import pandas as pd

from autods.errors import RecipeError

__all__ = ["FUNCTIONS", "NEEDS_TIME", "UNIT_FUNCTIONS", "Node", "columns_of", "evaluate_expr", "parse", "quote_name",
           "unit_order", "uses_units"]

MAX_DEPTH = 40
MAX_LENGTH = 1000
_NAME = r"[^\W\d]\w*"  # a letter (any script) or "_", then letters, digits, "_"
_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>" + _NAME + r")"
                    r"|`(?P<quoted>(?:[^`]|``)+)`|(?P<op>[-+*/(),]))")
_PLAIN = re.compile(_NAME)
_FIX = "write composites with column names (in backticks when not a plain name: `Clump Thickness`), numbers, " \
       "+ - * /, parentheses and log, log1p, sqrt, abs, exp, min, max, unit_mean, unit_sd, unit_cv"
NEEDS_TIME = "set time_column in TASK.md (unit history uses only rows dated strictly before each row) or drop the per-unit aggregate"


def quote_name(name: str) -> str:
    """``name`` as the grammar reads it back: bare when it is a plain name, else in backticks."""
    name = str(name)
    if not name:
        raise RecipeError("a column with an empty name cannot be used in a composite", "give the column a name")
    if _PLAIN.fullmatch(name) and name not in FUNCTIONS and name not in UNIT_FUNCTIONS:
        return name
    return "`" + name.replace("`", "``") + "`"


def _nan_inf(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return np.where(np.isfinite(x), x, np.nan)


#: Elementwise functions: name -> (arity or None for 2+, implementation).
FUNCTIONS: dict[str, tuple[int | None, Callable[..., np.ndarray]]] = {
    "log": (1, lambda x: np.log(np.where(x > 0, x, np.nan))),
    "log1p": (1, lambda x: np.log1p(np.where(x > -1, x, np.nan))),
    "sqrt": (1, lambda x: np.sqrt(np.where(x >= 0, x, np.nan))),
    "abs": (1, np.abs),
    "exp": (1, lambda x: np.exp(np.clip(x, -50.0, 50.0))),
    "min": (None, lambda *xs: np.minimum.reduce(xs)),
    "max": (None, lambda *xs: np.maximum.reduce(xs)),
}
UNIT_FUNCTIONS = ("unit_mean", "unit_sd", "unit_cv")


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Col:
    name: str


@dataclass(frozen=True)
class Neg:
    operand: Node


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Node, ...]


Node = Union[Num, Col, Neg, BinOp, Call]


def _tokenize(text: str) -> list[tuple[str, str]]:
    if len(text) > MAX_LENGTH:
        raise RecipeError(f"composite expression is {len(text)} characters long (limit {MAX_LENGTH})", "split it into smaller composites")
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            bad = text[pos:].lstrip()[:1]
            raise RecipeError(f"composite expression {text!r} has an unexpected character {bad!r}", _FIX)
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            want = f"'{value}'" if value else "a value"
            got = "the end" if tok is None else repr(tok[1])
            prev = self.tokens[self.i - 1] if self.i > 0 else None
            if tok is not None and tok[0] == "name" and prev is not None and prev[0] == "name":
                # Two bare words in a row: a column name with a space, written without backticks.
                fix = f"write column names that are not plain names in backticks, e.g. {quote_name(prev[1] + ' ' + tok[1])}"
                raise RecipeError(f"composite expression {self.text!r}: expected {want} but found {got}", fix)
            raise RecipeError(f"composite expression {self.text!r}: expected {want} but found {got}", _FIX)
        self.i += 1
        return tok

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RecipeError(f"composite expression nests deeper than {MAX_DEPTH} levels", "simplify the expression")

    def expr(self) -> Node:
        self.deeper()
        node = self.term()
        while (tok := self.peek()) is not None and tok[1] in "+-" and tok[0] == "op":
            self.i += 1
            node = BinOp(tok[1], node, self.term())
        self.depth -= 1
        return node

    def term(self) -> Node:
        node = self.unary()
        while (tok := self.peek()) is not None and tok[1] in "*/" and tok[0] == "op":
            self.i += 1
            node = BinOp(tok[1], node, self.unary())
        return node

    def unary(self) -> Node:
        if (tok := self.peek()) is not None and tok == ("op", "-"):
            self.i += 1
            self.deeper()
            node = Neg(self.unary())
            self.depth -= 1
            return node
        return self.atom()

    def atom(self) -> Node:
        kind, value = self.take()
        if kind == "num":
            return Num(float(value))
        if value == "(":
            node = self.expr()
            self.take(")")
            return node
        if kind == "quoted":  # a backticked name is always a column, even before "("
            return Col(value.replace("``", "`"))
        if kind != "name":
            raise RecipeError(f"composite expression {self.text!r}: unexpected {value!r}", _FIX)
        if self.peek() == ("op", "("):
            return self.call(value)
        return Col(value)

    def call(self, name: str) -> Node:
        if name not in FUNCTIONS and name not in UNIT_FUNCTIONS:
            raise RecipeError(f"unknown function '{name}' in composite expression {self.text!r}",
                              f"if '{name} (...)' is a column name, write it in backticks (`{name} (...)`); " + _FIX)
        self.take("(")
        args = [self.expr()]
        while self.peek() == ("op", ","):
            self.i += 1
            args.append(self.expr())
        self.take(")")
        arity = FUNCTIONS[name][0] if name in FUNCTIONS else 1
        if (arity is None and len(args) < 2) or (arity is not None and len(args) != arity):
            need = "two or more arguments" if arity is None else f"{arity} argument"
            raise RecipeError(f"function '{name}' takes {need}, got {len(args)}", f"call {name} with {need}")
        return Call(name, tuple(args))


def parse(text: str) -> Node:
    """Parse ``text`` into an AST; any syntax outside the grammar is a RecipeError."""
    if not isinstance(text, str) or not text.strip():
        raise RecipeError("composite expression is empty", _FIX)
    parser = _Parser(text)
    node = parser.expr()
    if parser.peek() is not None:
        raise RecipeError(f"composite expression {text!r}: unexpected {parser.peek()[1]!r}", _FIX)  # type: ignore[index]
    return node


def columns_of(node: Node) -> set[str]:
    """Every column name the expression reads."""
    if isinstance(node, Col):
        return {node.name}
    if isinstance(node, Neg):
        return columns_of(node.operand)
    if isinstance(node, BinOp):
        return columns_of(node.left) | columns_of(node.right)
    if isinstance(node, Call):
        return set().union(*(columns_of(a) for a in node.args))
    return set()


def uses_units(node: Node) -> bool:
    if isinstance(node, Call):
        return node.func in UNIT_FUNCTIONS or any(uses_units(a) for a in node.args)
    if isinstance(node, Neg):
        return uses_units(node.operand)
    if isinstance(node, BinOp):
        return uses_units(node.left) or uses_units(node.right)
    return False


def evaluate_expr(node: Node, frame: pd.DataFrame, units: np.ndarray | None = None,
                  times: np.ndarray | None = None) -> np.ndarray:
    """Evaluate ``node`` on ``frame`` (one float per row).

    ``units`` are the unit ids per row and ``times`` their order (see :func:`unit_order`);
    both are needed only by the per-unit history aggregates.
    """
    with np.errstate(all="ignore"):  # undefined values become NaN by design (module docstring)
        return _nan_inf(_eval(node, frame, units, times))


def unit_order(values: pd.Series | np.ndarray, column: str = "time_column") -> np.ndarray:
    """The time column as floats that order rows (numbers, datetimes or ISO date strings); NaN = unknown."""
    s = pd.Series(values)
    if pd.api.types.is_bool_dtype(s) or not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s)):
        try:
            s = pd.to_datetime(s, format="ISO8601")
        except (ValueError, TypeError):
            raise RecipeError(f"time column '{column}' holds values that are neither numbers nor ISO dates",
                              "give time_column as numbers (e.g. days) or ISO dates (YYYY-MM-DD)") from None
    if pd.api.types.is_datetime64_any_dtype(s):
        ns = s.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
        return np.where(ns.isna(), np.nan, ns.astype("datetime64[ns]").to_numpy().astype("int64").astype(float))
    return s.to_numpy(dtype=float, na_value=np.nan)


def _eval(node: Node, frame: pd.DataFrame, units: np.ndarray | None, times: np.ndarray | None) -> np.ndarray:
    if isinstance(node, Num):
        return np.full(len(frame), node.value)
    if isinstance(node, Col):
        if node.name not in frame.columns:
            raise RecipeError(f"composite uses unknown column '{node.name}'", "use a feature column of the task (backtick names that are not plain: `Clump Thickness`)")
        col = frame[node.name]
        if isinstance(col, pd.DataFrame):
            raise RecipeError(f"composite uses column '{node.name}', which the data holds twice", "give every column a distinct name")
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise RecipeError(f"composite uses column '{node.name}', which is not numeric", "use numeric columns in composites")
        return col.to_numpy(dtype=float, na_value=np.nan)
    if isinstance(node, Neg):
        return -_eval(node.operand, frame, units, times)
    if isinstance(node, BinOp):
        a, b = _eval(node.left, frame, units, times), _eval(node.right, frame, units, times)
        if node.op == "/":
            return np.where(b == 0, np.nan, a / np.where(b == 0, 1.0, b))
        return {"+": np.add, "-": np.subtract, "*": np.multiply}[node.op](a, b)
    args = [_nan_inf(_eval(a, frame, units, times)) for a in node.args]
    if node.func in UNIT_FUNCTIONS:
        return _unit_aggregate(node.func, args[0], units, times)
    return _nan_inf(FUNCTIONS[node.func][1](*args))


def _unit_aggregate(func: str, values: np.ndarray, units: np.ndarray | None, times: np.ndarray | None) -> np.ndarray:
    """Expanding mean / sd / cv over each row's strictly earlier rows of the same unit."""
    if units is None:
        raise RecipeError(f"composite uses {func}() but the task has no unit id", "set id_column in TASK.md or drop the per-unit aggregate")
    if times is None:
        raise RecipeError(f"composite uses {func}(), a unit's history, but the task has no time_column to order it", NEEDS_TIME)
    t = np.asarray(times, dtype=float)
    v = np.asarray(values, dtype=float)
    # A frame-wide shift keeps the running sums of squares well conditioned; it cancels exactly.
    shift = float(np.nanmean(v)) if np.isfinite(v).any() else 0.0
    dated = np.isfinite(t) & ~pd.isna(pd.Series(units)).to_numpy()  # no time or no unit: no history
    ok = dated & np.isfinite(v)  # a row contributes to later rows only with a time and a value
    d = pd.DataFrame({"u": pd.Series(units).astype(str).to_numpy(), "t": np.where(dated, t, np.inf),
                      "n": ok.astype(float), "s": np.where(ok, v - shift, 0.0)})
    d["q"] = d["s"] ** 2
    # Rows sharing (unit, time) are one step: none of them is before the others.
    step = d.groupby(["u", "t"], sort=True)[["n", "s", "q"]].sum()
    before = step.groupby(level="u").cumsum() - step  # sums over strictly earlier times
    hist = before.reindex(pd.MultiIndex.from_arrays([d["u"], d["t"]])).to_numpy()
    n, s, q = hist[:, 0], hist[:, 1], hist[:, 2]
    with np.errstate(all="ignore"):
        mean = np.where(n > 0, s / n, np.nan) + shift
        var = np.where(n > 1, np.maximum(q - s * s / np.where(n > 0, n, 1.0), 0.0) / (n - 1), np.nan)  # ddof=1
    mean, sd = np.where(dated, mean, np.nan), np.where(dated, np.sqrt(var), np.nan)
    if func == "unit_mean":
        return mean
    return sd if func == "unit_sd" else np.where(mean == 0, np.nan, sd / np.abs(np.where(mean == 0, 1.0, mean)))

"""A small, safe expression grammar for composite features. Never ``eval``.

Grammar (recursive descent; ``*`` = repetition)::

    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/") unary)*
    unary   := "-" unary | atom
    atom    := NUMBER | column | call | "(" expr ")"
    call    := NAME "(" expr ("," expr)* ")"
    column  := NAME | `any name with spaces`

Functions: ``log``, ``log1p``, ``sqrt``, ``abs``, ``exp`` (argument clipped to +/-50 so it
cannot overflow), ``min``/``max`` (elementwise, two or more arguments), and the per-unit
aggregates ``unit_mean``, ``unit_sd``, ``unit_cv`` (sd / |mean|).

Undefined results are NaN, never an error or an infinity: division by zero, log of a
non-positive value, sqrt of a negative one. The model's imputer then handles them.

Per-unit aggregates are computed over the rows of the frame they are evaluated on, grouped
by the unit-of-analysis id. They are evaluated inside each fold (on the training rows when
fitting, on the scored rows when predicting), so nothing crosses a fold boundary; and
they only see feature columns, never the endpoint, which the runner does not pass in.

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

__all__ = ["FUNCTIONS", "UNIT_FUNCTIONS", "Node", "columns_of", "evaluate_expr", "parse", "uses_units"]

MAX_DEPTH = 40
MAX_LENGTH = 1000
_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|`(?P<quoted>[^`]+)`|(?P<op>[-+*/(),]))")
_FIX = "write composites with column names, numbers, + - * /, parentheses and " \
       "log, log1p, sqrt, abs, exp, min, max, unit_mean, unit_sd, unit_cv"


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
            return Col(value)
        if kind != "name":
            raise RecipeError(f"composite expression {self.text!r}: unexpected {value!r}", _FIX)
        if self.peek() == ("op", "("):
            return self.call(value)
        return Col(value)

    def call(self, name: str) -> Node:
        if name not in FUNCTIONS and name not in UNIT_FUNCTIONS:
            raise RecipeError(f"unknown function '{name}' in composite expression {self.text!r}", _FIX)
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


def evaluate_expr(node: Node, frame: pd.DataFrame, units: np.ndarray | None = None) -> np.ndarray:
    """Evaluate ``node`` on ``frame`` (one float per row); ``units`` are the unit ids per row."""
    with np.errstate(all="ignore"):  # undefined values become NaN by design (module docstring)
        return _nan_inf(_eval(node, frame, units))


def _eval(node: Node, frame: pd.DataFrame, units: np.ndarray | None) -> np.ndarray:
    if isinstance(node, Num):
        return np.full(len(frame), node.value)
    if isinstance(node, Col):
        if node.name not in frame.columns:
            raise RecipeError(f"composite uses unknown column '{node.name}'", "use a feature column of the task (backtick names with spaces)")
        col = frame[node.name]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise RecipeError(f"composite uses column '{node.name}', which is not numeric", "use numeric columns in composites")
        return col.to_numpy(dtype=float, na_value=np.nan)
    if isinstance(node, Neg):
        return -_eval(node.operand, frame, units)
    if isinstance(node, BinOp):
        a, b = _eval(node.left, frame, units), _eval(node.right, frame, units)
        if node.op == "/":
            return np.where(b == 0, np.nan, a / np.where(b == 0, 1.0, b))
        return {"+": np.add, "-": np.subtract, "*": np.multiply}[node.op](a, b)
    args = [_nan_inf(_eval(a, frame, units)) for a in node.args]
    if node.func in UNIT_FUNCTIONS:
        return _unit_aggregate(node.func, args[0], units)
    return _nan_inf(FUNCTIONS[node.func][1](*args))


def _unit_aggregate(func: str, values: np.ndarray, units: np.ndarray | None) -> np.ndarray:
    if units is None:
        raise RecipeError(f"composite uses {func}() but the task has no unit id", "set id_column in TASK.md or drop the per-unit aggregate")
    grouped = pd.Series(values).groupby(pd.Series(units), sort=False)
    mean = grouped.transform("mean").to_numpy()
    if func == "unit_mean":
        return mean
    sd = grouped.transform("std").to_numpy()  # ddof=1: NaN for units seen once
    return sd if func == "unit_sd" else np.where(mean == 0, np.nan, sd / np.abs(np.where(mean == 0, 1.0, mean)))

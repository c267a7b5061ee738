"""Paired comparisons on shared folds: the rule a challenger must pass to replace the champion.

Every experiment of a run is scored on the same R x K folds (the executed plan), so two
experiments' fold scores pair up by fold key. Three pieces:

* :func:`corrected_t_test`: the corrected repeated k-fold t-test (Nadeau & Bengio 2003,
  "Inference for the generalization error", Machine Learning 52; the repeated form of
  Bouckaert & Frank 2004, PAKDD). The variance of the mean fold difference is inflated by
  ``1/(R K) + n_test/n_train`` because the training sets of different folds overlap; the
  naive paired t-test ignores that and promotes noise.
* :func:`compare` applies it one-sided ("is the challenger better?") at :data:`ALPHA`.
* :func:`simplest_within_one_se`: when models are not separated, the simpler one wins: the
  one-standard-error rule (Breiman et al. 1984, CART, section 3.4.3) over
  :data:`COMPLEXITY`, with the standard error of each model's paired difference to the best.

Values are means over all folds of all repeats, never a best seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from autods.errors import JudgeError

#: one-sided level of the promotion test; 0.05 is the convention the cited papers evaluate
ALPHA = 0.05

#: simpler first. A family missing from the list counts as the most complex (it must earn its place).
COMPLEXITY = (
    "logistic", "ridge", "cox", "coxnet", "linear", "weibull_aft", "lognormal_aft",
    "spline_logistic", "spline_ridge", "spline_cox", "ebm", "knn", "svm",
    "random_forest", "extra_trees", "rsf", "extra_survival_trees", "componentwise_boosting",
    "gradient_boosting", "lightgbm", "gbsa", "code", "ensemble", "stack",
)


@dataclass(frozen=True)
class Paired:
    """One paired comparison. ``mean_diff`` is oriented so that positive means the challenger is better."""

    n_folds: int
    mean_diff: float
    se: float
    t: float
    df: int
    p_value: float
    alpha: float

    @property
    def better(self) -> bool:
        return self.p_value < self.alpha

    def as_dict(self) -> dict[str, float | int | bool]:
        return {"n_folds": self.n_folds, "mean_diff": self.mean_diff, "se": self.se, "t": self.t,
                "df": self.df, "p_value": self.p_value, "alpha": self.alpha, "better": self.better}


def corrected_t_test(diffs: Sequence[float], test_over_train: float) -> Paired:
    """One-sided corrected resampled t-test of ``H0: mean(diffs) <= 0``.

    ``diffs`` are the R*K per-fold differences (positive = challenger better);
    ``test_over_train`` is n_test / n_train of one fold (1 / (K - 1) for K-fold CV).
    With ``test_over_train == 0`` this is exactly the ordinary one-sample t-test.
    """
    d = np.asarray(diffs, dtype=float)
    n = d.size
    if n < 2 or not np.isfinite(d).all():
        raise JudgeError(f"a paired test needs >= 2 finite fold differences, got {n}")
    if test_over_train < 0:
        raise JudgeError("test_over_train must be >= 0")
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    se = math.sqrt((1.0 / n + test_over_train) * var)
    if se == 0.0:
        # identical differences on every fold: certain in sign, no evidence if zero
        t = math.inf if mean > 0 else (-math.inf if mean < 0 else 0.0)
        p = 0.0 if mean > 0 else 1.0
    else:
        t = mean / se
        p = float(stats.t.sf(t, df=n - 1))
    return Paired(n_folds=n, mean_diff=mean, se=se, t=t, df=n - 1, p_value=p, alpha=ALPHA)


def fold_differences(challenger: Mapping[str, float], champion: Mapping[str, float],
                     higher_is_better: bool) -> np.ndarray:
    """Per-fold differences, challenger minus champion, oriented so positive is better.

    The two must have been scored on the same folds: a missing or extra fold key is an error,
    never a silent unpaired comparison.
    """
    if set(challenger) != set(champion):
        only = sorted(set(challenger) ^ set(champion))[:4]
        raise JudgeError(f"fold scores are not paired (fold keys differ: {only}); both must run on the plan's folds")
    keys = sorted(challenger)
    sign = 1.0 if higher_is_better else -1.0
    return sign * (np.array([challenger[k] for k in keys], float) - np.array([champion[k] for k in keys], float))


def compare(challenger: Mapping[str, float], champion: Mapping[str, float], *, higher_is_better: bool,
            test_over_train: float, alpha: float = ALPHA) -> Paired:
    """Is the challenger better than the champion on the shared folds (one-sided, level ``alpha``)?"""
    out = corrected_t_test(fold_differences(challenger, champion, higher_is_better), test_over_train)
    return Paired(out.n_folds, out.mean_diff, out.se, out.t, out.df, out.p_value, alpha)


def complexity_rank(family: str) -> int:
    return COMPLEXITY.index(family) if family in COMPLEXITY else len(COMPLEXITY)


def simplest_within_one_se(candidates: Mapping[str, tuple[str, Mapping[str, float]]], *, higher_is_better: bool,
                           test_over_train: float) -> str:
    """The simplest candidate whose mean is within one corrected SE of the best mean.

    ``candidates`` maps a name to ``(family, fold_scores)``; all share the same folds. The SE is
    that of the paired difference to the best candidate (corrected as in :func:`corrected_t_test`).
    Ties in complexity go to the better mean, then to the name, so the choice is deterministic.
    """
    if not candidates:
        raise JudgeError("no candidates to choose from")
    sign = 1.0 if higher_is_better else -1.0
    means = {name: sign * float(np.mean(list(scores.values()))) for name, (_, scores) in candidates.items()}
    best = max(sorted(means), key=lambda k: means[k])
    eligible = []
    for name, (family, scores) in candidates.items():
        if name == best:
            eligible.append(name)
            continue
        d = fold_differences(candidates[best][1], scores, higher_is_better)
        se = math.sqrt((1.0 / d.size + test_over_train) * float(d.var(ddof=1))) if d.size > 1 else 0.0
        if means[best] - means[name] <= se:
            eligible.append(name)
    return min(eligible, key=lambda k: (complexity_rank(candidates[k][0]), -means[k], k))

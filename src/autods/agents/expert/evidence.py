"""What the expert policy reads off an observation: the recorded results grouped by recipe
and family, the champion, and the evidence-based expected gain of a proposal.

Every number comes from the judge's recorded results; the policy only compares and ranks
them to decide what to try (it never reports a metric). The helpers are pure functions of
the observation, which is what lets a resumed run rebuild the brain's state from the log.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from dataclasses import dataclass
from typing import Any

from autods.agents.observation import Observation
from autods.agents.snapshot import DESIGN_KEY, SUMMARY_KEY

_FENCED = re.compile(r"```json\s*(\{.*?\})\s*```", re.DOTALL)


def stable_seed(*parts: Any) -> int:
    """A seed from any JSON-able parts, identical across processes (unlike ``hash``)."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return int(digest[:8], 16)


def post_json(post: dict[str, Any], key: str) -> dict[str, Any] | None:
    """Structured content of a post: ``data[key]``, or a fenced ```json block in its body."""
    data = post.get("data") or {}
    if isinstance(data.get(key), dict):
        return dict(data[key])
    match = _FENCED.search(post.get("body") or "")
    if match:
        try:
            parsed = json.loads(match.group(1))
        except ValueError:
            return None
        if isinstance(parsed, dict) and isinstance(parsed.get(key), dict):
            return dict(parsed[key])
    return None


def latest(obs: Observation, kind: str, key: str) -> dict[str, Any] | None:
    for post in reversed(obs.posts):
        if post.get("kind") == kind:
            found = post_json(post, key)
            if found is not None:
                return found
    return None


def summary(obs: Observation) -> dict[str, Any]:
    return latest(obs, "finding", SUMMARY_KEY) or {}


def design(obs: Observation) -> dict[str, Any] | None:
    return latest(obs, "design", DESIGN_KEY)


def direction(obs: Observation) -> float:
    return 1.0 if obs.task.higher_is_better else -1.0


@dataclass(frozen=True)
class RecipeStats:
    recipe_hash: str
    family: str
    recipe: dict[str, Any]
    values: tuple[float, ...]
    seeds: tuple[int, ...]
    fold_se: float

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)


def by_recipe(obs: Observation) -> dict[str, RecipeStats]:
    """Recorded results grouped by recipe hash, in order of first result."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in obs.results:
        groups.setdefault(r["recipe_hash"], []).append(r)
    out = {}
    for h, rs in groups.items():
        folds = [r["fold_scores"] for r in rs if len(r.get("fold_scores") or []) >= 2]
        se = statistics.fmean(statistics.stdev(f) / len(f) ** 0.5 for f in folds) if folds else 0.0
        out[h] = RecipeStats(h, rs[0].get("family") or "", rs[0].get("recipe") or {},
                             tuple(float(r["value"]) for r in rs), tuple(int(r["seed"]) for r in rs), se)
    return out


def family_best(obs: Observation) -> dict[str, float]:
    """Best (direction-aware) recipe mean per family."""
    sign = direction(obs)
    best: dict[str, float] = {}
    for st in by_recipe(obs).values():
        if st.family not in best or sign * st.mean > sign * best[st.family]:
            best[st.family] = st.mean
    return best


def champion_value(obs: Observation) -> float | None:
    return None if obs.champion is None else float(obs.champion["value"])


def champion_recipe(obs: Observation) -> dict[str, Any] | None:
    if obs.champion is None:
        return None
    st = by_recipe(obs).get(obs.champion["recipe_hash"])
    return None if st is None else st.recipe


def floor(obs: Observation) -> float:
    return float(obs.noise_floor or 0.0)


def representation_key(recipe: dict[str, Any]) -> str:
    """The non-model half of a recipe (preprocessing and feature set) as a comparable key."""
    return json.dumps([recipe.get("preprocess") or {}, recipe.get("features")], sort_keys=True, default=str)


def expected_gain(obs: Observation, recipe: dict[str, Any]) -> tuple[float, str]:
    """Expected improvement over the champion of ``recipe``, with the reason.

    Evidence is the recorded recipes of the same family *and* representation. With fewer
    than three of them the proposal gets the benefit of the doubt (1.5 noise floors: worth
    one look). Otherwise: their best mean minus the champion, plus half the spread of their
    means (how much tuning has moved them so far), direction-aware.
    """
    family, rep = recipe.get("family", ""), representation_key(recipe)
    champ = champion_value(obs)
    f = floor(obs)
    stats = [s for s in by_recipe(obs).values() if s.family == family and representation_key(s.recipe) == rep]
    if champ is None or len(stats) < 3:
        return 1.5 * f, (f"{family} with this representation has {len(stats)} recipe(s) recorded: worth a look "
                         "(prior: 1.5 noise floors)")
    sign = direction(obs)
    means = [s.mean for s in stats]
    best = max(means, key=lambda v: sign * v)
    spread = statistics.stdev(means)
    gain = sign * (best - champ) + 0.5 * spread
    return gain, (f"{family} (same representation): best recipe {best:.4f} vs champion {champ:.4f}, spread of "
                  f"{len(means)} recipes {spread:.4f} -> expected gain {gain:+.4f}")


def proposals_by(obs: Observation, agent: str) -> list[dict[str, Any]]:
    return [p for p in obs.proposals if p.get("author_name") == agent]


def verdicts(proposal: dict[str, Any], exclude: str | None = None) -> list[str]:
    """Latest verdict per critic (other than ``exclude``)."""
    latest_by: dict[str, str] = {}
    for c in sorted(proposal.get("critiques", []), key=lambda c: c["id"]):
        if c.get("author_name") != exclude:
            latest_by[c["author"]] = c["verdict"]
    return list(latest_by.values())


def approved(proposal: dict[str, Any]) -> bool:
    """Approved with no outstanding objection (a 'revise' counts as one for the expert)."""
    v = verdicts(proposal, exclude=proposal.get("author_name"))
    return "approve" in v and "reject" not in v and "revise" not in v


def objected(proposal: dict[str, Any]) -> bool:
    v = verdicts(proposal, exclude=proposal.get("author_name"))
    return "reject" in v or "revise" in v


def version_approved(obs: Observation, proposal: dict[str, Any]) -> bool:
    """:func:`approved` on every critique of the recipe *version*, as the server's enqueue judges
    it: the latest verdict of each critic over all proposals of the run with this canonical
    recipe (a twin's reject or revise binds this one too), the proposal's author excluded."""
    twins = [p for p in obs.proposals if p["canonical_hash"] == proposal["canonical_hash"]]
    merged = [c for p in (twins or [proposal]) for c in p.get("critiques", [])]
    return approved({"author_name": proposal.get("author_name"), "critiques": merged})


def critiqued_by(proposal: dict[str, Any], agent: str) -> bool:
    return any(c.get("author_name") == agent for c in proposal.get("critiques", []))


def queued_hashes(obs: Observation) -> set[str]:
    return {q["recipe_hash"] for q in obs.queue if q["status"] in ("pending", "claimed", "done")}


def budget_left(obs: Observation) -> int:
    return obs.budget_total - obs.budget_used


def agent_index(name: str) -> int:
    """``analyst-3`` -> 2; names without a number -> 0."""
    tail = name.rsplit("-", 1)[-1]
    return int(tail) - 1 if tail.isdigit() else 0


__all__ = ["RecipeStats", "agent_index", "approved", "budget_left", "by_recipe", "champion_recipe",
           "champion_value", "critiqued_by", "design", "direction", "expected_gain", "family_best", "floor",
           "latest", "objected", "post_json", "proposals_by", "queued_hashes", "representation_key", "stable_seed", "summary",
           "verdicts", "version_approved"]

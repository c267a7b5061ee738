"""What the team believed: the hypothesis graph of a run, read for the report (never written).

Each diagnosis is listed with the evidence it cited (finding posts and results, with their
values as the state holds them), the ideas that hung off it (their tier, what success and
failure were to mean, their results and the verdicts answered on them) and its fate, the
status the team gave it. Outcomes are derived here from the state alone: an idea whose
result was promoted ``became champion``; one with results that were not, ``ran, not
promoted``; a CUT idea ``cut``; the rest ``not run``. No number is computed here except counts.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["empty_beliefs", "read_beliefs"]

FATES = ("open", "supported", "refuted", "merged")


def empty_beliefs() -> dict[str, Any]:
    return {"available": False, "counts": _counts([], [], []), "diagnoses": [], "relations": []}


def _counts(diagnoses: list[Any], ideas: list[Any], tickets: list[Any]) -> dict[str, int]:
    fates = Counter(d.status for d in diagnoses)
    answered = sum(1 for k in tickets if k.status == "answered")
    return {"diagnoses": len(diagnoses), **{f: int(fates.get(f, 0)) for f in FATES}, "ideas": len(ideas),
            "tickets_answered": answered, "tickets_open": len(tickets) - answered}


def _result_row(r: Any, titles: dict[int, str]) -> dict[str, Any]:
    return {"result_id": r.id, "metric": r.metric, "value": r.value, "seed": r.seed,
            "idea_title": titles.get(r.proposal_id, "")}  # the proposal (or idea) the result ran


def _outcome(idea: Any, results: list[Any], promoted: set[int]) -> str:
    if idea.tier == "CUT":
        return "cut"
    if any(r.id in promoted for r in results):
        return "became champion"
    return "ran, not promoted" if results else "not run"


def read_beliefs(service: Any, viewer: Any, run_id: int, results: list[Any], promoted: set[int]) -> dict[str, Any]:
    """The ``beliefs`` block of the fact sheet: diagnoses with evidence, ideas and fate."""
    view = service.graph(viewer, run_id)
    if not view.diagnoses:
        return empty_beliefs()
    findings = {p.id: p for p in service.list_posts(viewer, run_id, kind="finding")}
    by_id = {r.id: r for r in results}
    titles = {p.id: p.title for p in service.list_proposals(viewer, run_id)}  # ideas are proposals: same ids
    diagnoses = []
    for d in view.diagnoses:
        evidence_findings = [{"post_id": pid, "title": findings[pid].title if pid in findings else "",
                              "message": str((findings[pid].data or {}).get("message", "")) if pid in findings else ""}
                             for pid in d.finding_ids]
        evidence_results = [_result_row(by_id[rid], titles) for rid in d.result_ids if rid in by_id]
        ideas = []
        for idea in (i for i in view.ideas if i.diagnosis_id == d.id):
            own = [r for r in results if r.proposal_id == idea.id]
            verdicts = [{"ticket_id": k.id, "result_id": k.result_id, "status": k.status, "answer": k.answer,
                         "reason": k.reason} for k in view.tickets if k.idea_id == idea.id]
            ideas.append({"id": idea.id, "title": idea.title, "family": idea.family, "tier": idea.tier,
                          "tier_reason": idea.tier_reason, "if_works": idea.if_works, "if_fails": idea.if_fails,
                          "expected_effect": idea.expected_effect, "resurrect_if": idea.resurrect_if,
                          "results": [_result_row(r, titles) for r in own], "verdicts": verdicts,
                          "outcome": _outcome(idea, own, promoted)})
        diagnoses.append({"id": d.id, "claim": d.claim, "status": d.status, "status_reason": d.status_reason,
                          "merged_into": d.merged_into, "findings": evidence_findings, "results": evidence_results,
                          "ideas": ideas})
    relations = [{"src_id": r.src_id, "src_title": titles.get(r.src_id, ""), "kind": r.kind, "dst_id": r.dst_id,
                  "dst_title": titles.get(r.dst_id, ""), "reason": r.reason} for r in view.relations]
    return {"available": True, "counts": _counts(view.diagnoses, view.ideas, view.tickets), "diagnoses": diagnoses,
            "relations": relations}

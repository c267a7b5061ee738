"""The report's audit excerpt reads as sentences: one per line the run's parts actually write."""

from __future__ import annotations

import json

from autods.agents.actions import Critique, Propose
from autods.agents.loop import _brief
from autods.reports.audit_sentences import sentence


def test_agent_steps_say_who_did_what_to_which_proposal() -> None:
    propose = Propose(recipe={"family": "lightgbm", "params": {"num_leaves": 8}}, hypothesis="interactions matter",
                      expected_effect=0.01, family="lightgbm", title="shallow boosting")
    line = sentence({"type": "agent_step", "round": 3, "agent": "analyst-1", "role": "analyst",
                     "action": _brief(propose), "ok": True, "feedback": None, "created": {"proposal_id": 7}})
    assert line == {"time": "round 3", "event": "agent_step: propose", "actor": "analyst-1",
                    "summary": "proposed #7 lightgbm (num_leaves=8): shallow boosting"}
    critique = Critique(proposal_id=7, verdict="revise", reasons=["EPV 4: constrain the leaves"])
    line = sentence({"type": "agent_step", "round": 4, "agent": "biostatistician", "action": _brief(critique),
                     "ok": False, "feedback": "proposal 7 is not open", "created": {}})
    assert line["summary"] == "revise proposal #7: EPV 4: constrain the leaves; refused: proposal 7 is not open"
    assert "{" not in line["summary"]  # no raw JSON


def test_harness_tracks_and_refusals_are_sentences() -> None:
    assert sentence({"type": "harness", "event": "submit", "item_id": 5, "recipe_hash": "ab", "seed": 1,
                     "claimed_by": "experimenter-1"})["summary"] == \
        "started experiment #5, seed 1 (claimed by experimenter-1)"
    failed = sentence({"type": "track", "job_id": "track:validate:12", "ok": False, "record": None,
                       "error": "UserInputError: external data lacks f3"})
    assert failed["summary"] == "the validation of experiment #12 failed: UserInputError: external data lacks f3"
    assert sentence({"type": "track", "job_id": "track:report", "ok": True})["summary"] == "the report track finished"
    assert "refused a step: dead end" in sentence({"type": "orchestrator", "event": "refused",
                                                   "reason": "dead end"})["summary"]


def test_an_empty_claim_is_dropped_and_an_unknown_line_keeps_its_fields() -> None:
    claim = {"type": "agent_step", "agent": "experimenter-1", "action": {"kind": "claim"}, "ok": True, "created": {}}
    assert sentence(claim)["summary"] == ""
    odd = sentence({"type": "plugin", "ts": "2026-01-01T00:00:00Z", "count": 3, "detail": {"a": 1}})
    assert odd["time"] == "2026-01-01T00:00:00Z" and odd["summary"] == f"count 3; detail {json.dumps({'a': 1})}"

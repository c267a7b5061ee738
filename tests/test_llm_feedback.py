"""After a failed experiment, the proposing LLM sees the exception type and the last traceback
lines with data values masked; each excerpt passes the egress gate on its own. Both providers,
through their wire-format fakes: the brain proposes code, the code fails on the harness, the
next prompt carries the failure, and the repaired code is proposed and runs."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fake_providers import (
    FakeAnthropic, FakeOpenAI, anthropic_tool_use, make_observation, openai_content, running,
)
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score

from agents_helpers import InProcess, summary
from autods.agents.harness import Harness
from autods.agents.llm import grammar, make_brain
from autods.agents.llm.failures import render, scrub, summarize
from autods.agents.llm.prompt import user_prompt
from autods.agents.loop import Agent, RoundContext, run_round
from autods.agents.roles import ROLES
from autods.agents.snapshot import SUMMARY_KEY, SnapshotReader
from autods.execution.base import Job, JobResult
from autods.execution.inline import InlineExecutor
from autods.guard.egress import EgressGate
from autods.runfolder import RunFolder

SECRET = "Jane Doe"  # a planted PHI value in the frame the fake sandbox hands to the code

BROKEN = """import numpy as np
from sklearn.linear_model import LogisticRegression


class Model:
    def fit(self, X, y):
        self.model_ = LogisticRegression(max_iter=2000).fit(np.asarray(X, dtype=float), y)
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(np.asarray(X, dtype=float))
"""
REPAIRED = BROKEN.replace("np.asarray(X, dtype=float)", "X.select_dtypes('number').to_numpy()")


def test_scrub_masks_values_and_keeps_names_shapes_and_counts() -> None:
    text = ("could not convert string to float: 'Jane Doe'; KeyError: 104233; value 37.25 in 'crp'; "
            "X has 12 features, but expected 10 features; shapes (100, 5) and (3,) not aligned at line 12")
    out = scrub(text, keep={"crp"})
    for value in ("Jane Doe", "104233", "37.25"):
        assert value not in out
    for kept in ("'crp'", "12 features", "10 features", "(100, 5)", "(3,)", "line 12"):
        assert kept in out
    assert out.count("<value>") == 1 and out.count("<num>") == 2


def test_summarize_keeps_the_type_the_message_and_the_last_frames() -> None:
    error = ("ValueError: could not convert string to float: 'Jane Doe'\n"
             'File "/home/someone/runs/r1/scratch/model.py", line 7, in fit\n'
             "    self.model_ = LogisticRegression(max_iter=2000).fit(np.asarray(X, dtype=float), y)\n"
             "                                                        ^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
             "ValueError: could not convert string to float: 'Jane Doe'\n"
             "Price   Jane Doe   37.2\n")  # a multi-line message (a printed frame) is cut to its first line
    s = summarize(error)
    assert s["type"] == "ValueError" and s["message"] == "could not convert string to float: '<value>'"
    assert s["traceback"] == ["scratch/model.py:7 in fit: self.model_ = LogisticRegression(max_iter=2000)"
                              ".fit(np.asarray(X, dtype=float), y)"]
    assert SECRET not in render(s) and "/home/someone" not in render(s)


def _failed_obs(failure: dict[str, Any], author: str = "analyst-1") -> Any:
    proposal = {"id": 7, "author_name": author, "family": "code", "recipe": {}}
    item = {"id": 3, "proposal_id": 7, "status": "failed", "reason": f"crash: ValueError: bad '{SECRET}'"}
    note = {"id": 9, "kind": "note", "body": f"crash: ValueError: bad '{SECRET}'",
            "data": {"item_id": 3, "failure": failure}}
    return make_observation(proposals=[proposal], queue=[item], posts=[note])


def test_the_prompt_leads_with_own_failures_and_never_shows_the_value() -> None:
    failure = {"kind": "crash", "type": "ValueError", "message": f"bad '{SECRET}' (20, 3)",
               "traceback": ["scratch/model.py:7 in fit: X = np.asarray(X, dtype=float)"]}
    text = user_prompt(_failed_obs(failure))
    assert text.index("Your experiments that failed") < text.index("Observation (JSON)")
    assert "proposal 7 (item 3, family code)" in text and "ValueError: bad '<value>' (20, 3)" in text
    assert "scratch/model.py:7 in fit" in text and SECRET not in text
    # another agent's failure is not this agent's feedback
    assert "Your experiments that failed" not in user_prompt(_failed_obs(failure, author="analyst-2"))


def test_a_failure_the_gate_refuses_is_withheld_not_the_whole_prompt() -> None:
    gate = EgressGate(["email"], ["someone@example.org"])
    failure = {"type": "ValueError", "message": "x", "traceback": ["scratch/m.py:3 in fit: send('someone@example.org')"]}
    text = user_prompt(_failed_obs(failure), egress=gate)
    assert "withheld by the egress gate" in text and "someone@example.org" not in text


# -- the round trip through both providers -------------------------------------------------------------------


def fake_sandbox(job: Job) -> JobResult:
    """A stand-in for the sandbox: import the module, fit it on a small frame that (like raw data
    a careless module might touch) still holds a text column, score it in-sample. Exceptions
    propagate to the executor's isolation boundary, which reports the traceback tail."""
    params = job.recipe["params"]
    path = Path(job.run_dir) / f"code_{job.job_id}.py"
    path.write_text(params["source"])
    spec = importlib.util.spec_from_file_location(f"code_{job.job_id}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    sys.modules.pop(f"code_{job.job_id}", None)
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:200, :5].assign(note=SECRET)
    model = getattr(module, params["entry"])().fit(X, y.iloc[:200])
    value = float(roc_auc_score(y.iloc[:200], model.predict_proba(X)[:, 1]))
    return JobResult(job_id=job.job_id, ok=True, duration_s=0.1,
                     record={"metric": "auroc", "value": value, "higher_is_better": True, "fold_scores": [value]})


def _propose(source: str) -> dict[str, Any]:
    return {"action": {"kind": "propose", "family": grammar.CODE_FAMILY, "recipe": grammar.code_recipe(source),
                       "hypothesis": "a plain logistic model on the raw columns", "expected_effect": 0.01}}


def _user_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else json.dumps(content)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_code_fails_the_feedback_arrives_and_the_repair_runs(provider: str, tmp_path: Path) -> None:
    pytest.importorskip(provider)
    seen: list[str] = []

    def reply(source: str) -> Any:
        def step(body: dict[str, Any]) -> dict[str, Any]:
            seen.append(_user_text(body))
            payload = _propose(source)
            return openai_content(payload) if provider == "openai" else anthropic_tool_use(payload)
        return step

    fake = FakeOpenAI() if provider == "openai" else FakeAnthropic()
    fake.add(reply(BROKEN), reply(REPAIRED))
    env = InProcess(tmp_path / "state.db")
    env.client("steward", "steward").post("finding", "summary", "", {SUMMARY_KEY: summary()})
    gate = EgressGate(["patient_name"], [SECRET])
    with running(fake):
        brain = make_brain(f"{provider}:test-model", egress=gate, api_key="k", base_url=fake.base_url,
                           name="analyst-1", prices={"test": (1.0, 1.0)})
        analyst = Agent("analyst-1", ROLES["analyst"], brain, env.client("analyst-1", "analyst"))
        validator, exp = env.client("validator-1", "validator"), env.client("experimenter-1", "experimenter")
        harness = Harness(env.client("harness", "harness"), InlineExecutor(target=fake_sandbox), RunFolder(tmp_path))
        reader = SnapshotReader(env.clients[0])
        entries = []
        for round_no in (1, 2):
            [outcome] = run_round([analyst], reader.read(), RoundContext(round_no, "execution", 10, round_no - 1, 0))
            assert outcome.ok, outcome.feedback
            pid = outcome.created["proposal_id"]
            validator.critique(pid, "approve", "the contract's methods are there")
            analyst.client.enqueue(pid, 0)
            item = exp.claim()
            assert item is not None
            prop = next(p for p, _ in env.clients[0].list_proposals() if p.id == pid)
            harness.submit(item.model_dump(mode="json"), prop.recipe)
            deadline = time.monotonic() + 30
            while not (done := harness.poll(0.2)) and time.monotonic() < deadline:
                pass
            entries += done
    env.close()
    assert [e["event"] for e in entries] == ["failed", "recorded"]
    first, second = seen
    assert "Your experiments that failed" not in first
    feedback = second.split("Your experiments that failed", 1)[1]
    assert "ValueError: could not convert string to float: '<value>'" in feedback
    assert " in fit: " in feedback and "np.asarray(X, dtype=float)" in feedback  # the line of its own code
    sent = json.dumps(fake.bodies)
    assert SECRET not in sent
    assert 0.5 < entries[1]["value"] <= 1.0 and np.isfinite(entries[1]["value"])
    assert pd.notna(entries[1]["result_id"])


def test_the_harness_summary_is_gated_before_it_reaches_the_state() -> None:
    from autods.agents.llm.failures import gated_summary

    ok = gated_summary("KeyError: 'crp'", keep={"crp"})
    assert ok == {"type": "KeyError", "message": "'crp'", "traceback": []}
    leaked = gated_summary('ValueError: bad\nFile "m.py", line 3, in fit\n    send("someone@example.org")\n')
    assert leaked["type"] == "ValueError" and "withheld" in leaked["message"] and leaked["traceback"] == []

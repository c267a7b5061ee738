"""A run whose analysts, feature agent and translator are an OpenAI-compatible LLM brain,
served by a local fake that speaks the Chat Completions wire format and answers what the
expert policy would answer to the observation in the prompt. So the whole LLM path runs for
real: prompt building, the egress gate, the audit log, parsing, validation, feedback.

On the readmission cohort (planted PHI) no request that left the process carries a PHI value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from autods.agents.expert import ExpertBrain
from autods.agents.observation import Observation
from autods.agents.run import RunOptions, start_run
from fake_providers import FakeOpenAI, openai_content, running

MARK = "Observation (JSON):\n"


def _expert_over_the_wire(body: dict[str, Any]) -> dict[str, Any]:
    user = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
    text = user if isinstance(user, str) else "".join(p.get("text", "") for p in user)
    payload = text.split(MARK, 1)[1].split("\n\nChoose one action", 1)[0]
    obs = Observation.model_validate(json.loads(payload))
    action = ExpertBrain(obs.role, n_analysts=3, name=obs.agent).decide(obs)
    return openai_content({"action": action.model_dump(mode="json")})


@pytest.mark.slow
def test_llm_analysts_over_the_wire_and_no_phi_leaves(examples_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    task = examples_dir / "task-readmission"
    fake = FakeOpenAI()
    fake.add(*[_expert_over_the_wire] * 400)
    with running(fake), threadpool_limits(1):
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
        out = start_run(task, run_name="llm", runs_dir=tmp_path, budget=6, executor="inline", display=False,
                        brain="openai:fake-model", options=RunOptions(n_resamples=0, floor_seeds=2, finish=()))
    s = out.summary
    assert s["exit_reason"] in ("budget", "exhausted") and len(s["log"]) >= 5
    assert any(e["family"] != "logistic" or e["seed"] == 0 for e in s["log"][3:])  # LLM proposals ran
    assert len(fake.requests) > 10
    raw = pd.read_csv(task / "data" / "encounters.csv", dtype=str)
    phi = {v for c in ("mrn", "patient_name", "phone", "date_of_birth", "discharge_note")
           for v in raw[c].dropna().unique() if len(v) >= 6}
    sent = json.dumps([r["body"] for r in fake.requests])
    assert not [v for v in phi if v in sent]
    audit = (out.folder.root / "audit.jsonl").read_text()
    assert audit.count("fake-model") >= len(fake.requests) // 2  # every prompt is in the audit log
    assert not [v for v in phi if v in audit]

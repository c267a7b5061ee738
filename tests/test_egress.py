"""The egress gate, adversarially: one property per test.

Threat model covered: a sampled PHI value (any case, spacing or punctuation), e-mail, phone,
SSN- and MRN-shaped identifiers, row dumps (CSV/TSV lines, long number lists), oversized
prompts; the gate keeps no plain PHI. Not covered, by design (see guard/egress.py): values that
were not sampled, partial or reformatted values, quasi-identifier combinations.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from fake_providers import PROPOSE, FakeOpenAI, make_observation, openai_content, running

from autods.agents.llm import make_brain
from autods.agents.llm.prompt import system_prompt, user_prompt
from autods.errors import GuardrailBlocked
from autods.guard.egress import MAX_NUMBER_RUN, MAX_NUMERIC_LINES, EgressGate

PHI = ["Margaret Okonkwo-Reyes", "MRN00482913", "617-555-0147", "m.okonkwo@example.org", "1954-03-12",
       "42 Birchwood Lane Springfield MA 01103"]


@pytest.fixture
def gate() -> EgressGate:
    return EgressGate(["patient_name", "mrn", "phone", "email", "dob", "address"], PHI)


def clean_prompt() -> str:
    obs = make_observation()
    return system_prompt(obs) + "\n\n" + user_prompt(obs)


def test_a_clean_observation_passes_with_phi_column_names_in_it(gate: EgressGate) -> None:
    text = clean_prompt()
    assert "patient_name" in text and "mrn" in text  # names of removed columns may be mentioned
    assert gate.check(text) == text and gate.findings(text) == {}


@pytest.mark.parametrize("planted", [
    "Margaret Okonkwo-Reyes", "MARGARET  okonkwo reyes", "margaret\nokonkwo-reyes", "Margaret Okonkwo\u2011Reyes",
])
def test_a_planted_patient_name_is_refused_whatever_its_spelling(gate: EgressGate, planted: str) -> None:
    with pytest.raises(GuardrailBlocked, match="phi_value"):
        gate.check(clean_prompt() + f'\n{{"note": "outlier is {planted}"}}')


@pytest.mark.parametrize("planted", ["MRN00482913", "born 1954-03-12", "lives at 42 Birchwood Lane, Springfield"])
def test_other_sampled_values_are_refused(gate: EgressGate, planted: str) -> None:
    assert "phi_value" in gate.findings(f"finding: {planted}")


@pytest.mark.parametrize(("text", "kind"), [
    ("contact j.doe@hospital.org for access", "email"),
    ("call (212) 555-0199 after 5", "phone"),
    ("call 212-555-0199", "phone"),
    ("ssn 078-05-1120 on file", "ssn"),
    ("record MRN1234567 flagged", "mrn"),
    ("record AB-99887766 flagged", "mrn"),
])
def test_unsampled_identifiers_are_caught_by_pattern(text: str, kind: str) -> None:
    gate = EgressGate([])  # nothing sampled: patterns alone
    assert kind in gate.findings(text)


def test_a_csv_dump_is_refused_at_the_threshold_and_not_below() -> None:
    gate = EgressGate([])
    rows = [f"{i},{50 + i % 30},{0.1 * i:.3f},{i % 2}" for i in range(MAX_NUMERIC_LINES + 1)]
    assert gate.findings("\n".join(rows[:MAX_NUMERIC_LINES])) == {}
    with pytest.raises(GuardrailBlocked, match="row_dump"):
        gate.check("here are the data:\n" + "\n".join(rows))


def test_a_tab_separated_dump_and_a_column_as_a_json_list_are_refused() -> None:
    gate = EgressGate([])
    tsv = "\n".join(f"{i}\t{i * 1.5}\t{i % 3}" for i in range(40))
    assert "row_dump" in gate.findings(tsv)
    column = "[" + ", ".join(f"{0.5 + i / 1000:.4f}" for i in range(MAX_NUMBER_RUN + 1)) + "]"
    assert "number_run" in gate.findings('{"hba1c": ' + column + "}")
    assert gate.findings('{"fold_scores": [0.71, 0.73, 0.72, 0.70, 0.74]}') == {}


def test_ordinary_numbers_dates_and_low_information_values_do_not_block() -> None:
    gate = EgressGate(["sex", "zip3"], ["F", "M", "100", "021", "2019"])
    text = ('{"n_estimators": 100, "seed": 2019, "sex": "F", "metric": 0.8123456789, "date": "2024-01-01", '
            '"n_rows": 4000, "ci": [0.72, 0.76], "experiment": "exp_1234567"}')
    assert gate.findings(text) == {}


def test_an_oversized_prompt_is_refused() -> None:
    gate = EgressGate([], max_chars=1000)
    assert "too_long" in gate.findings("x " * 600)


def test_the_gate_keeps_no_plain_phi(gate: EgressGate) -> None:
    blob = pickle.dumps(gate) + repr(vars(gate)).encode() + repr(gate).encode()
    for value in PHI:
        for piece in [value, value.lower(), *value.lower().replace("-", " ").split()]:
            if len(piece) >= 4:
                assert piece.encode() not in blob, piece
    assert all(isinstance(d, bytes) and len(d) == 16 for d in gate._digests)
    # salted: a second gate over the same values holds different digests
    assert not gate._digests & EgressGate([], PHI)._digests


def test_block_reason_names_kinds_not_values(gate: EgressGate) -> None:
    with pytest.raises(GuardrailBlocked) as err:
        gate.check("Margaret Okonkwo-Reyes, m.okonkwo@example.org")
    assert "Okonkwo" not in str(err.value) and "example.org" not in str(err.value)
    assert "phi_value" in str(err.value) and "email" in str(err.value)


def test_from_frame_samples_each_phi_column_with_a_fixed_seed() -> None:
    frame = pd.DataFrame({"patient_name": [f"Person Number{i:04d}" for i in range(300)] + [None],
                          "age": list(range(301))})
    gate = EgressGate.from_frame(frame, ["patient_name", "not_there"], sample=100)
    assert gate.n_values == 100
    again = EgressGate.from_frame(frame, ["patient_name"], sample=100)
    names = [f"Person Number{i:04d}" for i in range(300)]
    assert [bool(gate.findings(n)) for n in names] == [bool(again.findings(n)) for n in names]
    assert sum(bool(gate.findings(n)) for n in names) == 100


# -- through a brain: audit lines for allowed and blocked prompts -------------------------------
@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with running(FakeOpenAI()) as server:
        yield server  # type: ignore[misc]


def test_a_leaked_value_in_an_observation_never_reaches_the_provider(gate: EgressGate, fake: FakeOpenAI) -> None:
    pytest.importorskip("openai")
    audit: list[dict[str, Any]] = []
    b = make_brain("openai:gpt-4o-mini", audit=audit.append, egress=gate, api_key="k", base_url=fake.base_url)
    fake.add(openai_content({"action": PROPOSE}))
    b.decide(make_observation())  # clean: allowed, sent
    leaky = make_observation(posts=[{"id": 9, "title": "outlier", "body": "row of Margaret Okonkwo-Reyes looks odd"}])
    with pytest.raises(GuardrailBlocked):
        b.decide(leaky)

    assert len(fake.requests) == 1 and "Okonkwo" not in str(fake.bodies)
    prompts = [a for a in audit if a["event"] == "llm_prompt"]
    assert [p["allowed"] for p in prompts] == [True, False]
    allowed, blocked = prompts
    assert {"agent", "provider", "model", "sha256", "chars", "text"} <= set(allowed)
    assert "text" not in blocked and len(blocked["sha256"]) == 64 and blocked["chars"] > 0
    assert "Okonkwo" not in str(audit)
    assert b.usage["blocked_prompts"] == 1


def test_bundled_readmission_cohort_governance_passes_and_its_raw_phi_cells_do_not(examples_dir: Any) -> None:
    """Real planted PHI: what governance says about the cohort may leave; any raw PHI cell may not."""
    import json

    from autods.guard.govern import govern
    from autods.tasks.load import load_task

    task = load_task(examples_dir / "task-readmission")
    governance = govern(task)
    gate = EgressGate.from_frame(task.frame, governance.phi_columns)
    summary = json.dumps({"findings": [f.model_dump(mode="json") for f in governance.findings],
                          "profile": governance.profile.model_dump(mode="json"), "excluded": governance.excluded})
    assert len(summary) > 5000 and gate.findings(summary) == {}
    cells = task.frame[governance.phi_columns].sample(40, random_state=0)
    for column in governance.phi_columns:
        for value in cells[column].dropna().astype(str):
            assert gate.findings(f'{{"note": "{value}"}}'), column

"""The agents on the hypothesis graph: the graph actions through a real in-process server,
the ticket-answering rule on planted results, the orchestrator never deadlocking on open
tickets, and (slow) a CLI run on a small real cohort in which an idea goes NOW -> result ->
ticket -> verdict."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from agents_helpers import InProcess, champion, observation, recipe, result
from autods.agents.act import Gate, apply, validate
from autods.agents.actions import AnswerTicket, Diagnose, Dispatch, ProposeIdea, Relate, SetTier, TicketVerdict
from autods.agents.expert.graph_analyst import diagnosis_key
from autods.agents.expert.verdicts import answer_tickets, verdict
from autods.agents.orchestrator import TICKET_ROUNDS, Hooks, Limits, Orchestrator
from autods.agents.roles import role
from autods.errors import ProtocolViolation
from autods.state import graph_roles

EXEC = Gate(budget_left=10, phase="execution")


def _do(raw: Any, role_name: str, client: Any, gate: Gate = EXEC) -> Any:
    action, refusal = validate(raw, role(role_name), gate)
    assert action is not None, refusal
    return apply(action, client, None)


# -- permissions ---------------------------------------------------------------------------------

def test_graph_actions_follow_the_servers_graph_roles() -> None:
    verbs = {"diagnose": "diagnose", "propose_idea": "propose_idea", "set_tier": "set_tier", "relate": "relate",
             "answer_ticket": "answer_ticket", "dispatch": "dispatch"}
    for name in ("analyst", "validator", "biostatistician", "experimenter", "feature", "steward", "monitor"):
        spec = role(name)
        for kind, verb in verbs.items():
            assert spec.may(kind) == graph_roles.allowed(spec.server_role, verb), (name, kind)
    assert set(verbs) <= set(role("analyst").allowed_actions)
    assert role("validator").may("answer_ticket") and not role("validator").may("propose_idea")
    assert not role("experimenter").may("answer_ticket") and not role("validator").may("dispatch")
    action, refusal = validate(Diagnose(claim="[x] y"), role("experimenter"), EXEC)
    assert action is None and "may not diagnose" in str(refusal)


# -- the graph actions through the server -----------------------------------------------------------

@pytest.fixture()
def server(tmp_path: Path) -> Iterator[InProcess]:
    ip = InProcess(tmp_path / "state.db")
    yield ip
    ip.close()


FOLDS = "folds:2x5"


def _graph(ip: InProcess) -> dict[str, Any]:
    analyst, validator = ip.client("analyst-1", "analyst"), ip.client("validator-1", "validator")
    d = _do(Diagnose(claim="[low_epv] too few events per variable", rationale="planted"), "analyst", analyst)
    assert d.ok, d.feedback
    did = d.created["diagnosis_id"]
    ideas = []
    for family, params in (("logistic", {"C": 0.1}), ("lightgbm_small", {})):
        out = _do(ProposeIdea(diagnosis_id=did, recipe={"family": family, "params": params},
                              hypothesis=f"a shrunk {family} fits better", if_works="variance was the limit",
                              if_fails="information is the limit", surprise_if="a barely penalised model wins",
                              expected_effect=0.01, effect_basis="planted", title=f"low EPV: {family}"),
                  "analyst", analyst)
        assert out.ok, out.feedback
        ideas.append(out.created["idea_id"])
    return {"analyst": analyst, "validator": validator, "diagnosis": did, "ideas": ideas}


def test_the_graph_actions_drive_an_idea_from_diagnosis_to_verdict(server: InProcess) -> None:
    g = _graph(server)
    analyst, validator, (a, b) = g["analyst"], g["validator"], g["ideas"]
    idea = analyst.get_idea(a)
    assert idea.recipe["params"]["C"] == 0.1 and "max_iter" in idea.recipe["params"]  # sent canonical (defaults filled)
    assert idea.diagnosis_id == g["diagnosis"] and idea.tier == "NEXT"
    rel = _do(Relate(src_id=b, dst_id=a, relation="same_diagnosis", reason="both test low EPV"), "analyst", analyst)
    assert rel.ok and rel.created["relation_id"] >= 1
    again = _do(Relate(src_id=b, dst_id=a, relation="same_diagnosis", reason="again"), "analyst", analyst)
    assert not again.ok and "duplicate_relation" in str(again.feedback)
    early = _do(SetTier(idea_id=a, tier="NOW", reason="go"), "analyst", analyst)
    assert not early.ok and "approv" in str(early.feedback)  # critique before compute
    for i in (a, b):
        validator.critique(i, "approve", "planted approval")
    for i in (a, b):
        assert _do(SetTier(idea_id=i, tier="NOW", reason="approved"), "analyst", analyst).ok
    cut, refusal = validate(SetTier(idea_id=b, tier="CUT", reason="no"), role("analyst"), EXEC)
    assert cut is None and "resurrect_if" in str(refusal)
    waiting, refusal = validate(Dispatch(seeds=[0]), role("analyst"), Gate(budget_left=5, phase="discussion"))
    assert waiting is None and "execution phase" in str(refusal)
    sent = _do(Dispatch(seeds=[0]), "analyst", analyst)
    assert sent.ok and len(sent.created["item_ids"]) == 1 and sent.created["skipped"] == [b]
    assert "same diagnosis" in str(sent.feedback)  # dispatch refuses incompatible ideas together
    experimenter = server.client("experimenter-1", "experimenter")
    item = experimenter.claim()
    assert item is not None and item.proposal_id == a
    server.client("harness", "harness").record_result(item.id, "auroc", 0.8, True, fold_scores=[0.8] * 10, split=FOLDS)
    tickets = analyst.list_tickets(status="open")
    assert {k.idea_id for k in tickets} == {a, b}
    locked = _do(Dispatch(seeds=[1]), "analyst", analyst)
    assert not locked.ok and "tickets_open" in str(locked.feedback)
    bare, refusal = validate(AnswerTicket(answers=[TicketVerdict(ticket_id=tickets[0].id, answer="CUT", reason="lost")]),
                             role("validator"), EXEC)
    assert bare is None and "resurrect_if" in str(refusal)
    answers = [TicketVerdict(ticket_id=k.id, answer="HOLD", reason="one seed is not a verdict") for k in tickets]
    answered = _do(AnswerTicket(answers=answers), "validator", validator)
    assert answered.ok and sorted(answered.created["tickets"]) == sorted(k.id for k in tickets)
    assert analyst.list_tickets(status="open") == []
    twice = _do(AnswerTicket(answers=answers[:1]), "validator", validator)
    assert not twice.ok and "ticket_answered" in str(twice.feedback)


# -- the ticket-answering rule on planted results ---------------------------------------------------

BASE = (0.80 + 0.01 * np.random.default_rng(3).standard_normal(10)).tolist()


def _planted(delta: float, sd: float = 0.002, seed: int = 5) -> list[float]:
    return (np.asarray(BASE) + delta + sd * np.random.default_rng(seed).standard_normal(10)).tolist()


def _res(rid: int, rec: dict[str, Any], folds: list[float], proposal_id: int, seed: int = 0,
         split: str = FOLDS) -> dict[str, Any]:
    return {**result(rid, rec, float(np.mean(folds)), seed=seed, folds=folds, proposal_id=proposal_id), "split": split}


def _ticket_obs(idea_folds: list[float] | None, split: str = FOLDS, now: int = 0) -> Any:
    champ_rec, idea_rec = recipe("logistic"), recipe("lightgbm")
    c1, c2 = _res(1, champ_rec, BASE, 1), _res(2, champ_rec, BASE, 1, seed=1)
    rs = [c1, c2] + ([] if idea_folds is None else [_res(3, idea_rec, idea_folds, 7, split=split)])
    obs = observation(results=rs, champ=champion(c1), floor=0.005)
    ideas = [{"id": 7, "title": "trees", "tier": "NEXT", "diagnosis_id": 1}]
    ideas += [{"id": 20 + i, "title": f"busy {i}", "tier": "NOW", "diagnosis_id": 2} for i in range(now)]
    tickets = [{"id": 11, "idea_id": 7, "result_id": 3 if idea_folds is not None else 99, "status": "open"}]
    return obs.model_copy(update={"ideas": ideas, "tickets": tickets, "now_capacity": 2})


def _corrected_p(diffs: np.ndarray, k: int = 5) -> float:
    """One-sided p of the Nadeau-Bengio corrected t on fold differences (scipy's t distribution)."""
    se = math.sqrt((1 / diffs.size + 1 / (k - 1)) * diffs.var(ddof=1))
    return float(stats.t.sf(diffs.mean() / se, diffs.size - 1))


def test_a_clear_paired_win_is_promoted_quoting_the_numbers() -> None:
    folds = _planted(0.03)
    v = verdict(_ticket_obs(folds), {"id": 11, "idea_id": 7, "result_id": 3})
    p = _corrected_p(np.asarray(folds) - np.asarray(BASE))
    assert p < 0.05
    assert v.answer == "PROMOTE" and f"{np.mean(folds):.4f}" in v.reason and f"{p:.3g}" in v.reason


def test_a_paired_loss_beyond_the_floor_is_cut_with_a_resurrect_condition() -> None:
    folds = _planted(-0.03)
    v = verdict(_ticket_obs(folds), {"id": 11, "idea_id": 7, "result_id": 3})
    p = _corrected_p(np.asarray(BASE) - np.asarray(folds))
    assert p < 0.05 and v.answer == "CUT" and v.resurrect_if and f"{p:.3g}" in v.reason


@pytest.mark.parametrize("case", ["tie", "no_own_result", "off_folds", "no_champion", "champion_itself"])
def test_everything_else_is_held(case: str) -> None:
    folds = {"tie": _planted(0.0005, sd=0.01), "off_folds": _planted(0.03)[:5]}.get(case, _planted(0.03))
    obs = _ticket_obs(None if case == "no_own_result" else folds, split="default" if case == "off_folds" else FOLDS)
    if case == "no_champion":
        obs = obs.model_copy(update={"champion": None})
    if case == "champion_itself":
        obs = obs.model_copy(update={"champion": {**obs.champion, "recipe_hash": obs.results[-1]["recipe_hash"]}})
    v = verdict(obs, obs.tickets[0])
    assert v.answer == "HOLD", v.reason
    said = {"tie": "not separated", "no_own_result": "no result of its own", "off_folds": "one seed is not a verdict",
            "no_champion": "no champion", "champion_itself": "champion's recipe"}[case]
    assert said in v.reason


def test_a_promote_into_a_full_now_is_held_and_every_open_ticket_is_answered() -> None:
    obs = _ticket_obs(_planted(0.03), now=2)
    obs = obs.model_copy(update={"tickets": obs.tickets + [{"id": 12, "idea_id": 21, "result_id": 3, "status": "open"}]})
    action = answer_tickets(obs)
    assert action is not None and [a.ticket_id for a in action.answers] == [11, 12]
    assert action.answers[0].answer == "HOLD" and "NOW is full" in action.answers[0].reason
    assert answer_tickets(obs.model_copy(update={"tickets": []})) is None


def test_diagnosis_keys_are_read_off_the_claim() -> None:
    assert diagnosis_key("[low_epv] too few events") == "low_epv" and diagnosis_key("no key") is None


# -- the orchestrator never deadlocks on open tickets -----------------------------------------------

class _IdleHarness:
    busy = False
    running: dict[int, Any] = {}

    def submit(self, *_: Any) -> None:
        raise AssertionError("nothing should be claimed in this test")

    def poll(self, wait_s: float = 0.0) -> list[Any]:
        return []


def _open_tickets(ip: InProcess) -> Any:
    g = _graph(ip)
    a = g["ideas"][0]
    g["validator"].critique(a, "approve", "ok")
    g["analyst"].set_tier(a, "NOW", "approved")
    g["analyst"].dispatch([0])
    item = ip.client("experimenter-1", "experimenter").claim()
    ip.client("harness", "harness").record_result(item.id, "auroc", 0.8, True, fold_scores=[0.8] * 10, split=FOLDS)
    assert g["analyst"].list_tickets(status="open")
    return ip.client("orchestrator", "orchestrator")


def test_unanswered_tickets_are_held_by_the_orchestrator_so_the_run_goes_on(server: InProcess) -> None:
    orch_client = _open_tickets(server)
    log: list[dict[str, Any]] = []
    orch = Orchestrator(orch_client, [], _IdleHarness(), Hooks(steward=lambda: None), Limits(budget=5, max_rounds=40),
                        record=log.append)  # type: ignore[arg-type]
    reason = orch._search()
    assert orch_client.list_tickets(status="open") == []
    held = [e for e in log if e.get("event") == "tickets_held"]
    assert held and held[0]["rounds_unanswered"] == TICKET_ROUNDS and orch.held_by_orchestrator == held[0]["held"]
    answered = orch_client.list_tickets()
    assert all(k.answer == "HOLD" and "held by the orchestrator" in k.reason for k in answered)
    assert reason == "exhausted"  # no agent had anything left to do: a named end, not a hang


def test_tickets_nobody_can_answer_end_the_run_with_that_reason(server: InProcess,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    orch_client = _open_tickets(server)

    def refuse(*_: Any, **__: Any) -> Any:
        raise ProtocolViolation("permission", "refused in this test")

    monkeypatch.setattr(orch_client, "answer_ticket", refuse)
    orch = Orchestrator(orch_client, [], _IdleHarness(), Hooks(steward=lambda: None), Limits(budget=5, max_rounds=40))
    assert orch._search() == "tickets_unanswered" and orch.round == TICKET_ROUNDS


# -- end to end through the CLI (slow) --------------------------------------------------------------

def _cohort(root: Path) -> Path:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.data.iloc[:300, :20].copy()  # 146 events / 20 variables: EPV 7.3 < 10, so low_epv fires
    frame.columns = [f"f{i}" for i in range(frame.shape[1])]
    frame["malignant"] = 1 - data.target.iloc[:300].to_numpy()
    (root / "data").mkdir(parents=True)
    frame.to_csv(root / "data" / "d.csv", index=False)
    (root / "TASK.md").write_text("---\nname: cohort\ntask_type: binary\nendpoint: malignant\npositive_class: 1\n"
                                  "data: data/d.csv\n---\nBreast-cancer nuclei, one row per tumour.\n")
    return root


@pytest.mark.slow
def test_a_cli_run_reasons_through_the_graph_and_finishes_with_a_champion(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from autods.agents import run as run_module
    from autods.agents.run import RunOptions
    from autods.cli import run as cli

    fast = RunOptions(n_resamples=0, track_resamples=20, floor_seeds=2)
    monkeypatch.setattr(run_module, "start_run", functools.partial(run_module.start_run, options=fast))
    task = _cohort(tmp_path / "task")
    # 11: the design's two floor seeds and dummy, and the server's recalibrated variant (two seeds), come first
    code = cli(["run", str(task), "--runs-dir", str(tmp_path / "runs"), "--run-name", "g", "--budget", "11", "--quiet"])
    assert code == 0, capsys.readouterr()
    folder = tmp_path / "runs" / "g"
    summary = json.loads((folder / "run_summary.json").read_text())
    brief = {k: v for k, v in summary.items() if k != "log"}
    assert summary["champion"] is not None, brief
    graph = summary["graph"]
    assert graph["diagnoses"] >= 1 and graph["ideas"] >= 1 and graph["tickets_answered"] >= 1, brief
    rates = summary["critique_rates"]
    total = sum(r["count"] for r in rates.values())
    assert total == sum(summary["critiques"].values()) and math.isclose(sum(r["rate"] for r in rates.values()), 1.0)
    steps = [json.loads(line) for line in (folder / "audit.jsonl").read_text().splitlines()]
    ok = [s for s in steps if s.get("type") == "agent_step" and s["ok"]]
    to_now = {s["action"]["idea_id"] for s in ok if s["action"]["kind"] == "set_tier" and s["action"]["tier"] == "NOW"}
    dispatched = [i for s in ok if s["action"]["kind"] == "dispatch" for i in s["created"]["item_ids"]]
    answered = [t for s in ok if s["action"]["kind"] == "answer_ticket" for t in s["created"]["tickets"]]
    assert to_now and dispatched and answered, brief
    from autods.server.service import Actor, Service
    from autods.state.store import Store

    store = Store.open(f"sqlite:///{folder / 'state.db'}")
    try:
        service, viewer = Service(store), Actor(agent_id=None, role="viewer")
        run_id = service.list_runs(viewer)[0].id
        view = service.graph(viewer, run_id)
        results = service.list_results(viewer, run_id)
        ran = {r.proposal_id for r in results} & to_now
        assert ran, "an idea that entered NOW has a result"
        verdicts = [k for k in view.tickets if k.idea_id in ran and k.status == "answered"]
        assert verdicts and all(k.reason for k in verdicts)  # NOW -> result -> ticket -> verdict
        assert all(diagnosis_key(d.claim) for d in view.diagnoses)
    finally:
        store.close()


# -- the analyst's graph step ------------------------------------------------------------------------

def _analyst_obs(agent: str = "analyst-1", **update: Any) -> Any:
    from agents_helpers import summary

    obs = observation(agent=agent, role="analyst", summ=summary(epv=5.0))
    return obs.model_copy(update=update)


def test_the_analyst_adds_a_missing_diagnosis_once_across_analysts() -> None:
    from autods.agents.expert.graph_analyst import graph_step

    steps = [graph_step(_analyst_obs(f"analyst-{k}"), 3, None) for k in (1, 2, 3)]
    diagnosed = [s for s in steps if isinstance(s, Diagnose)]
    assert len(diagnosed) == 1 and diagnosis_key(diagnosed[0].claim) == "low_epv"  # one owner per key
    assert diagnosed[0].finding_ids == [1]  # cites the steward's summary post
    assert all(s is None for s in steps if not isinstance(s, Diagnose))


def test_the_analyst_proposes_ideas_from_the_diagnosis_then_relates_them() -> None:
    from autods.agents.expert.graph_analyst import graph_step

    node = {"id": 4, "claim": "[low_epv] too few events", "status": "open"}
    first = graph_step(_analyst_obs(diagnoses=[node]), 1, None)
    assert isinstance(first, ProposeIdea) and first.diagnosis_id == 4
    assert first.if_works and first.if_fails and first.surprise_if and first.effect_basis
    idea = {"id": 9, "title": first.title, "tier": "NEXT", "diagnosis_id": 4, "family": first.recipe["family"],
            "author_name": "analyst-1", "surprise_if": first.surprise_if}
    from agents_helpers import proposal

    props = [proposal(9, first.recipe, title=first.title)]
    second = graph_step(_analyst_obs(diagnoses=[node], ideas=[idea], proposals=props), 1, None)
    assert isinstance(second, ProposeIdea) and second.recipe != first.recipe  # the next sketch, not the same one
    sibling = {**idea, "id": 10, "family": second.recipe["family"], "title": second.title}
    props.append(proposal(10, second.recipe, title=second.title))
    rel = graph_step(_analyst_obs(diagnoses=[node], ideas=[idea, sibling], proposals=props), 1, None)
    assert isinstance(rel, Relate) and (rel.src_id, rel.dst_id, rel.relation) == (10, 9, "same_diagnosis")


def test_nothing_fires_so_the_graph_step_leaves_the_generic_policy_alone() -> None:
    from autods.agents.expert.analyst import analyst
    from autods.agents.expert.graph_analyst import graph_step

    obs = observation(agent="analyst-1", role="analyst")  # 40 events per variable, no findings
    assert graph_step(obs, 3, None) is None
    assert not isinstance(analyst(obs, 3), (Diagnose, ProposeIdea, Relate, SetTier, Dispatch))


def test_a_full_now_demotes_an_answered_occupant_by_name() -> None:
    from agents_helpers import critique, proposal
    from autods.agents.expert.graph_analyst import graph_step

    node = {"id": 4, "claim": "[low_epv] too few events", "status": "open"}
    rec, done = recipe("logistic", C=0.1), recipe("elastic_net")
    mine = {"id": 9, "title": "low EPV: logistic", "tier": "NEXT", "diagnosis_id": 4, "family": "logistic",
            "author_name": "analyst-1", "surprise_if": "s", "tier_changed_at": 5.0}
    occupants = [{"id": 20 + k, "title": f"ran {k}", "tier": "NOW", "diagnosis_id": 4, "family": "elastic_net",
                  "author_name": "analyst-2", "surprise_if": "s", "tier_changed_at": float(k)} for k in range(2)]
    props = [proposal(9, rec, critiques=[critique(1, 9, "approve")])]
    props += [proposal(20 + k, done, author="analyst-2", status="queued") for k in range(2)]
    related = [{"src_id": 9, "dst_id": 20, "kind": "same_diagnosis"}, {"src_id": 21, "dst_id": 20, "kind": "same_diagnosis"}]
    step = graph_step(_analyst_obs(diagnoses=[node], ideas=[mine, *occupants], proposals=props,
                                   relations=related, now_capacity=2), 1, None)
    assert isinstance(step, SetTier) and step.idea_id == 9 and step.tier == "NOW" and step.demote == "ran 0"


# -- the single-agent baseline (bench/team.py) ------------------------------------------------------

def test_a_single_agent_run_relates_nothing_and_runs_one_item_at_a_time(examples_dir: Path, tmp_path: Path) -> None:
    from threadpoolctl import threadpool_limits

    from autods.agents.roles import TeamSpec
    from autods.agents.run import RunOptions, start_run
    from autods.agents.session import Session
    from autods.runfolder import RunFolder

    team = TeamSpec.single_agent()
    assert (team.analysts, team.critique, team.relations, team.sequential) == (1, False, False, True)
    opts = RunOptions(team=team.as_dict(), n_resamples=0, floor_seeds=2, finish=())
    with threadpool_limits(1):
        out = start_run(examples_dir / "task-breast-cancer", run_name="one", runs_dir=tmp_path, budget=8,
                        executor="inline", display=False, options=opts)
    s = out.summary
    assert len(s["log"]) >= 5 and s["graph"]["ideas"] >= 2 and s["graph"]["relations"] == 0  # two ideas, unrelated
    assert s["critique_rates"]["approve"]["count"] > 0 and s["critique_rates"]["approve"]["rate"] == 1.0
    steps = [json.loads(line) for line in (tmp_path / "one" / "audit.jsonl").read_text().splitlines()]
    assert not any(e.get("action", {}).get("kind") == "relate" for e in steps if e.get("type") == "agent_step")
    running: set[int] = set()
    for e in steps:  # the harness's own record of every job it started and recorded
        if e.get("event") == "submit":
            assert not running, f"item {e['item_id']} started while {running} ran"
            running.add(int(e["item_id"]))
        elif e.get("event") in ("recorded", "failed", "cancelled", "lease_lost", "discarded"):
            running.discard(int(e["item_id"]))
    with Session(RunFolder(tmp_path / "one")) as session:  # what the server enforces, whatever the executor
        assert session.service.slot_limit == 1
        assert session.client.graph().now_capacity == 1


def test_a_team_forms_around_the_diagnosis_its_surviving_idea_tests() -> None:
    from agents_helpers import critique, proposal
    from autods.agents.actions import FormTeam
    from autods.agents.expert.analyst import analyst

    node = {"id": 4, "claim": "[low_epv] too few events per variable", "status": "open"}
    plain = proposal(3, recipe("lightgbm"), critiques=[critique(1, 3, "approve")], title="plain lightgbm")
    idea = proposal(9, recipe("logistic", C=0.1), critiques=[critique(2, 9, "approve")], title="shrink the logistic")
    idea["idea"] = {"tier": "NEXT", "diagnosis_id": 4}
    step = analyst(_analyst_obs(diagnoses=[node], proposals=[plain, idea]), 1)
    assert isinstance(step, FormTeam) and step.name == "analyst-1: [low_epv]"  # the diagnosis, not 'lightgbm'
    assert step.hypothesis == node["claim"] and "diagnosis 4" in step.strategy
    idea["critiques"] = [critique(2, 9, "revise")]  # no surviving idea: the family label, as before
    step = analyst(_analyst_obs(diagnoses=[node], proposals=[plain, idea]), 1)
    assert isinstance(step, FormTeam) and step.name == "analyst-1: lightgbm"


def test_dispatch_never_hands_out_more_ideas_than_the_budget_left() -> None:
    from agents_helpers import critique, proposal
    from autods.agents.actions import Enqueue
    from autods.agents.expert.graph_analyst import graph_step

    nodes = [{"id": 4, "claim": "[low_epv] few events", "status": "open"},
             {"id": 5, "claim": "[nonlinearity] a bend", "status": "open"}]
    recs = {9: recipe("logistic", C=0.1), 10: recipe("elastic_net")}
    ideas = [{"id": k, "title": f"idea {k}", "tier": "NOW", "diagnosis_id": d, "family": recs[k]["family"],
              "recipe": recs[k], "author_name": "analyst-1", "surprise_if": "s", "tier_changed_at": float(k)}
             for k, d in ((9, 4), (10, 5))]
    props = [proposal(k, recs[k], critiques=[critique(k, k, "approve")]) for k in recs]
    obs = _analyst_obs(diagnoses=nodes, ideas=ideas, proposals=props, now_capacity=2)
    step = graph_step(obs, 1, None)
    assert isinstance(step, Dispatch)  # two ideas on two diagnoses, 15 experiments left: both go
    short = graph_step(obs.model_copy(update={"budget_used": obs.budget_total - 1}), 1, None)
    assert isinstance(short, Enqueue) and short.proposal_id == 9  # one left: one idea, counted by the gate
    gate = Gate(budget_left=1, phase="execution", queued_this_round=1)
    action, refusal = validate(Dispatch(seeds=[0]), role("analyst"), gate)
    assert action is None and "queued this round" in str(refusal)  # another agent's enqueue moved the budget

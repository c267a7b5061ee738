"""One test per side door of issue 14 (deliverable 2), each shown closed on the Service
in-process and over REST (and over MCP where the verb is a tool, in one session at the end).

The doors: a mislabelled family inside a dead end; a spelled-out default evading the
duplicate rule; a ``revise`` that did not block (and a validator's reject that could be
outvoted); design / finding / noise-floor posts from any role; the noise floor read back
from a forgeable post on resume; anyone aborting anyone's item.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_server_mcp import call, connect, refusal

from autods.agents.expert import evidence as ev
from autods.agents.snapshot import SnapshotReader
from autods.errors import PermissionDenied, ProtocolViolation
from autods.server.app import create_app
from autods.server.client import Coordinator
from autods.server.serve import running_server
from autods.server.service import Actor, Service
from autods.state.store import Store

MEMBERS = (("ann", "analyst"), ("bob", "analyst"), ("cat", "analyst"), ("val", "validator"),
           ("bio", "biostatistician"), ("stew", "steward"), ("orch", "orchestrator"), ("mon", "monitor"),
           ("exp", "experimenter"), ("harness", "harness"), ("viewer", "viewer"))
LGBM = {"family": "lightgbm", "params": {"num_leaves": 63}}
SUMMARY = {"name": "t", "task_type": "binary", "endpoint": "y", "metric": "auroc", "higher_is_better": True,
           "cv_strategy": "stratified-cv", "n_rows": 200, "n_units": 200, "n_events": 40,
           "events_per_variable": 4.0, "features": []}


class Via:
    """The verbs as one agent calls them, in-process (the Service) or over REST (the client)."""

    def __init__(self, world: World, name: str, rest: bool) -> None:
        self.w, self.actor = world, world.actors[name]
        self.client = Coordinator(token=world.tokens[name], app=world.app) if rest else None
        if self.client is not None:
            world.clients.append(self.client)

    def propose(self, recipe: dict[str, Any], family: str | None = None, revises: int | None = None,
                team_id: int | None = None) -> Any:
        if self.client is not None:
            return self.client.propose(recipe, "h", 0.01, family, team_id=team_id, revises=revises)
        return self.w.svc.propose(self.actor, self.w.run_id, recipe, "h", 0.01, family, team_id=team_id,
                                  revises=revises)

    def critique(self, proposal_id: int, verdict: str, reasons: str = "checked") -> Any:
        if self.client is not None:
            return self.client.critique(proposal_id, verdict, reasons)
        return self.w.svc.critique(self.actor, proposal_id, verdict, reasons)

    def enqueue(self, proposal_id: int, seed: int = 0) -> Any:
        if self.client is not None:
            return self.client.enqueue(proposal_id, seed)
        return self.w.svc.enqueue(self.actor, proposal_id, seed)

    def post(self, kind: str, data: dict[str, Any] | None = None, body: str = "") -> Any:
        if self.client is not None:
            return self.client.post(kind, "t", body, data)
        return self.w.svc.post(self.actor, self.w.run_id, kind, "t", body, data)

    def abort(self, item_id: int) -> Any:
        if self.client is not None:
            return self.client.abort(item_id, "stop")
        return self.w.svc.abort(self.actor, item_id, "stop")

    def dead_end(self, family: str, region: dict[str, Any]) -> Any:
        if self.client is not None:
            return self.client.add_dead_end(family, region, "4 losses in a row")
        return self.w.svc.add_dead_end(self.actor, self.w.run_id, family, region, "4 losses in a row")

    def records(self) -> dict[str, Any]:
        if self.client is not None:
            return self.client.run_records()
        return self.w.svc.run_records(self.actor, self.w.run_id).model_dump(mode="json")


@dataclass
class World:
    store: Store
    svc: Service
    app: Any
    run_id: int
    team_id: int
    actors: dict[str, Actor]
    tokens: dict[str, str]
    rest: bool
    clients: list[Coordinator]

    def as_(self, name: str) -> Via:
        return Via(self, name, self.rest)


def _world(url: str, rest: bool) -> World:
    store = Store.open(url)
    svc = Service(store, noise_floor=None, slot_limit=8)
    run = svc.create_run("doors")
    tokens = {name: svc.register_agent(run.id, name, role)[1] for name, role in MEMBERS}
    actors = {name: svc.authenticate(tok) for name, tok in tokens.items()}
    team = svc.create_team(actors["ann"], run.id, "trees", "interactions", "lightgbm sweep")  # type: ignore[arg-type]
    for mate in ("dan", "eve"):  # registered members of 'trees'
        tokens[mate] = svc.register_agent(run.id, mate, "analyst", team.id)[1]
        actors[mate] = svc.authenticate(tokens[mate])
    return World(store, svc, create_app(svc), run.id, team.id, actors, tokens, rest, [])  # type: ignore[arg-type]


@pytest.fixture(params=["in-process", "rest", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The Service in-process and over REST on SQLite; in-process on PostgreSQL (marked)."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else f"sqlite:///{tmp_path / 'state.db'}"
    w = _world(url, request.param == "rest")
    yield w
    for c in w.clients:
        c.close()
    w.store.close()


def refused(exc: type[Exception], rule: str, fn: Any, *args: Any, **kw: Any) -> str:
    with pytest.raises(exc) as info:
        fn(*args, **kw)
    assert getattr(info.value, "rule", None) == rule, info.value
    assert "\n" not in str(info.value)  # one line, naming the fix
    return str(info.value)


def test_a_mislabelled_family_cannot_enter_a_dead_end(world: World) -> None:
    ann, bob = world.as_("ann"), world.as_("bob")
    ann.dead_end("lightgbm", {"num_leaves": 63})
    # The exploit: a lightgbm recipe labelled "logistic". The label is refused, not believed...
    msg = refused(ProtocolViolation, "family_label", ann.propose, LGBM, family="logistic")
    assert "'lightgbm'" in msg
    # ...and unlabelled, the server's own reading puts it in the dead end.
    p = ann.propose(LGBM)
    assert p.family == "lightgbm"
    bob.critique(p.id, "approve")
    refused(ProtocolViolation, "dead_end", ann.enqueue, p.id)
    # A record written before canonicalisation, with the forged label, is judged by its recipe too.
    legacy = world.store.propose(world.run_id, LGBM, "h", 0.0, "logistic", actor=str(world.actors["ann"].agent_id))
    bob.critique(legacy.id, "approve")
    refused(ProtocolViolation, "dead_end", ann.enqueue, legacy.id)
    # Outside the region the family is open; a region key lightgbm recipes cannot have is refused.
    outside = ann.propose({"family": "lightgbm", "params": {"num_leaves": 15}})
    bob.critique(outside.id, "approve")
    assert ann.enqueue(outside.id).status == "pending"
    refused(ProtocolViolation, "dead_end_region", ann.dead_end, "lightgbm", {"kernel": "rbf"})
    refused(ProtocolViolation, "recipe", ann.propose, {"model": "gbm"})


def test_spelling_out_a_default_is_the_same_recipe(world: World) -> None:
    ann, bob = world.as_("ann"), world.as_("bob")
    plain = ann.propose({"family": "logistic"})
    bob.critique(plain.id, "approve")
    ann.enqueue(plain.id, seed=0)
    spelled = ann.propose({"family": "logistic", "params": {"C": 1, "max_iter": 2000, "class_weight": None}})
    assert spelled.canonical_hash == plain.canonical_hash and spelled.recipe == plain.recipe
    bob.critique(spelled.id, "approve")
    refused(ProtocolViolation, "duplicate", ann.enqueue, spelled.id, 0)
    # A dead end on a default value binds recipes that leave it unsaid.
    ann.dead_end("logistic", {"params.C": 1.0})
    refused(ProtocolViolation, "dead_end", ann.enqueue, plain.id, 1)


def test_revise_blocks_until_a_revised_version_is_approved(world: World) -> None:
    ann, bob, cat = world.as_("ann"), world.as_("bob"), world.as_("cat")
    p = ann.propose({"family": "lightgbm"})
    bob.critique(p.id, "revise", "too flexible for 40 events: fewer leaves")
    cat.critique(p.id, "approve")
    assert "revises=" in refused(ProtocolViolation, "revise", ann.enqueue, p.id)
    # Re-proposing the very same recipe under a new id does not shed the revise.
    twin = ann.propose({"family": "lightgbm", "params": {"num_leaves": 31}})
    cat.critique(twin.id, "approve")
    refused(ProtocolViolation, "revise", ann.enqueue, twin.id)
    # Nor can a "revision" leave the recipe unchanged, or revise someone else's proposal.
    refused(ProtocolViolation, "revises", ann.propose, {"family": "lightgbm"}, revises=p.id)
    refused(ProtocolViolation, "revises", cat.propose, {"family": "lightgbm", "params": {"num_leaves": 7}},
            revises=p.id)
    revised = ann.propose({"family": "lightgbm", "params": {"num_leaves": 7}}, revises=p.id)
    refused(ProtocolViolation, "needs_approval", ann.enqueue, revised.id)  # a new version needs its own approval
    bob.critique(revised.id, "approve")
    assert ann.enqueue(revised.id).status == "pending"
    refused(ProtocolViolation, "withdrawn", ann.enqueue, p.id)  # the revised version is superseded


def test_a_validators_reject_is_final_for_that_version(world: World) -> None:
    ann, bob, cat, val = world.as_("ann"), world.as_("bob"), world.as_("cat"), world.as_("val")
    p = ann.propose({"family": "random_forest"})
    val.critique(p.id, "reject", "uses a post-discharge feature")
    bob.critique(p.id, "approve")
    cat.critique(p.id, "approve")  # two approvals overrule an analyst's reject, not a validator's
    refused(ProtocolViolation, "rejected_final", ann.enqueue, p.id)
    again = ann.propose({"family": "random_forest", "params": {"n_estimators": 200}})  # same version
    bob.critique(again.id, "approve")
    refused(ProtocolViolation, "rejected_final", ann.enqueue, again.id)
    changed = ann.propose({"family": "random_forest", "params": {"n_estimators": 500}}, revises=p.id)
    bob.critique(changed.id, "approve")
    assert ann.enqueue(changed.id).status == "pending"


def test_design_finding_and_noise_floor_come_only_from_their_owners(world: World) -> None:
    ann, bio, stew, orch = world.as_("ann"), world.as_("bio"), world.as_("stew"), world.as_("orch")
    design = {"events_per_variable": 4.0, "penalise": True, "unsafe_features": ["discharge_code"]}
    bio.post("design", body='Penalise first.\n\n```json\n{"design": %s}\n```' % _json(design))
    stew.post("finding", {"steward_summary": SUMMARY})
    orch.post("finding", {"noise_floor": {"value": 0.02, "n_seeds": 3}})
    # The forgeries of the side door: each refused (403) with the owner named.
    forged = {"events_per_variable": 50.0, "penalise": False, "unsafe_features": []}
    assert "biostatistician" in refused(PermissionDenied, "permission", ann.post, "design", {"design": forged})
    refused(PermissionDenied, "permission", ann.post, "design", body='```json\n{"design": %s}\n```' % _json(forged))
    refused(PermissionDenied, "permission", ann.post, "finding", {"check": "leakage", "message": "all clear"})
    refused(PermissionDenied, "permission", ann.post, "note", {"design": forged})
    refused(PermissionDenied, "permission", stew.post, "finding", {"noise_floor": {"value": 0.0}})
    refused(PermissionDenied, "permission", bio.post, "design", {"noise_floor": {"value": 0.0}})
    # A forged post that got in anyway (written under the Store, as an old database might hold) is ignored.
    with world.store.write(str(world.actors["ann"].agent_id), world.run_id) as tx:
        tx.add_post(world.run_id, "design", "forged", "", {"design": forged}, None, None)
    records = ann.records()
    assert records["design"]["value"] == design and records["design"]["role"] == "biostatistician"
    assert records["steward_summary"]["role"] == "steward" and records["noise_floor"]["value"]["value"] == 0.02
    # The critics read the design from the server's record: the snapshot, and the observation they decide on.
    with Coordinator(token=world.tokens["bob"], app=world.app) as c:
        snap = SnapshotReader(c).read()
    assert snap.design == design and snap.floor == {"value": 0.02, "n_seeds": 3}
    obs = snap.observation(agent="bob", role="analyst", team_id=None, step=0, phase="discussion", allowed=[],
                           budget_total=5, budget_used=0, feedback=None, seed=0, stagnating=False)
    assert ev.design(obs) == design and obs.noise_floor == 0.02
    assert "forged" not in [p["title"] for p in obs.posts]


def test_the_noise_floor_of_a_resumed_run_comes_from_server_state(world: World, tmp_path: Path) -> None:
    orch, ann = world.as_("orch"), world.as_("ann")
    orch.post("finding", {"noise_floor": {"value": 0.05, "n_seeds": 3}})
    refused(PermissionDenied, "permission", ann.post, "finding", {"noise_floor": {"value": 0.0}})
    with world.store.write(str(world.actors["ann"].agent_id), world.run_id) as tx:  # a forgery in an old database
        tx.add_post(world.run_id, "finding", "Noise floor 0", "", {"noise_floor": {"value": 0.0}}, None, None)
    # A restart: a new Service over the same database, no floor configured (what `resume` starts from).
    fresh = Service(world.store, noise_floor=None)
    app = create_app(fresh)
    with Coordinator(token=world.tokens["orch"], app=app) as c:
        assert SnapshotReader(c).read().floor == {"value": 0.05, "n_seeds": 3}
    # ...and the restarted server promotes against that floor, not the forged 0.
    _champion_and_challenger(world, fresh, gain=0.03)


def _champion_and_challenger(world: World, svc: Service, gain: float) -> None:
    a = world.actors
    ids = []
    for params, value in (({"C": 0.1}, 0.80), ({"C": 10.0}, 0.80 + gain)):
        p = svc.propose(a["ann"], world.run_id, {"family": "logistic", "params": params}, "h", 0.0)
        svc.critique(a["bob"], p.id, "approve", "ok")
        rs = []
        for seed in (0, 1):
            svc.enqueue(a["ann"], p.id, seed)
            item = svc.claim(a["exp"], world.run_id)
            assert item is not None
            rs.append(svc.record_result(a["harness"], item.id, "auroc", value, True, [value] * 3))
        ids.append(rs[0].id)
    svc.promote(a["val"], ids[0])
    msg = refused(ProtocolViolation, "no_improvement", svc.promote, a["val"], ids[1])
    assert "noise floor 0.05" in msg


def test_only_the_owning_team_the_monitor_or_the_orchestrator_abort(world: World) -> None:
    ann, bob, dan = world.as_("ann"), world.as_("bob"), world.as_("dan")
    p = ann.propose({"family": "lightgbm"}, team_id=world.team_id)
    bob.critique(p.id, "approve")
    items = [ann.enqueue(p.id, seed) for seed in range(4)]
    claimed = world.svc.claim(world.actors["exp"], world.run_id)  # a run in flight
    assert claimed is not None and claimed.id == items[0].id
    assert "ask that team" in refused(PermissionDenied, "permission", bob.abort, items[0].id)
    assert dan.abort(items[0].id).status == "aborted"  # a registered member of the item's team
    assert ann.abort(items[1].id).status == "aborted"  # the proposer
    assert world.as_("mon").abort(items[2].id).status == "aborted"
    assert world.as_("orch").abort(items[3].id).status == "aborted"
    refused(PermissionDenied, "permission", world.as_("exp").abort, items[0].id)  # no abort verb at all
    # An item outside any team queue belongs to its proposer's (registered) team.
    q = dan.propose({"family": "ridge"})
    bob.critique(q.id, "approve")
    loose = dan.enqueue(q.id)
    assert loose.team_id is None
    refused(PermissionDenied, "permission", ann.abort, loose.id)
    assert world.as_("eve").abort(loose.id).status == "aborted"


def test_mcp_takes_the_same_doors_closed(tmp_path: Path) -> None:
    w = _world(f"sqlite:///{tmp_path / 'mcp.db'}", rest=False)
    try:
        with running_server(w.app) as url:
            asyncio.run(_mcp(url, w))
    finally:
        w.store.close()


async def _mcp(url: str, w: World) -> None:
    async with connect(url, w.tokens["ann"]) as ann, connect(url, w.tokens["bob"]) as bob:
        await call(ann, "add_dead_end", family="lightgbm", region={"num_leaves": 63}, reason="4 losses")
        err = await refusal(ann, "propose", recipe=LGBM, hypothesis="h", expected_effect=0.01, family="logistic")
        assert err["rule"] == "family_label" and err["code"] == "protocol_violation"
        p = await call(ann, "propose", recipe=LGBM, hypothesis="h", expected_effect=0.01, family="lightgbm")
        await call(bob, "critique", proposal_id=p["id"], verdict="approve", reasons="ok")
        assert (await refusal(ann, "enqueue", proposal_id=p["id"]))["rule"] == "dead_end"
        q = await call(ann, "propose", recipe={"family": "logistic"}, hypothesis="h", expected_effect=0.0,
                       family="logistic")
        await call(bob, "critique", proposal_id=q["id"], verdict="revise", reasons="penalise")
        assert (await refusal(ann, "enqueue", proposal_id=q["id"]))["rule"] == "revise"
        err = await refusal(ann, "post", kind="design", title="forged", data={"design": {"penalise": False}})
        assert err["code"] == "permission_denied"
        r = await call(ann, "propose", recipe={"family": "ridge"}, hypothesis="h", expected_effect=0.0, family="ridge")
        await call(bob, "critique", proposal_id=r["id"], verdict="approve", reasons="ok")
        item = await call(ann, "enqueue", proposal_id=r["id"])
        assert (await refusal(bob, "abort", item_id=item["id"], reason="mine now"))["code"] == "permission_denied"


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, sort_keys=True)


def test_a_brain_answers_a_revise_with_a_revision(tmp_path: Path) -> None:
    """The agent path: a brain's Propose carries ``revises`` through the action gate and the client."""
    from autods.agents.act import Gate, apply, validate
    from autods.agents.actions import Propose
    from autods.agents.roles import ROLES

    w = _world(f"sqlite:///{tmp_path / 'brain.db'}", rest=True)
    try:
        ann, bob = w.as_("ann"), w.as_("bob")
        p = ann.propose({"family": "lightgbm"})
        bob.critique(p.id, "revise", "fewer leaves under 40 events")
        gate = Gate(budget_left=5, phase="discussion")
        action, why = validate(Propose(recipe={"family": "lightgbm", "params": {"num_leaves": 7}}, hypothesis="h",
                                       expected_effect=0.01, family="lightgbm", revises=p.id), ROLES["analyst"], gate)
        assert action is not None, why
        assert ann.client is not None
        outcome = apply(action, ann.client, None)
        assert outcome.ok, outcome.feedback
        revised = outcome.created["proposal_id"]
        thread = [x for x in w.svc.list_posts(w.actors["viewer"], w.run_id, kind="proposal") if x.data.get("revises")]
        assert [x.data["revises"] for x in thread] == [p.id]
        bob.critique(revised, "approve")
        assert ann.enqueue(revised).status == "pending"
        same, _ = validate(Propose(recipe={"family": "lightgbm", "params": {"num_leaves": 7.0}}, hypothesis="h",
                                   expected_effect=0.01, family="lightgbm", revises=revised), ROLES["analyst"], gate)
        assert same is not None
        refusal = apply(same, ann.client, None)  # a "revision" that changes nothing
        assert not refusal.ok and "(revises)" in (refusal.feedback or "")
        # Reverting to the version under a revise is a new proposal, but that version stays blocked.
        back, _ = validate(Propose(recipe={"family": "lightgbm"}, hypothesis="h", expected_effect=0.01,
                                   family="lightgbm", revises=revised), ROLES["analyst"], gate)
        assert back is not None
        reverted = apply(back, ann.client, None)
        assert reverted.ok
        w.as_("cat").critique(reverted.created["proposal_id"], "approve")  # bob's revise of that version stands
        refused(ProtocolViolation, "revise", ann.enqueue, reverted.created["proposal_id"])
    finally:
        for c in w.clients:
            c.close()
        w.store.close()

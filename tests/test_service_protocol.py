"""One test per protocol rule (issue 4, rules a-j): the refusal and the reason it names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autods.errors import PermissionDenied, ProtocolViolation
from autods.server.service import Actor, Service
from autods.state.records import Proposal, Result
from autods.state.store import Store


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class World:
    svc: Service
    clock: Clock
    run_id: int
    ann: Actor  # analyst (proposer)
    bob: Actor  # analyst (critic)
    cat: Actor  # analyst (second critic)
    exp: Actor  # experimenter
    exp2: Actor
    harness: Actor
    validator: Actor
    viewer: Actor


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    clock = Clock()
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    store = Store.open(url, clock=clock)
    svc = Service(store, noise_floor=0.01, slot_limit=2, stagnation_k=3)
    run = svc.create_run("protocol")
    actors = {}
    for name, role in [("ann", "analyst"), ("bob", "analyst"), ("cat", "analyst"), ("exp", "experimenter"),
                       ("exp2", "experimenter"), ("harness", "harness"), ("validator", "validator"),
                       ("viewer", "viewer")]:
        _, token = svc.register_agent(run.id, name, role)
        actor = svc.authenticate(token)
        assert actor is not None
        actors[name] = actor
    yield World(svc, clock, run.id, **actors)
    store.close()


def propose(w: World, recipe: dict[str, Any] | None = None, family: str | None = None) -> Proposal:
    return w.svc.propose(w.ann, w.run_id, recipe or {"family": "logistic", "params": {"C": 0.3}}, "regularised LR",
                         0.01, family)


def approved(w: World, recipe: dict[str, Any] | None = None, family: str | None = None) -> Proposal:
    p = propose(w, recipe, family)
    w.svc.critique(w.bob, p.id, "approve", "sound")
    return p


def run_seed(w: World, p: Proposal, seed: int, value: float, metric: str = "auroc", hib: bool = True) -> Result:
    w.svc.enqueue(w.ann, p.id, seed=seed)
    item = w.svc.claim(w.exp, w.run_id)
    assert item is not None
    return w.svc.record_result(w.harness, item.id, metric, value, hib, [value - 0.001, value + 0.001])


def rule(excinfo: pytest.ExceptionInfo[ProtocolViolation]) -> str:
    return excinfo.value.rule


def test_a_enqueue_needs_an_approval_from_another_agent(world: World) -> None:
    p = propose(world)
    with pytest.raises(ProtocolViolation, match="no approving critique") as exc:
        world.svc.enqueue(world.ann, p.id)
    assert rule(exc) == "needs_approval"
    with pytest.raises(ProtocolViolation) as exc:
        world.svc.critique(world.ann, p.id, "approve", "my own idea is great")
    assert rule(exc) == "self_critique"
    world.svc.critique(world.bob, p.id, "revise", "try C=0.1")
    with pytest.raises(ProtocolViolation):
        world.svc.enqueue(world.ann, p.id)
    world.svc.critique(world.bob, p.id, "approve", "ok after discussion")  # latest verdict counts
    assert world.svc.enqueue(world.ann, p.id).status == "pending"


def test_a_reject_is_overruled_only_by_two_approvals(world: World) -> None:
    p = propose(world)
    world.svc.critique(world.cat, p.id, "reject", "leaks the outcome")
    world.svc.critique(world.bob, p.id, "approve", "looks fine")
    with pytest.raises(ProtocolViolation, match="2 approvals are needed") as exc:
        world.svc.enqueue(world.ann, p.id)
    assert rule(exc) == "rejected"
    world.svc.critique(world.validator, p.id, "approve", "checked: no leak")
    assert world.svc.enqueue(world.ann, p.id).proposal_id == p.id


def test_b_no_canonical_duplicate(world: World) -> None:
    p = approved(world, {"family": "logistic", "params": {"C": 0.5}})
    item = world.svc.enqueue(world.ann, p.id, seed=7)
    with pytest.raises(ProtocolViolation, match="already pending") as exc:
        world.svc.enqueue(world.ann, p.id, seed=7)
    assert rule(exc) == "duplicate"
    # Same recipe spelled differently (key order, 1 vs 1.0) by another proposal is still a duplicate.
    twin = approved(world, {"params": {"C": 0.50}, "family": "logistic"})
    with pytest.raises(ProtocolViolation) as exc:
        world.svc.enqueue(world.ann, twin.id, seed=7)
    assert rule(exc) == "duplicate"
    assert world.svc.enqueue(world.ann, twin.id, seed=8).seed == 8  # another seed is new work
    world.svc.abort(world.ann, item.id, "wrong split")
    assert world.svc.enqueue(world.ann, p.id, seed=7).status == "pending"  # aborted work may be redone


def test_c_dead_end_refused_unless_reopened_with_reason(world: World) -> None:
    dead = world.svc.add_dead_end(world.validator, world.run_id, "lightgbm", {"num_leaves": 127},
                                  "overfits: 4 losses in a row", {"results": [1, 2, 3, 4]})
    p = approved(world, {"family": "lightgbm", "params": {"num_leaves": 127, "learning_rate": 0.1}}, family="lightgbm")
    with pytest.raises(ProtocolViolation, match=f"dead end {dead.id}") as exc:
        world.svc.enqueue(world.ann, p.id)
    assert rule(exc) == "dead_end"
    outside = approved(world, {"family": "lightgbm", "params": {"num_leaves": 15}})
    world.svc.enqueue(world.ann, outside.id)  # other region of the same family is fine
    with pytest.raises(ProtocolViolation) as exc:
        world.svc.critique(world.cat, p.id, "approve", "  ", reopens_dead_end=dead.id)
    assert rule(exc) == "reopen_dead_end"
    world.svc.critique(world.cat, p.id, "approve", "new features change the picture", reopens_dead_end=dead.id)
    assert world.svc.enqueue(world.ann, p.id).status == "pending"


def test_d_claims_are_exactly_once_with_lease_and_expiry(world: World) -> None:
    p = approved(world)
    world.svc.enqueue(world.ann, p.id, seed=0)
    first = world.svc.claim(world.exp, world.run_id, lease_s=60)
    assert first is not None and first.claimed_by == str(world.exp.agent_id)
    assert world.svc.claim(world.exp2, world.run_id) is None  # nothing else pending: no double claim
    with pytest.raises(ProtocolViolation, match="held by agent") as exc:
        world.svc.heartbeat(world.exp2, first.id)
    assert rule(exc) == "lease"
    world.clock.t += 50
    assert world.svc.heartbeat(world.exp, first.id, lease_s=60).lease_expires_at == world.clock.t + 60
    holder = world.exp
    for attempt in (1, 2, 3):
        world.clock.t += 61
        with pytest.raises(ProtocolViolation, match="expired"):
            world.svc.heartbeat(holder, first.id)
        (released,) = world.svc.release_expired(world.harness, world.run_id)
        assert released.attempts == attempt
        assert released.status == ("failed" if attempt == 3 else "pending")
        if attempt < 3:
            holder = world.exp2 if holder == world.exp else world.exp
            again = world.svc.claim(holder, world.run_id, lease_s=60)
            assert again is not None and again.id == first.id


def test_e_results_only_from_harness_for_claimed_items(world: World) -> None:
    p = approved(world)
    item = world.svc.enqueue(world.ann, p.id)
    with pytest.raises(PermissionDenied) as exc:
        world.svc.record_result(world.exp, item.id, "auroc", 0.9, True)
    assert rule(exc) == "permission"
    with pytest.raises(ProtocolViolation, match="is pending") as exc:
        world.svc.record_result(world.harness, item.id, "auroc", 0.9, True)
    assert rule(exc) == "result_requires_claim"


def test_f_promotion_needs_confirmation_and_to_beat_the_noise_floor(world: World) -> None:
    base = approved(world, {"family": "logistic"})
    r1 = run_seed(world, base, 0, 0.80)
    with pytest.raises(ProtocolViolation, match="another seed or split") as exc:
        world.svc.promote(world.validator, r1.id)
    assert rule(exc) == "needs_confirmation"
    run_seed(world, base, 1, 0.79)
    first = world.svc.promote(world.validator, r1.id)  # first champion: confirmation suffices
    assert first.value == pytest.approx(0.795) and first.previous_value is None  # the mean over seeds, not the best
    small = approved(world, {"family": "logistic", "params": {"C": 0.5}})
    s1, _ = run_seed(world, small, 0, 0.7955), run_seed(world, small, 1, 0.7956)
    with pytest.raises(ProtocolViolation, match="noise floor") as exc:
        world.svc.promote(world.validator, s1.id)
    assert rule(exc) == "no_improvement"
    lucky = approved(world, {"family": "lightgbm"})
    l1, _ = run_seed(world, lucky, 0, 0.85), run_seed(world, lucky, 1, 0.795)  # seed 1 does not confirm
    with pytest.raises(ProtocolViolation, match="also beats the champion") as exc:
        world.svc.promote(world.validator, l1.id)
    assert rule(exc) == "needs_confirmation"
    with pytest.raises(PermissionDenied):
        world.svc.promote(world.exp, l1.id)  # an experiment agent cannot promote


def test_f_promotion_is_direction_aware(world: World) -> None:
    a = approved(world, {"family": "ridge"}, family="ridge")
    a1, _ = run_seed(world, a, 0, 10.0, "rmse", False), run_seed(world, a, 1, 10.1, "rmse", False)
    world.svc.promote(world.validator, a1.id)
    higher = approved(world, {"family": "ridge", "params": {"alpha": 9}})
    h1, _ = run_seed(world, higher, 0, 11.0, "rmse", False), run_seed(world, higher, 1, 11.0, "rmse", False)
    with pytest.raises(ProtocolViolation):
        world.svc.promote(world.validator, h1.id)  # larger rmse is worse
    lower = approved(world, {"family": "ridge", "params": {"alpha": 2}})
    w1, _ = run_seed(world, lower, 0, 9.0, "rmse", False), run_seed(world, lower, 1, 9.2, "rmse", False)
    assert world.svc.promote(world.validator, w1.id).value == pytest.approx(9.1)  # mean over its two seeds
    assert [c.value for c in world.svc.champion_history(world.viewer, world.run_id)] == pytest.approx([10.05, 9.1])


def test_g_abort_only_in_flight(world: World) -> None:
    p = approved(world)
    world.svc.enqueue(world.ann, p.id, seed=0)
    item = world.svc.claim(world.exp, world.run_id)
    assert item is not None
    assert world.svc.abort(world.ann, item.id, "data issue").status == "aborted"
    with pytest.raises(ProtocolViolation, match="only in-flight") as exc:
        world.svc.abort(world.ann, item.id, "again")
    assert rule(exc) == "not_in_flight"
    with pytest.raises(ProtocolViolation):
        world.svc.record_result(world.harness, item.id, "auroc", 0.9, True)  # aborted work records nothing


def test_h_slot_limit_per_run(world: World) -> None:
    p = approved(world)
    for seed in range(3):
        world.svc.enqueue(world.ann, p.id, seed=seed)
    assert world.svc.claim(world.exp, world.run_id) is not None
    assert world.svc.claim(world.exp2, world.run_id) is not None
    with pytest.raises(ProtocolViolation, match=r"limit 2") as exc:
        world.svc.claim(world.exp, world.run_id)
    assert rule(exc) == "slot_limit"


def test_i_stagnation_posts_once_per_episode(world: World) -> None:
    def stuck() -> int:
        return len(world.svc.list_posts(world.viewer, world.run_id, kind="stuck"))

    p = approved(world)
    run_seed(world, p, 0, 0.80)  # improvement (first result)
    for seed in (1, 2):
        run_seed(world, p, seed, 0.80)
    assert stuck() == 0
    run_seed(world, p, 3, 0.805)  # third result without improvement beyond the floor
    assert stuck() == 1
    run_seed(world, p, 4, 0.79)
    assert stuck() == 1  # same episode: no repeat
    run_seed(world, p, 5, 0.90)  # progress ends the episode
    for seed in (6, 7, 8):
        run_seed(world, p, seed, 0.70)
    posts = world.svc.list_posts(world.viewer, world.run_id, kind="stuck")
    assert len(posts) == 2 and posts[-1].author == "system"


def test_j_roles_and_run_scope(world: World) -> None:
    with pytest.raises(PermissionDenied, match="'viewer' may not post") as exc:
        world.svc.post(world.viewer, world.run_id, "note", "hello")
    assert rule(exc) == "permission" and isinstance(exc.value, ProtocolViolation)
    with pytest.raises(PermissionDenied):
        world.svc.propose(world.exp, world.run_id, {"family": "logistic"}, "h", 0.1)
    with pytest.raises(ProtocolViolation) as exc:
        world.svc.post(world.ann, world.run_id, "result", "AUROC 0.99!")
    assert rule(exc) == "result_post"
    other = world.svc.create_run("other")
    with pytest.raises(PermissionDenied, match="belongs to run"):
        world.svc.post(world.ann, other.id, "note", "hi")
    assert world.svc.post(world.ann, world.run_id, "note", "hi").author == str(world.ann.agent_id)


def test_tokens_are_stored_hashed(world: World) -> None:
    agent, token = world.svc.register_agent(world.run_id, "new", "viewer")
    assert token not in agent.token_hash and len(agent.token_hash) == 64
    assert world.svc.authenticate("not-a-token") is None
    assert world.svc.authenticate(token) == Actor(agent.id, "viewer", world.run_id, "new")
    assert world.svc.verify_audit_chain(world.viewer)

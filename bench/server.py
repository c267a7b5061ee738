"""Coordination server under load: claim -> record-result cycles over HTTP vs direct calls.

    .venv/bin/python bench/server.py [--items 4000] [--clients 32]

1. Seeds a SQLite state in a temp dir: one approved proposal queued for ``--items`` seeds
   and ``--clients`` harness agents (the harness may both claim and record).
2. Starts ``autods.server.serve`` (uvicorn, tokens required) in a child process on a free
   loopback port; ``--clients`` threads, each with its own token and keep-alive httpx
   client, loop claim -> record_result until the queue is empty. Reports cycles/s and
   p50/p99 cycle latency, and checks every item was claimed exactly once (from the
   clients' view and from the store).
3. Repeats the same cycles with direct ``Service`` calls from the same number of threads
   in one process: the ceiling. Prints HTTP/direct.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from autods.server.serve import _http_impl
from autods.server.service import SYSTEM_ACTOR, Actor, Service
from autods.state.store import Store

TARGET = 500.0  # cycles/s over HTTP on 2 cores


def seed(url: str, items: int, clients: int) -> tuple[int, list[str]]:
    store = Store.open(url)
    svc = Service(store, slot_limit=clients * 2)
    run = svc.create_run("bench")
    _, a_tok = svc.register_agent(run.id, "analyst", "analyst")
    _, b_tok = svc.register_agent(run.id, "critic", "biostatistician")
    analyst, critic = svc.authenticate(a_tok), svc.authenticate(b_tok)
    assert analyst is not None and critic is not None
    proposal = svc.propose(analyst, run.id, {"model": "gbm", "depth": 3}, "bench", 0.0, "gbm")
    svc.critique(critic, proposal.id, "approve", "bench")
    for s in range(items):
        svc.enqueue(analyst, proposal.id, seed=s)
    tokens = [svc.register_agent(run.id, f"harness-{i}", "harness")[1] for i in range(clients)]
    store.close()
    return run.id, tokens


def drive(workers: int, cycle: Callable[[int], int | None]) -> tuple[float, list[float], list[int]]:
    """Run ``cycle(worker)`` in ``workers`` threads until each returns None; returns
    (seconds, per-cycle latencies, claimed item ids)."""
    lat: list[list[float]] = [[] for _ in range(workers)]
    got: list[list[int]] = [[] for _ in range(workers)]
    start = threading.Barrier(workers + 1)

    def loop(w: int) -> None:
        start.wait()
        while True:
            t0 = time.perf_counter()
            item = cycle(w)
            if item is None:
                return
            lat[w].append(time.perf_counter() - t0)
            got[w].append(item)

    threads = [threading.Thread(target=loop, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, [x for w in lat for x in w], [i for w in got for i in w]


def report(name: str, seconds: float, lat: list[float], ids: list[int], items: int) -> float:
    rate = len(ids) / seconds
    qs = statistics.quantiles(lat, n=100)
    dupes = len(ids) - len(set(ids))
    print(f"{name:>8}: {len(ids)} cycles in {seconds:.2f} s = {rate:7.1f} cycles/s   "
          f"p50 {qs[49] * 1e3:6.2f} ms   p99 {qs[98] * 1e3:6.2f} ms   double claims {dupes}")
    if dupes or len(set(ids)) != items:
        raise SystemExit(f"{name}: {dupes} double claims, {len(set(ids))}/{items} items claimed")
    return rate


def check_store(url: str, run_id: int, items: int) -> None:
    store = Store.open(url)
    try:
        done = Service(store).list_queue(SYSTEM_ACTOR, run_id, status="done")
        assert len(done) == items and len({i.id for i in done}) == items, "store disagrees"
        assert store.verify_audit_chain(), "audit chain broken"
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def over_http(url: str, run_id: int, tokens: list[str], items: int, stagnation_k: int) -> float:
    port = free_port()
    # serve() with the bench's Service settings: a slot limit that admits every client.
    code = (
        "import uvicorn\n"
        "from autods.server.app import create_app\n"
        "from autods.server.serve import _http_impl\n"
        "from autods.server.service import Service\n"
        "from autods.state.store import Store\n"
        f"svc = Service(Store.open({url!r}), slot_limit={2 * len(tokens)}, stagnation_k={stagnation_k})\n"
        f"uvicorn.run(create_app(svc), host='127.0.0.1', port={port}, log_level='warning', **_http_impl())\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("server did not start") from None
                time.sleep(0.1)
        clients = [httpx.Client(base_url=base, headers={"Authorization": f"Bearer {t}"},
                                timeout=60, limits=httpx.Limits(max_keepalive_connections=1))
                   for t in tokens]
        body = {"metric": "auroc", "value": 0.7, "higher_is_better": True, "fold_scores": [0.7, 0.71]}

        def cycle(w: int) -> int | None:
            c = clients[w]
            resp = c.post(f"/api/runs/{run_id}/claims", json={})
            resp.raise_for_status()
            item = resp.json()["item"]
            if item is None:
                return None
            c.post(f"/api/queue/{item['id']}/result", json=body).raise_for_status()
            return int(item["id"])

        seconds, lat, ids = drive(len(tokens), cycle)
        for c in clients:
            c.close()
        return report("HTTP", seconds, lat, ids, items)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def direct(url: str, run_id: int, tokens: list[str], items: int, stagnation_k: int) -> float:
    store = Store.open(url)
    svc = Service(store, slot_limit=len(tokens) * 2, stagnation_k=stagnation_k)
    actors: list[Actor] = [a for a in (svc.authenticate(t) for t in tokens) if a is not None]

    def cycle(w: int) -> int | None:
        item = svc.claim(actors[w], run_id)
        if item is None:
            return None
        svc.record_result(actors[w], item.id, "auroc", 0.7, True, [0.7, 0.71])
        return item.id

    try:
        seconds, lat, ids = drive(len(actors), cycle)
    finally:
        store.close()
    return report("direct", seconds, lat, ids, items)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=4000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--stagnation-k", type=int, default=10,
                    help="Service.stagnation_k (the default 10; 0 disables the per-result stagnation scan)")
    args = ap.parse_args()
    k = args.stagnation_k
    print(f"{args.clients} clients, {args.items} claim->result cycles, SQLite, {os.cpu_count()} cores, "
          f"stagnation_k={k}, http impl {_http_impl() or 'h11/asyncio'}")
    with tempfile.TemporaryDirectory() as tmp:
        urls = [f"sqlite:///{Path(tmp) / name}.db" for name in ("http", "direct")]
        run_h, tok_h = seed(urls[0], args.items, args.clients)
        run_d, tok_d = seed(urls[1], args.items, args.clients)
        http_rate = over_http(urls[0], run_h, tok_h, args.items, k)
        check_store(urls[0], run_h, args.items)
        direct_rate = direct(urls[1], run_d, tok_d, args.items, k)
        check_store(urls[1], run_d, args.items)
    verdict = "meets" if http_rate >= TARGET else "below"
    print(f"HTTP / direct = {http_rate / direct_rate:.2f}; HTTP {http_rate:.0f} cycles/s {verdict} the "
          f"{TARGET:.0f}/s target")


if __name__ == "__main__":
    main()

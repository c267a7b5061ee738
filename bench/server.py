"""Coordination server under load: claim -> record-result cycles over HTTP vs direct calls.

    .venv/bin/python bench/server.py [--items 4000] [--clients 32] [--client stdlib|httpx] [--no-ceiling]

1. Seeds a SQLite state in a temp dir: one approved proposal queued for ``--items`` seeds
   and ``--clients`` harness agents (the harness may both claim and record).
2. Starts ``autods.server.serve`` (uvicorn, tokens required) in a child process on a free
   loopback port; ``--clients`` threads, each with its own token and keep-alive connection,
   loop claim -> record_result until the queue is empty. Reports cycles/s and p50/p99
   cycle latency, and checks every item was claimed exactly once (from the clients' view
   and from the store).
3. Repeats the same cycles with direct ``Service`` calls from the same number of threads
   in one process: the ceiling. Prints HTTP/direct and the SQL statements one cycle issues.
4. Unless ``--no-ceiling``: the same clients against a FastAPI app whose two routes do no
   work, under the same uvicorn options as ``serve``: plain ``def``, ``async def``, and
   ``async def`` with one thread-pool hop (the read routes' shape; write routes hop onto the
   write lane instead, see ``autods.server.writer``): what HTTP, FastAPI and a hop alone
   cost here.

The load generator shares the machine with the server. ``--client stdlib`` (default) uses
``http.client`` keep-alive connections; ``httpx`` costs ~2.5x more client CPU per request,
enough to make the bench measure the client rather than the server on 2 cores.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from autods.server.serve import uvicorn_options
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
    # a real recipe: the server canonicalises every recipe and refuses what does not parse
    proposal = svc.propose(analyst, run.id, {"family": "lightgbm", "params": {"num_leaves": 8}}, "bench", 0.0,
                           "lightgbm")
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
    print(f"{name:>15}: {len(ids)} cycles in {seconds:.2f} s = {rate:7.1f} cycles/s   "
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


class StdlibClient:
    """One keep-alive HTTP/1.1 connection (``http.client``): the cheapest load generator."""

    def __init__(self, port: int, token: str | None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, body: dict[str, Any]) -> Any:
        self.conn.request("POST", path, body=json.dumps(body), headers=self.headers)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status >= 400:
            raise SystemExit(f"POST {path}: HTTP {resp.status} {data[:200]!r}")
        return json.loads(data)

    def close(self) -> None:
        self.conn.close()


class HttpxClient:
    def __init__(self, port: int, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60,
                                   limits=httpx.Limits(max_keepalive_connections=1))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        resp = self.client.post(path, json=body)
        resp.raise_for_status()
        return resp.json()

    def close(self) -> None:
        self.client.close()


CLIENTS = {"stdlib": StdlibClient, "httpx": HttpxClient}


def serve_child(code: str, port: int) -> subprocess.Popen[bytes]:
    """Run ``code`` (which starts uvicorn on ``port``) in a child process; wait until it answers."""
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit("server did not start") from None
            time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def _stat_cpu(path: Path) -> float:
    fields = path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of a process so far: this one when ``pid`` is None."""
    if pid is None:
        used = resource.getrusage(resource.RUSAGE_SELF)
        return used.ru_utime + used.ru_stime
    return _stat_cpu(Path(f"/proc/{pid}/stat"))


def loop_cpu_seconds(pid: int) -> float:
    """CPU time of a process's main thread: uvicorn's event loop. The process total minus
    this is the thread pool that runs the Service (threads that ended included)."""
    try:
        return _stat_cpu(Path(f"/proc/{pid}/task/{pid}/stat"))
    except OSError:
        return float("nan")


def over_http(url: str, run_id: int, tokens: list[str], items: int, stagnation_k: int, client: str) -> float:
    port = free_port()
    # serve() with the bench's Service settings: a slot limit that admits every client.
    code = (
        "import uvicorn\n"
        "from autods.server.app import create_app\n"
        "from autods.server.serve import uvicorn_options\n"
        "from autods.server.service import Service\n"
        "from autods.state.store import Store\n"
        f"svc = Service(Store.open({url!r}), slot_limit={2 * len(tokens)}, stagnation_k={stagnation_k})\n"
        f"uvicorn.run(create_app(svc), host='127.0.0.1', port={port}, **uvicorn_options())\n"
    )
    proc = serve_child(code, port)
    try:
        clients = [CLIENTS[client](port, t) for t in tokens]
        body = {"metric": "auroc", "value": 0.7, "higher_is_better": True, "fold_scores": [0.7, 0.71]}

        def cycle(w: int) -> int | None:
            c = clients[w]
            item = c.post(f"/api/runs/{run_id}/claims", {})["item"]
            if item is None:
                return None
            c.post(f"/api/queue/{item['id']}/result", body)
            return int(item["id"])

        server0, loop0, client0 = cpu_seconds(proc.pid), loop_cpu_seconds(proc.pid), cpu_seconds()
        seconds, lat, ids = drive(len(tokens), cycle)
        server_ms, loop_ms, client_ms = ((cpu_seconds(proc.pid) - server0) / len(ids) * 1e3,
                                         (loop_cpu_seconds(proc.pid) - loop0) / len(ids) * 1e3,
                                         (cpu_seconds() - client0) / len(ids) * 1e3)
        for c in clients:
            c.close()
        rate = report("HTTP", seconds, lat, ids, items)
        print(f"{'':>15}  CPU per cycle: server process {server_ms:.2f} ms (event loop {loop_ms:.2f}, "
              f"writer and pool threads {server_ms - loop_ms:.2f}), load generator {client_ms:.2f} ms")
        return rate
    finally:
        stop(proc)


NOOP_APP = """
import uvicorn
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from autods.server.serve import uvicorn_options
app = FastAPI()
ITEM = {{"id": 1, "run_id": 1, "proposal_id": 1, "recipe_hash": "0" * 64, "seed": 0, "status": "claimed"}}
if {mode!r} == "def":
    @app.post("/claims")
    def claim() -> dict:
        return {{"item": ITEM}}
    @app.post("/result")
    def result() -> dict:
        return ITEM
elif {mode!r} == "async":
    @app.post("/claims")
    async def claim() -> dict:
        return {{"item": ITEM}}
    @app.post("/result")
    async def result() -> dict:
        return ITEM
else:  # one thread-pool hop per request, as the read routes make for the Service
    @app.post("/claims")
    async def claim() -> dict:
        return await run_in_threadpool(lambda: {{"item": ITEM}})
    @app.post("/result")
    async def result() -> dict:
        return await run_in_threadpool(lambda: ITEM)
uvicorn.run(app, host="127.0.0.1", port={port}, **uvicorn_options())
"""
NOOP_MODES = ("def", "async", "async+hop")


def http_ceiling(cycles: int, workers: int, client: str, mode: str) -> float:
    """The same client loop against routes that do nothing: HTTP + FastAPI + the client alone."""
    port = free_port()
    proc = serve_child(NOOP_APP.format(mode=mode, port=port), port)
    left = [cycles]
    lock = threading.Lock()
    try:
        clients = [CLIENTS[client](port, None) for _ in range(workers)]

        def cycle(w: int) -> int | None:
            with lock:
                if left[0] <= 0:
                    return None
                left[0] -= 1
                n = left[0]
            clients[w].post("/claims", {})
            clients[w].post("/result", {"metric": "auroc", "value": 0.7})
            return n

        server0 = cpu_seconds(proc.pid)
        seconds, lat, ids = drive(workers, cycle)
        server_ms = (cpu_seconds(proc.pid) - server0) / len(ids) * 1e3
        for c in clients:
            c.close()
        rate = report(f"no-op {mode}", seconds, lat, ids, cycles)
        print(f"{'':>15}  CPU per cycle: server process {server_ms:.2f} ms")
        return rate
    finally:
        stop(proc)


def statements_per_cycle(url: str, run_id: int, token: str, stagnation_k: int) -> tuple[int, int]:
    """SQL statements (with BEGIN and COMMIT; each row of a multi-row insert counts) of one
    claim and one record_result, single-threaded, after a first cycle has warmed the store."""
    store = Store.open(url, pool_size=1)
    svc = Service(store, slot_limit=2, stagnation_k=stagnation_k)
    actor = svc.authenticate(token)
    assert actor is not None
    first = svc.claim(actor, run_id)
    assert first is not None
    svc.record_result(actor, first.id, "auroc", 0.7, True, [0.7, 0.71])
    seen: list[str] = []
    with store.engine.connect() as conn:  # the pool's only idle connection: trace it
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.set_trace_callback(seen.append)
    try:
        item = svc.claim(actor, run_id)
        n_claim = len(seen)
        if item is not None:
            svc.record_result(actor, item.id, "auroc", 0.7, True, [0.7, 0.71])
        return n_claim, len(seen) - n_claim
    finally:
        store.close()


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
        cpu0 = cpu_seconds()
        seconds, lat, ids = drive(len(actors), cycle)
        cpu_ms = (cpu_seconds() - cpu0) / len(ids) * 1e3
    finally:
        store.close()
    rate = report("direct", seconds, lat, ids, items)
    print(f"{'':>15}  CPU per cycle: {cpu_ms:.2f} ms")
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=4000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--client", choices=sorted(CLIENTS), default="stdlib",
                    help="HTTP client of the load generator (stdlib: http.client keep-alive; httpx)")
    ap.add_argument("--no-ceiling", action="store_true", help="skip the no-op HTTP app measurement")
    ap.add_argument("--stagnation-k", type=int, default=10,
                    help="Service.stagnation_k (the default 10; 0 disables stagnation posts)")
    ap.add_argument("--state", default=None, metavar="URL",
                    help="a PostgreSQL state URL to bench instead of temporary SQLite files (new runs are added to it)")
    args = ap.parse_args()
    k = args.stagnation_k
    backend = "SQLite" if args.state is None else sa.make_url(args.state).get_backend_name()
    print(f"{args.clients} clients ({args.client}), {args.items} claim->result cycles, {backend}, "
          f"{os.cpu_count()} cores, load avg {os.getloadavg()[0]:.1f}, stagnation_k={k}, "
          f"uvicorn {uvicorn_options()}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.state is None:
            urls = [f"sqlite:///{Path(tmp) / name}.db" for name in ("http", "direct", "count")]
        else:
            urls = [args.state] * 3  # one database, a run per phase
        run_h, tok_h = seed(urls[0], args.items, args.clients)
        run_d, tok_d = seed(urls[1], args.items, args.clients)
        http_rate = over_http(urls[0], run_h, tok_h, args.items, k, args.client)
        check_store(urls[0], run_h, args.items)
        direct_rate = direct(urls[1], run_d, tok_d, args.items, k)
        check_store(urls[1], run_d, args.items)
        if args.state is None:
            run_c, tok_c = seed(urls[2], 2, 1)
            n_claim, n_result = statements_per_cycle(urls[2], run_c, tok_c[0], k)
            print(f"SQL statements per cycle: {n_claim} (claim) + {n_result} (record_result), "
                  "BEGIN and COMMIT included (over HTTP on SQLite, each batch of the write lane "
                  "shares one BEGIN and COMMIT)")
    if not args.no_ceiling:
        cycles = min(args.items, 2000)
        for mode in NOOP_MODES:
            http_ceiling(cycles, args.clients, args.client, mode)
    verdict = "meets" if http_rate >= TARGET else "below"
    print(f"HTTP / direct = {http_rate / direct_rate:.2f}; HTTP {http_rate:.0f} cycles/s {verdict} the "
          f"{TARGET:.0f}/s target")


if __name__ == "__main__":
    main()

"""The harness: runs claimed jobs through the Executor and records what the judge measured.

Brains never record results. An experimenter's claim hands the item to the harness, which
submits ``Job(recipe, seed)`` to the executor, keeps the lease alive with heartbeats while
the job runs, and then records the result (role ``harness``; the server posts it to the
forum) or the failure with its reason. Every decision is also a line of ``audit.jsonl``.

A result whose item is no longer claimed (aborted at the time limit, or released and
re-claimed after a lost lease) is refused by the server and discarded here: the log never
holds one experiment twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autods.agents.client import AgentClient
from autods.agents.llm import failures
from autods.errors import PermissionDenied, ProtocolViolation
from autods.execution.base import Executor, Job, JobHandle, JobResult
from autods.runfolder import RunFolder
from autods.server.transport import ServerError

Recorder = Callable[[dict[str, Any]], None]


@dataclass
class _Running:
    item: dict[str, Any]
    handle: JobHandle
    beat_at: float
    recipe: dict[str, Any]


class Harness:
    """Submit claimed items, heartbeat their leases, record their results."""

    def __init__(self, client: AgentClient, executor: Executor, folder: RunFolder, *, n_resamples: int = 1000,
                 timeout_s: float | None = None, lease_s: float = 300.0, audit: Recorder | None = None) -> None:
        self.client = client
        self.executor = executor
        self.folder = folder
        self.n_resamples = n_resamples
        self.timeout_s = timeout_s
        self.lease_s = lease_s
        self.audit = audit or (lambda _e: None)
        self.running: dict[int, _Running] = {}
        self.recorded = 0
        self.failed = 0
        self.discarded = 0
        self._vocabulary: set[str] | None = None

    @property
    def busy(self) -> bool:
        return bool(self.running)

    def submit(self, item: dict[str, Any], recipe: dict[str, Any]) -> None:
        item_id = int(item["id"])
        if item_id in self.running:
            return
        job = Job(job_id=str(item_id), run_dir=str(self.folder.root.resolve()), recipe=recipe, seed=int(item["seed"]),
                  timeout_s=self.timeout_s, n_resamples=self.n_resamples)
        self.audit({"type": "harness", "event": "submit", "item_id": item_id, "recipe_hash": item["recipe_hash"],
                    "seed": item["seed"], "claimed_by": item.get("claimed_by")})
        self.running[item_id] = _Running(item, self.executor.submit(job), time.monotonic(), recipe)

    def poll(self, wait_s: float = 0.0) -> list[dict[str, Any]]:
        """Record every finished job (waiting up to ``wait_s`` for the first); heartbeat the rest."""
        deadline = time.monotonic() + wait_s
        while True:
            finished = [i for i, r in self.running.items() if r.handle.done()]
            if finished or not self.running or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        out = []
        for i in sorted(finished):
            run = self.running.pop(i)
            out.append(self._record(i, run.handle.result(), run.recipe))
        self._heartbeat()
        return [o for o in out if o is not None]

    def cancel_all(self, reason: str) -> None:
        for item_id, run in list(self.running.items()):
            run.handle.cancel()
            self.audit({"type": "harness", "event": "cancelled", "item_id": item_id, "reason": reason})
        self.running.clear()

    def _names(self) -> set[str]:
        """Names a failure message may quote unmasked: the run's columns and the recipe vocabulary."""
        if self._vocabulary is None:
            columns: list[str] = []
            frame = self.folder.analytic / "frame.parquet"
            if frame.is_file():
                import pyarrow.parquet as pq

                columns = list(pq.read_schema(frame).names)
            self._vocabulary = failures.vocabulary(columns)
        return self._vocabulary

    def _heartbeat(self) -> None:
        now = time.monotonic()
        for item_id, run in self.running.items():
            if now - run.beat_at < self.lease_s / 3:
                continue
            try:
                self.client.heartbeat(item_id, self.lease_s)
            except (ProtocolViolation, PermissionDenied) as exc:
                self.audit({"type": "harness", "event": "lease_lost", "item_id": item_id, "reason": str(exc)})
            run.beat_at = now

    def _record(self, item_id: int, res: JobResult, recipe: dict[str, Any] | None = None) -> dict[str, Any] | None:
        rec = res.record or {}
        value = rec.get("value")
        try:
            if res.ok and value is not None:
                artifacts = {"record": f"artifacts/{item_id}/record.json", "oof": f"artifacts/{item_id}/oof.parquet",
                             # the promotion's calibration gate reads the OOF slope from here
                             **{k: str(v) for k, v in (rec.get("calibration") or {}).items() if v is not None},
                             # a screening result is never promoted; the server reads the recipe too
                             "fidelity": str((rec.get("recipe") or recipe or {}).get("fidelity", "full"))}
                raw = rec.get("fold_scores", [])
                folds = [float(f) for f in raw if f is not None]
                result = self.client.record_result(
                    item_id, rec["metric"], float(value), bool(rec["higher_is_better"]), folds, rec.get("ci_low"),
                    rec.get("ci_high"), res.duration_s, artifacts, split=_split_label(rec, len(folds) == len(raw)))
                self.recorded += 1
                entry = {"type": "harness", "event": "recorded", "item_id": item_id, "result_id": result.id,
                         "recipe_hash": result.recipe_hash, "seed": result.seed, "metric": result.metric,
                         "value": result.value, "duration_s": round(res.duration_s, 3)}
                self.audit(entry)
                self._promote_if_owed(result.id, result.recipe_hash, recipe)
                return entry
            kind = res.error_kind or ("judge" if res.ok else "crash")
            error = res.error or "the judge could not compute the metric"
            # our own refusals (bad recipe) name recipe values, not data; anything else is masked
            keep = self._names()
            first = error.splitlines()[0] if error.strip() else error
            reason = f"{kind}: " + (first if kind == "recipe" else failures.scrub(first, keep))[:300]
            self.client.record_failure(item_id, reason)
            # the note carries the exception type and traceback tail (values masked) for the proposer
            self.client.post("note", f"experiment {item_id} failed ({kind})", reason,
                             {"item_id": item_id, "failure": {"kind": kind, **failures.gated_summary(error, keep)}})
            self.failed += 1
            entry = {"type": "harness", "event": "failed", "item_id": item_id, "reason": reason}
            self.audit(entry)
            return entry
        except (ProtocolViolation, PermissionDenied, ServerError) as exc:
            self.discarded += 1
            self.audit({"type": "harness", "event": "discarded", "item_id": item_id, "reason": str(exc)})
            return None


    def _promote_if_owed(self, result_id: int, recipe_hash: str, recipe: dict[str, Any] | None) -> None:
        """Ask the server to promote a result no brain has to choose: the run's first confirmed
        result while it has no champion (a run with results never ends without one), and a
        recalibrated variant (it may replace the miscalibrated champion it wraps). The server
        applies every promotion rule; a refusal is logged and changes nothing."""
        from autods.judge.calibration_gate import RECALIBRATED_FAMILY

        recalibrated = (recipe or {}).get("family") == RECALIBRATED_FAMILY
        try:
            if not recalibrated and self.client.champion() is not None:
                return
            if sum(1 for r in self.client.list_results() if r.recipe_hash == recipe_hash) < 2:
                return  # no confirmation yet: the server would refuse
            entry = self.client.promote(result_id)
        except (ProtocolViolation, PermissionDenied, ServerError) as exc:
            self.audit({"type": "harness", "event": "promotion_refused", "result_id": result_id, "reason": str(exc)})
            return
        self.audit({"type": "harness", "event": "promoted", "result_id": result_id, "champion_id": entry.id,
                    "reason": "recalibrated variant" if recalibrated else "the run's first confirmed result"})


def _split_label(rec: dict[str, Any], complete: bool) -> str:
    """``folds:RxK`` when every fold of the plan was scored, so the server can pair this result fold by
    fold with the champion's; ``default`` (the noise-floor rule) when a fold's metric was undefined."""
    cv = rec.get("cv") or {}
    if not complete or not cv.get("n_splits"):
        return "default"
    return f"folds:{int(cv.get('repeats') or 1)}x{int(cv['n_splits'])}"


__all__ = ["Harness"]

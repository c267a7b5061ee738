"""The shared experimental state of a run, read for the report (never written).

Reads go through :class:`~autods.server.service.Service` readers with a viewer
:class:`~autods.server.service.Actor`, so the report sees exactly what any agent could.
Every attempt is logged with its outcome: ``promoted`` (became champion), ``confirmation``
(the second seed that confirmed a promotion), ``discarded`` (kept in the log, not better),
``failed`` (crash, timeout or bad recipe, with the reason) or ``aborted``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from autods.errors import UserInputError
from autods.reports.beliefs import empty_beliefs, read_beliefs
from autods.runfolder import RunFolder

__all__ = ["PARTS", "empty_state", "experiment_dir", "read_state", "run_failures", "run_parts"]


def empty_state() -> dict[str, Any]:
    return {"available": False, "log": [], "trajectory": [], "teams": [], "dead_ends": [], "history": [],
            "discussion": {"proposals": 0, "critiques": {"approve": 0, "revise": 0, "reject": 0}, "posts": {},
                           "stuck_episodes": 0},
            "counts": {"total": 0, "promoted": 0, "failed": 0, "dead_ends": 0, "aborted": 0},
            "chain_verified": None, "beliefs": empty_beliefs()}


def experiment_dir(result: Any) -> str:
    """The ``artifacts/`` folder name of a result: ``artifacts['dir']`` when the harness set it,
    else the queue item id (the orchestrator's job id)."""
    arts = dict(getattr(result, "artifacts", None) or {})
    for key in ("dir", "record", "oof"):
        if arts.get(key):
            path = Path(arts[key])
            return (path if key == "dir" else path.parent).name
    return str(result.queue_item_id)


def _sqlite_missing(url: str) -> bool:
    if not url.startswith("sqlite:///"):
        return False
    return not Path(url.removeprefix("sqlite:///")).is_file()


def read_state(folder: RunFolder) -> dict[str, Any]:
    """Experiment log, champion trajectory, teams, dead ends, discussion counts and the
    hypothesis graph (``beliefs``: :mod:`autods.reports.beliefs`) of the run."""
    from autods.server.service import Actor, Service
    from autods.state.store import Store

    url = folder.state_url
    if _sqlite_missing(url):  # opening would create an empty database: report 'no state' instead
        return empty_state()
    store = Store.open(url)
    try:
        service = Service(store)
        viewer = Actor(agent_id=None, role="viewer", run_id=None, name="report")
        runs = service.list_runs(viewer)
        name = folder.config().name
        run = next((r for r in runs if r.name == name), runs[-1] if runs else None)
        if run is None:
            return empty_state()
        return _assemble(service, viewer, run.id)
    finally:
        store.close()


def _assemble(service: Any, viewer: Any, run_id: int) -> dict[str, Any]:
    results = service.list_results(viewer, run_id)
    items = {i.id: i for i in service.list_queue(viewer, run_id)}
    proposals = {p.id: p for p in service.list_proposals(viewer, run_id)}
    teams = service.list_teams(viewer, run_id)
    team_names = {t.id: t.name for t in teams}
    history = service.champion_history(viewer, run_id)
    dead_ends = service.list_dead_ends(viewer, run_id)
    promoted = {h.result_id for h in history}
    confirming = {h.confirming_result_id for h in history} - promoted

    log: list[dict[str, Any]] = []
    for r in results:
        p = proposals.get(r.proposal_id)
        status = "promoted" if r.id in promoted else "confirmation" if r.id in confirming else "discarded"
        log.append({"result_id": r.id, "experiment_id": experiment_dir(r), "queue_item_id": r.queue_item_id,
                    "proposal_id": r.proposal_id, "title": p.title if p else "", "family": p.family if p else "",
                    "team": team_names.get(items[r.queue_item_id].team_id) if r.queue_item_id in items else None,
                    "seed": r.seed, "metric": r.metric, "value": r.value, "ci_low": r.ci_low, "ci_high": r.ci_high,
                    "duration_s": round(r.duration_s, 3), "status": status, "reason": "",
                    "recipe_hash": r.recipe_hash})
    for item in items.values():
        if item.status in ("failed", "aborted"):
            p = proposals.get(item.proposal_id)
            log.append({"result_id": None, "experiment_id": str(item.id), "queue_item_id": item.id,
                        "proposal_id": item.proposal_id, "title": p.title if p else "", "family": p.family if p else "",
                        "team": team_names.get(item.team_id), "seed": item.seed, "metric": None, "value": None,
                        "ci_low": None, "ci_high": None, "duration_s": None, "status": item.status,
                        "reason": item.reason[:300], "recipe_hash": item.recipe_hash})
    log.sort(key=lambda row: (row["queue_item_id"], row["result_id"] or 0))

    trajectory, current = [], None
    events = sorted(history, key=lambda h: max(h.result_id, h.confirming_result_id))
    for order, r in enumerate(results, start=1):
        while events and max(events[0].result_id, events[0].confirming_result_id) <= r.id:
            current = events.pop(0).value
        trajectory.append({"order": order, "result_id": r.id, "value": r.value, "champion_value": current})

    posts = service.list_posts(viewer, run_id)
    verdicts = Counter(c.verdict for p in proposals for c in service.list_critiques(viewer, p))
    by_team = {t.id: [r for r in results if r.queue_item_id in items and items[r.queue_item_id].team_id == t.id]
               for t in teams}
    team_rows = []
    for t in teams:
        values = [r.value for r in by_team[t.id]]
        best = (max(values) if results and results[0].higher_is_better else min(values)) if values else None
        team_rows.append({"id": t.id, "name": t.name, "hypothesis": t.hypothesis, "strategy": t.strategy,
                          "status": t.status, "n_results": len(values), "best_value": best})
    return {
        "available": True, "run_id": run_id, "log": log, "trajectory": trajectory, "teams": team_rows,
        "history": [{"result_id": h.result_id, "confirming_result_id": h.confirming_result_id, "value": h.value,
                     "previous_value": h.previous_value, "noise_floor": h.noise_floor} for h in history],
        "dead_ends": [{"id": d.id, "family": d.family, "region": json.dumps(d.region, sort_keys=True),
                       "reason": d.reason, "evidence": json.dumps(d.evidence, sort_keys=True),
                       "team": team_names.get(d.team_id)} for d in dead_ends],
        "discussion": {"proposals": len(proposals),
                       "critiques": {v: int(verdicts.get(v, 0)) for v in ("approve", "revise", "reject")},
                       "posts": dict(sorted(Counter(p.kind for p in posts).items())),
                       "stuck_episodes": sum(1 for p in posts if p.kind == "stuck")},
        "counts": {"total": len(results) + sum(1 for i in items.values() if i.status == "failed"),
                   "promoted": len(history), "failed": sum(1 for i in items.values() if i.status == "failed"),
                   "dead_ends": len(dead_ends), "aborted": sum(1 for i in items.values() if i.status == "aborted")},
        "chain_verified": bool(service.verify_audit_chain(viewer)),
        "beliefs": read_beliefs(service, viewer, run_id, results, promoted),
    }


# -- which parts of a run failed (issue 11 §6): read by run_summary, autods status and the report -----

PARTS = ("experiments", "biomarkers", "validation", "report")
_FINISH = ("biomarkers", "validation", "report")


def _tracks(folder: RunFolder) -> dict[str, dict[str, Any]]:
    """The last ``track`` line of ``audit.jsonl`` per track (biomarkers, validate, report):
    a resumed run re-runs a failed track, and its new outcome is the one that counts."""
    out: dict[str, dict[str, Any]] = {}
    if not folder.audit_log.is_file():
        return out
    with open(folder.audit_log, encoding="utf-8") as fh:
        for line in fh:
            if '"track"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:  # a line torn by a crash: the track it named re-runs on resume
                continue
            if entry.get("type") == "track":
                name = str(entry.get("job_id", "")).removeprefix("track:").partition(":")[0]
                out[name] = entry
    return out


def _failed(cause: str, fix: str) -> dict[str, str]:
    return {"status": "failed", "cause": " ".join(cause.split())[:400], "fix": fix}


def _track_part(entry: dict[str, Any] | None, what: str, resume: str, *, final: bool) -> dict[str, str]:
    if entry is None:
        return _failed(f"the {what} did not run", resume) if final else {"status": "pending"}
    record = entry.get("record") or {}
    if not entry.get("ok"):
        return _failed(f"the {what} failed: {entry.get('error') or 'no reason recorded'}", resume)
    if record.get("status") in ("skipped", "not applicable"):
        return _failed(f"the {what} was {record['status']}: {record.get('reason') or 'no reason recorded'}", resume)
    return {"status": "ok"}


def run_parts(folder: RunFolder, *, final: bool = True, state: dict[str, Any] | None = None) -> dict[str, dict[str, str]]:
    """Status of each part of the run: ``{"experiments"|"biomarkers"|"validation"|"report":
    {"status": "ok"|"failed"|"pending"|"not run", "cause", "fix"}}``.

    A run fails when every experiment failed, when no champion was validated, or when a
    track failed. ``final`` is False while the run is still finishing (the report track
    reads it before it has itself finished): a track not run yet is then ``pending``.
    """
    from autods.runfolder import read_json
    from autods.tasks.spec import read_specs

    state = read_state(folder) if state is None else state
    root = folder.root
    resume = f"fix the cause, then: autods resume {root}"
    options = read_json(root / "run_options.json") if (root / "run_options.json").is_file() else {}
    finish = tuple(options.get("finish", _FINISH))
    try:
        task_type = read_specs(root / "task")[0].task_type
    except (OSError, UserInputError):  # a run folder without a readable task copy: judged on what it holds
        task_type = ""
    counts, tracks = state["counts"], _tracks(folder)
    results = counts["total"] - counts["failed"]
    parts: dict[str, dict[str, str]] = {}
    if results > 0:
        parts["experiments"] = {"status": "ok"}
    else:
        reasons = Counter(r["reason"] for r in state["log"] if r["status"] == "failed" and r["reason"])
        why = f"; most common reason: {reasons.most_common(1)[0][0]}" if reasons else ""
        cause = (f"every experiment failed ({counts['failed']} of {counts['total']}){why}" if counts["total"]
                 else "no experiment produced a result")
        parts["experiments"] = _failed(cause, f"read the reasons with: autods status {root} (and audit.jsonl); "
                                              "correct the data or the task, then start a new run")
    if "biomarkers" in finish and task_type == "biomarker":
        parts["biomarkers"] = _track_part(tracks.get("biomarkers"), "biomarker track", resume, final=final)
    if "validation" in finish:
        champion = bool(state["history"])
        if (root / "validation.json").is_file():
            parts["validation"] = {"status": "ok"}
        elif "validate" in tracks or (champion and final):
            parts["validation"] = _track_part(tracks.get("validate"), "champion validation", resume, final=final)
        elif not champion and (final or state["available"]):
            parts["validation"] = _failed("no champion was validated: no experiment result was promoted",
                                          "see the experiments' failures; a run needs one result to promote")
        else:
            parts["validation"] = {"status": "pending"}
    if "report" in finish:
        report = _track_part(tracks.get("report"), "report", resume, final=final)
        if final and report["status"] == "ok" and not (root / "report.html").is_file():
            report = _failed("the report track wrote no report.html", resume)
        parts["report"] = report
    return parts


def run_failures(parts: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    """The failed parts, in :data:`PARTS` order: ``[{part, cause, fix}]``."""
    return [{"part": name, "cause": p["cause"], "fix": p["fix"]} for name in PARTS
            if (p := parts.get(name)) and p["status"] == "failed"]

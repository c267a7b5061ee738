"""``autods status runs/NAME``: where a run stands, read from its state (never written).

Reads go through the Service's readers as an anonymous viewer, so a status check of a live
run neither registers an agent nor takes the run's lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from autods.runfolder import RunFolder


def run_status(run_dir: str | Path) -> dict[str, Any]:
    from autods.server.service import Actor, Service
    from autods.state.store import Store

    folder = RunFolder(Path(run_dir))
    cfg = folder.config()
    out: dict[str, Any] = {"name": cfg.name, "status": cfg.status, "task_dir": cfg.task_dir, "budget": cfg.budget,
                           "minutes": cfg.minutes, "target": cfg.target, "brain": cfg.brain,
                           "executor": cfg.executor, "seed": cfg.seed, "state": "absent"}
    url = folder.state_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return out  # opening would create an empty database
    store = Store.open(url)
    try:
        service = Service(store)
        viewer = Actor(agent_id=None, role="viewer", run_id=None, name="status")
        run = next((r for r in service.list_runs(viewer) if r.name == cfg.name), None)
        if run is None:
            return out
        queue = service.list_queue(viewer, run.id)
        results = service.list_results(viewer, run.id)
        champ = service.champion(viewer, run.id)
        counts: dict[str, int] = {}
        for q in queue:
            counts[q.status] = counts.get(q.status, 0) + 1
        res = next((r for r in results if champ is not None and r.id == champ.result_id), None)
        out.update(
            state="ok", experiments={"committed": sum(v for k, v in counts.items() if k != "aborted"),
                                     "results": len(results), **counts},
            champion=None if champ is None else {"metric": champ.metric, "value": champ.value,
                                                 "ci_low": getattr(res, "ci_low", None),
                                                 "ci_high": getattr(res, "ci_high", None),
                                                 "result_id": champ.result_id, "promotions": len(
                                                     service.champion_history(viewer, run.id))},
            teams=[{"id": t.id, "name": t.name, "status": t.status} for t in service.list_teams(viewer, run.id)],
            dead_ends=[{"family": d.family, "region": d.region, "reason": d.reason}
                       for d in service.list_dead_ends(viewer, run.id)],
            stuck_posts=len(service.list_posts(viewer, run.id, kind="stuck")),
        )
    finally:
        store.close()
    for name in ("fact_sheet.json", "report.html", "validation.json", "run_summary.json"):
        out.setdefault("files", {})[name] = (folder.root / name).is_file()
    out.update(_outcome(folder))
    return out


def _outcome(folder: RunFolder) -> dict[str, Any]:
    """The finished run's per-part status and failures (``run_summary.json``), and the newest
    traceback of a crash (``errors/``), which ``resume`` continues after."""
    from autods.runfolder import read_json

    out: dict[str, Any] = {"parts": {}, "failures": [], "traceback": None}
    path = folder.root / "run_summary.json"
    if path.is_file():
        summary = read_json(path)
        out["parts"], out["failures"] = summary.get("parts") or {}, summary.get("failures") or []
    errors = sorted((folder.root / "errors").glob("traceback-*.txt")) if (folder.root / "errors").is_dir() else []
    # a crash a later resume finished past is history, not the run's state
    if errors and (not path.is_file() or errors[-1].stat().st_mtime > path.stat().st_mtime):
        out["traceback"] = str(errors[-1])
    return out


def print_status(status: dict[str, Any]) -> None:
    console = Console(width=160)
    table = Table(title=f"run {status['name']}", show_header=False, box=None)
    failures = status.get("failures") or []
    table.add_row("status", f"[bold red]{status['status']}: finished with failures[/bold red]" if failures
                  else f"[bold]{status['status']}[/bold]")
    for f in failures:
        table.add_row("[red]failed[/red]", escape(f"{f['part']}: {f['cause'].rstrip('.')}. Fix: {f['fix']}"))
    if status.get("traceback"):
        table.add_row("[red]crash[/red]", escape(f"an internal error stopped the run; traceback: {status['traceback']}"))
    exp = status.get("experiments") or {}
    table.add_row("experiments", f"{exp.get('committed', 0)} of {status['budget']} committed · "
                  f"{exp.get('results', 0)} results · {exp.get('failed', 0)} failed · {exp.get('pending', 0)} pending")
    champ = status.get("champion")
    if champ:
        ci = "" if champ["ci_low"] is None else f" (95% CI {champ['ci_low']:.3f}-{champ['ci_high']:.3f})"
        table.add_row("champion", f"{champ['metric']} {champ['value']:.4f}{ci}, {champ['promotions']} promotion(s)")
    else:
        table.add_row("champion", "none yet")
    teams = [t["name"] for t in status.get("teams", []) if t["status"] == "active"]
    table.add_row("teams", ", ".join(teams) or "-")
    for d in status.get("dead_ends", []):
        table.add_row("dead end", f"{d['family']}: {d['reason']}")
    files = [k for k, v in (status.get("files") or {}).items() if v]
    table.add_row("files", ", ".join(files) or "-")
    console.print(table)


__all__ = ["print_status", "run_status"]

"""The ``autods`` command line.

Exit codes (``run``, ``resume`` and ``demo``; the other commands use 0, 1 and 2):

- 0: success.
- 1: an internal error, i.e. a bug in autods: one line on stderr saying so and naming the file
  the traceback was written to (``runs/NAME/errors/traceback-*.txt``, or a temp file when no
  run folder exists yet). No traceback is printed on the terminal.
- 2: bad input (TASK.md, LAUNCH.md, the data, a flag): one line on stderr naming the problem
  and the fix. A proposal an agent's brain got wrong is never this: it goes back to that brain.
- 3: the run finished with failures (every experiment failed, no champion was validated, or a
  track failed: biomarkers, validation, report): one line on stderr per failed part with its
  cause and the fix; ``run_summary.json`` records each part's status, ``autods status`` shows
  it, the report's summary leads with it, and ``autods resume`` re-runs the failed tracks.

Library warnings of a run go to ``runs/NAME/run.log``, not the terminal.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from autods import __version__
from autods.errors import GuardrailBlocked, UserInputError

#: the run finished, but a part of it failed (see the module docstring)
EXIT_FAILURES = 3
EXIT_BUG = 1
EXIT_INPUT = 2

app = typer.Typer(
    name="autods",
    help="AutoDataScientists: an agent team for clinical and biomedical data science. "
    "Research use only; not a medical device.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

TaskDir = Annotated[Path, typer.Argument(help="Task folder containing TASK.md (and optionally LAUNCH.md) plus data.")]


@app.command()
def version() -> None:
    """Print the autods version."""
    typer.echo(__version__)


@app.command()
def check(
    task_dir: TaskDir,
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings and design as JSON.")] = False,
    baseline: Annotated[
        bool, typer.Option("--baseline/--no-baseline", help="Fit the default recipe once to screen subgroup gaps.")
    ] = True,
) -> None:
    """Profile the data, scan for PHI, audit leakage and lock the default design; print the findings."""
    from autods.checkup import run_checkup
    from autods.display import print_checkup

    result = run_checkup(task_dir, baseline=baseline)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2, default=str))
    else:
        print_checkup(result)


@app.command()
def evaluate(
    task_dir: TaskDir,
    recipe: Annotated[Optional[Path], typer.Option(help="Recipe JSON file; default: the task type's default recipe.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for the recipe and resampling.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the evaluation record as JSON.")] = False,
) -> None:
    """Evaluate one recipe with the frozen judge (CV on the development split; the test split stays locked)."""
    from autods.display import print_evaluation
    from autods.runners import default_recipe
    from autods.runners import evaluate as run_evaluate
    from autods.runners.recipe import Recipe
    from autods.tasks import load_task

    task = load_task(task_dir)
    rec = _read_recipe(recipe) if recipe else default_recipe(task.task_type)
    record = run_evaluate(task_dir, rec, seed=seed)
    if as_json:
        typer.echo(record.model_dump_json(indent=2, exclude={"oof"}))
    else:
        print_evaluation(record)
    _ = Recipe


def _read_recipe(path: Path):  # -> Recipe
    from pydantic import ValidationError

    from autods.errors import RecipeError
    from autods.runners.recipe import Recipe

    if not path.is_file():
        raise RecipeError(f"recipe file '{path}' does not exist", "pass the path of a recipe JSON file")
    try:
        return Recipe.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "recipe"
        raise RecipeError(f"recipe '{path.name}': '{loc}' is invalid ({first['msg']})", "correct the recipe JSON") from None


@app.command()
def demo(
    example: Annotated[str, typer.Option(help="Bundled example to run.")] = "task-readmission",
    budget: Annotated[int, typer.Option(help="Experiments the team may run.")] = 12,
    runs_dir: Annotated[Path, typer.Option(help="Where the run folder is created.")] = Path("runs"),
    executor: Annotated[str, typer.Option(help="inline | local | ray")] = "local",
) -> None:
    """Run the full agent team on a bundled example with a small budget (offline, expert brain)."""
    from autods.agents.run import RunOptions, start_run
    from autods.examples import example_path

    task_dir = example_path(example)
    typer.echo(f"autods demo: the agent team on {task_dir} (budget {budget})")
    outcome = start_run(task_dir, runs_dir=runs_dir, budget=budget, executor=executor,
                        options=RunOptions(n_resamples=200, track_resamples=200), command=sys.argv)
    typer.echo(f"run folder: {outcome.folder.root}")
    report = outcome.folder.root / "report.html"
    if report.is_file():
        typer.echo(f"report: {report}  (open it in a browser; it works offline)")
    _exit_on_failures(outcome)


def _exit_on_failures(outcome: object) -> None:
    """One stderr line per failed part (cause and fix), then exit 3; nothing for a run without failures."""
    failures = getattr(outcome, "failures", [])
    if not failures:
        return
    for f in failures:
        typer.echo(f"autods: failed: {f['part']}: {f['cause'].rstrip('.')}. Fix: {f['fix']}", err=True)
    raise typer.Exit(EXIT_FAILURES)


@app.command("run")
def run_command(
    task_dir: TaskDir,
    run_name: Annotated[Optional[str], typer.Option("--run-name", help="Name of runs/NAME (default: task name + time).")] = None,
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Folder holding run folders.")] = Path("runs"),
    budget: Annotated[Optional[int], typer.Option(help="Experiment budget (default: LAUNCH.md exit_condition, else 24).")] = None,
    minutes: Annotated[Optional[float], typer.Option(help="Wall-clock limit in minutes.")] = None,
    target: Annotated[Optional[float], typer.Option(help="Stop once the champion reaches this metric value.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Experiment workers (default: LAUNCH.md workers).")] = None,
    brain: Annotated[Optional[str], typer.Option(help="expert | anthropic:MODEL | openai:MODEL")] = None,
    executor: Annotated[str, typer.Option(help="inline | local | ray")] = "local",
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Ray cluster address (with --executor ray).")] = None,
    state: Annotated[Optional[str], typer.Option(help="State URL (default: SQLite state.db in the run folder; postgresql+psycopg://...).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Master seed (default: LAUNCH.md seed).")] = None,
    progress: Annotated[Optional[bool], typer.Option("--progress/--quiet", help="Live progress (default: when stdout is a terminal).")] = None,
) -> None:
    """Run the agent team on a task folder; writes runs/NAME (state, audit log, artifacts, report)."""
    from autods.agents.run import start_run
    from autods.execution import KINDS

    if executor not in KINDS:
        raise UserInputError(f"unknown executor {executor!r}", f"use one of: {', '.join(KINDS)}")
    outcome = start_run(task_dir, run_name=run_name, runs_dir=runs_dir, budget=budget, minutes=minutes, target=target,
                        workers=workers, brain=brain, executor=executor, ray_address=ray_address, state_url=state,
                        seed=seed, display=progress, command=sys.argv)
    typer.echo(f"run folder: {outcome.folder.root}")
    _exit_on_failures(outcome)


RunDir = Annotated[Path, typer.Argument(help="A run folder created by autods run (runs/NAME).")]


@app.command()
def resume(
    run_dir: RunDir,
    progress: Annotated[Optional[bool], typer.Option("--progress/--quiet", help="Live progress (default: when stdout is a terminal).")] = None,
) -> None:
    """Continue a run after a crash or kill (nothing recorded is redone, nothing is lost), or
    re-run the failed tracks (biomarkers, validation, report) of a run that exited 3."""
    from autods.agents.run import resume_run

    outcome = resume_run(run_dir, display=progress)
    typer.echo(f"run folder: {outcome.folder.root} ({outcome.summary.get('exit_reason') or 'finished'})")
    _exit_on_failures(outcome)


@app.command()
def status(
    run_dir: RunDir,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Where a run stands: phase, experiments done of the budget, champion, teams, dead ends."""
    from autods.agents.status import print_status, run_status

    info = run_status(run_dir)
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
    else:
        print_status(info)


# -- the user's path around a run: scaffold, re-render, Claude Code pack (issue 6) ----------------

ReportRunDir = Annotated[Path, typer.Argument(help="A run folder created by autods run (runs/NAME).")]


@app.command()
def init(
    name: Annotated[Path, typer.Argument(help="The task folder to create; refused if it exists and is not empty.")],
    from_example: Annotated[str, typer.Option(
        "--from", help="Bundled example to copy: task-readmission, task-breast-cancer, task-gbsg2-survival, "
                       "task-wearable-biomarkers, ...")] = "task-readmission",
) -> None:
    """Scaffold a task folder from a bundled example (TASK.md, LAUNCH.md, data) to edit for your own data."""
    from autods.reports.scaffold import scaffold_task

    dest = scaffold_task(name, from_example)
    typer.echo(f"task folder: {dest}")
    typer.echo(f"next: edit {dest / 'TASK.md'} and the data, then: autods check {dest}  and  autods run {dest}")


@app.command()
def report(
    run_dir: ReportRunDir,
    mlflow: Annotated[Optional[str], typer.Option(
        "--mlflow", help="Also export every experiment and the champion to this MLflow tracking URI "
                         "(e.g. sqlite:///mlflow.db; needs pip install 'autods[mlflow]').")] = None,
) -> None:
    """Re-render a run's fact sheet, report.html, model card and manifest from its run folder."""
    from autods.reports import build_fact_sheet, render_report

    build_fact_sheet(run_dir)
    path = render_report(run_dir)
    typer.echo(f"report: {path}")
    typer.echo(f"fact sheet: {path.parent / 'fact_sheet.json'}  model card: {path.parent / 'model_card.md'}")
    if mlflow:
        from autods.reports.mlflow_export import export_mlflow

        out = export_mlflow(run_dir, mlflow)
        champ = out["champion"]
        typer.echo(f"mlflow: {len(out['runs'])} experiments exported to {mlflow}"
                   + (f"; champion registered as {champ['model_name']} version {champ['version']}" if champ else ""))


@app.command("claude-pack")
def claude_pack(
    run_dir: ReportRunDir,
    url: Annotated[str, typer.Option(help="Base URL of the coordination server (autods serve); MCP is at URL/mcp.")]
    = "http://127.0.0.1:8765",
    tokens: Annotated[bool, typer.Option(
        "--tokens/--no-tokens", help="Register one agent per role in the run and write each role's bearer token "
                                     "to its own claude/<role>/token.env (mode 600), never one file for all.")] = True,
    role: Annotated[Optional[list[str]], typer.Option(
        "--role", help="Role to include (repeatable; default: steward, biostatistician, analyst, feature, "
                       "validator, translator, monitor).")] = None,
) -> None:
    """Write CLAUDE_RUNBOOK.md and one folder per role (claude/<role>/: agent definition, .mcp.json, settings,
    its own token) so Claude Code agents join the run as separate processes, one role each."""
    from autods.reports.claude_pack import write_claude_pack

    for path in write_claude_pack(run_dir, url=url, roles=role, tokens=tokens):
        typer.echo(f"wrote {path}")


@app.command()
def serve(
    target: Annotated[Optional[Path], typer.Argument(help="A run folder (runs/NAME) whose state to serve.")] = None,
    state: Annotated[Optional[str], typer.Option(help="State URL (sqlite:///path or postgresql+psycopg://...).")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind; anything but loopback requires tokens.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    tokens: Annotated[
        Optional[bool], typer.Option("--tokens/--no-tokens", help="Require bearer tokens (default: only off loopback).")
    ] = None,
) -> None:
    """Serve the coordination server: REST under /api, MCP at /mcp, the web board at /."""
    from autods.runfolder import RunFolder
    from autods.server.serve import serve as run_server

    if state is None:
        if target is None:
            raise UserInputError("autods serve needs a run folder or --state URL", "pass runs/NAME or --state sqlite:///path/state.db")
        state = RunFolder(target).state_url
    run_server(state, host=host, port=port, tokens_required=tokens)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (used by tests and by :func:`main`).

    Typer handles its own usage errors (exit 2); our user errors are caught here so they
    print one line instead of a traceback (exit 2). Anything else is a bug (exit 1): one line
    naming the file its traceback was written to, inside the run folder when there is one.
    """
    try:
        app(args=argv, prog_name="autods")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except (UserInputError, GuardrailBlocked) as exc:
        typer.echo(f"autods: error: {exc}", err=True)
        return EXIT_INPUT
    except Exception as exc:  # noqa: BLE001 - the CLI's boundary: a bug gets one line, never a raw traceback
        _bug(exc)
        return EXIT_BUG
    return 0


def _bug(exc: Exception) -> None:
    """One line for a bug: what it was and where its traceback is (the run folder's ``errors/``
    for an exception inside a run, else a temp file)."""
    from autods.agents.run import InternalError, write_traceback

    path = exc.traceback_path if isinstance(exc, InternalError) else write_traceback(exc, None)
    what = str(exc) if isinstance(exc, InternalError) else f"{type(exc).__name__}: {exc}"
    first = (what.splitlines() or [""])[0][:300]
    typer.echo(f"autods: internal error (a bug in autods, not your input): {first}; "
               f"traceback written to {path}. Please report it with that file.", err=True)


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()

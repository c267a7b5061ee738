"""``autods run`` / ``autods resume``: materialise a run folder and run the team to the end.

The coordination service runs in this process (SQLite ``state.db`` in the run folder by
default, or the ``--state`` URL), and every agent, the harness and the orchestrator talk to
it through their own in-process :class:`~autods.agents.client.AgentClient`, exactly as an
external agent would over HTTP. A crash or ``kill -9`` loses nothing: ``resume`` re-opens
the state, adopts or releases the dead process's claims, and the expert brains, being
functions of the recorded log, decide as if nothing had happened.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from autods.agents.brain import Brain
from autods.agents.roles import TeamSpec
from autods.errors import GuardrailBlocked, UserInputError
from autods.runfolder import RunConfig, RunFolder, atomic_write_json, atomic_write_text

OPTIONS_FILE = "run_options.json"
SUMMARY_FILE = "run_summary.json"
LOCK_FILE = ".lock"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

BrainFactory = Callable[[str, str], Brain | None]
FINISH_STEPS = ("biomarkers", "validation", "report")


class RunOptions(BaseModel):
    """Run settings beyond :class:`RunConfig`, kept in ``run_options.json`` for ``resume``."""

    model_config = ConfigDict(extra="forbid")

    team: dict[str, Any] = Field(default_factory=lambda: TeamSpec().as_dict())
    n_resamples: int = Field(default=1000, ge=0)
    track_resamples: int = Field(default=1000, ge=10)
    lease_s: float = Field(default=300.0, gt=0)
    timeout_s: float | None = 1800.0
    stagnation_k: int | None = None
    floor_seeds: int = Field(default=3, ge=1, le=5)
    max_rounds: int = 2000
    finish: tuple[str, ...] = Field(default=FINISH_STEPS, description="end-of-run steps to run, in order: "
                                    "biomarkers (biomarker tasks), validation (held-out test once), report")
    start_recipe: dict[str, Any] | None = Field(default=None, description="run this recipe in place of the "
                                                "default one in the baseline: its seeds measure the noise floor "
                                                "and it is the first champion candidate (bench/team.py's strong "
                                                "start)")

    @property
    def team_spec(self) -> TeamSpec:
        return TeamSpec.from_dict(self.team)


@dataclass
class RunOutcome:
    folder: RunFolder
    summary: dict[str, Any]

    @property
    def failures(self) -> list[dict[str, str]]:
        """The failed parts of the run, ``[{part, cause, fix}]``; empty for a run that succeeded."""
        return list(self.summary.get("failures") or [])


class InternalError(Exception):
    """An unexpected exception inside a run (a bug, not the user's input): the traceback was
    written to ``traceback_path`` and the CLI exits 1 with one line naming it."""

    def __init__(self, exc: BaseException, traceback_path: Path) -> None:
        super().__init__(f"{type(exc).__name__}: {exc}")
        self.traceback_path = traceback_path


def write_traceback(exc: BaseException, folder: Path | None) -> Path:
    """Write ``exc``'s traceback to ``folder/errors/traceback-<time>.txt`` (a temp file when
    there is no run folder yet) and return the path."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    text = "".join(traceback.format_exception(exc))
    if folder is not None:
        try:
            path = folder / "errors" / f"traceback-{stamp}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            pass  # a run folder that cannot be written: the temp folder still can
    fd, name = tempfile.mkstemp(prefix=f"autods-traceback-{stamp}-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(name)


def _default_name(task_name: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '-', task_name)[:60]}-{stamp}"


def materialise(task_dir: Path, *, run_name: str | None, runs_dir: Path, budget: int | None, minutes: float | None,
                target: float | None, workers: int | None, brain: str | None, executor: str,
                ray_address: str | None, state_url: str | None, seed: int | None, options: RunOptions,
                command: list[str]) -> RunFolder:
    """Create ``runs_dir/NAME`` atomically (written in a temporary folder, then renamed), so a
    crash never leaves a half-made run folder."""
    from autods.tasks.spec import read_specs

    task_dir = Path(task_dir)
    spec, launch = read_specs(task_dir)
    name = run_name or _default_name(spec.name)
    if not _NAME.match(name):
        raise UserInputError(f"run name {name!r} is not a simple name",
                             "use letters, digits, '.', '_' and '-' (starting with a letter or digit)")
    runs_dir = Path(runs_dir)
    root = runs_dir / name
    if root.exists():
        raise UserInputError(f"run '{name}' already exists in {runs_dir}",
                             f"continue it with: autods resume {root}, or choose another --run-name")
    exit_cond = launch.exit_condition
    cfg = RunConfig(
        name=name, task_dir=str(task_dir.resolve()), seed=launch.seed if seed is None else seed,
        budget=budget or exit_cond.budget or 24, minutes=minutes if minutes is not None else exit_cond.minutes,
        target=target if target is not None else exit_cond.target, workers=workers or launch.workers,
        brain=brain or launch.brain, executor=executor, ray_address=ray_address, state_url=state_url,
        status="created", command=command, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    _check_brain(cfg.brain)
    runs_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=runs_dir))
    try:
        staged = RunFolder(tmp)
        staged.save_config(cfg)
        staged.copy_task_spec(task_dir)
        atomic_write_text(tmp / OPTIONS_FILE, options.model_dump_json(indent=2) + "\n")
        os.rename(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RunFolder(root)


def _check_brain(spec: str) -> None:
    if spec.strip().lower() == "expert":
        return
    from autods.agents.llm import parse_spec

    parse_spec(spec)  # raises UserInputError naming the valid forms


def read_options(folder: RunFolder) -> RunOptions:
    path = folder.root / OPTIONS_FILE
    if not path.is_file():
        return RunOptions()
    try:
        return RunOptions.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError:
        raise UserInputError(f"{path} is corrupt", "restore it, or delete it to resume with default options") from None


@contextmanager
def run_lock(folder: RunFolder) -> Iterator[None]:
    """One process per run folder: a second ``resume`` of a live run is refused, not raced."""
    fh = open(folder.root / LOCK_FILE, "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserInputError(f"run '{folder.root}' is in use by another autods process",
                                 "wait for it to finish, or stop it before resuming") from None
        yield
    finally:
        fh.close()


def start_run(task_dir: str | Path, *, run_name: str | None = None, runs_dir: str | Path = "runs",
              budget: int | None = None, minutes: float | None = None, target: float | None = None,
              workers: int | None = None, brain: str | None = None, executor: str = "local",
              ray_address: str | None = None, state_url: str | None = None, seed: int | None = None,
              options: RunOptions | None = None, display: bool | None = None, command: list[str] | None = None,
              brain_factory: BrainFactory | None = None) -> RunOutcome:
    """Materialise ``runs_dir/NAME`` and run the team on the task; see the module docstring."""
    if options is not None and options.start_recipe is not None:
        from autods.runners.recipe import Recipe

        Recipe.parse(options.start_recipe)  # a bad start recipe fails before a run folder exists
    folder = materialise(Path(task_dir), run_name=run_name, runs_dir=Path(runs_dir), budget=budget, minutes=minutes,
                         target=target, workers=workers, brain=brain, executor=executor, ray_address=ray_address,
                         state_url=state_url, seed=seed, options=options or RunOptions(), command=command or [])
    return execute(folder, display=display, brain_factory=brain_factory)


def resume_run(run_dir: str | Path, *, display: bool | None = None,
               brain_factory: BrainFactory | None = None) -> RunOutcome:
    """Continue a run after a crash or ``kill -9``, or re-run the failed tracks of a run that
    finished with failures; a run that finished without failures is left as it is."""
    folder = RunFolder(Path(run_dir))
    cfg = folder.config()
    if cfg.status == "done":
        from autods.agents.session import read_summary

        return RunOutcome(folder, read_summary(folder))
    return execute(folder, display=display, brain_factory=brain_factory)


def execute(folder: RunFolder, *, display: bool | None = None, brain_factory: BrainFactory | None = None) -> RunOutcome:
    """Run (or continue) the team in ``folder``; the summary records each part's status.

    Library warnings go to ``run.log`` in the run folder, not the terminal. An exception
    that is not the user's input is a bug: its traceback is written to ``errors/`` in the
    run folder and :class:`InternalError` names the file.
    """
    from autods.agents.session import Session
    from autods.execution._worker import RUN_LOG, capture_warnings

    start = read_options(folder).start_recipe
    if start is not None:
        brain_factory = start_recipe_factory(start, read_options(folder).team_spec, brain_factory)
    try:
        with run_lock(folder), capture_warnings(folder.root / RUN_LOG):
            with Session(folder, display=display, brain_factory=brain_factory) as session:
                summary = session.run()
            summary = _record_parts(folder, summary)
    except (UserInputError, GuardrailBlocked):
        # the input was refused: say so in run.json (status showed "running"); resume refuses it again
        folder.save_config(folder.config().model_copy(update={"status": "refused"}))
        raise
    except Exception as exc:  # noqa: BLE001 - the run's isolation boundary: any other exception is a bug
        raise InternalError(exc, write_traceback(exc, folder.root)) from exc
    return RunOutcome(folder, summary)


class _StartRecipeBrain:
    """The biostatistician's brain with its default-recipe baseline proposal replaced by the
    start recipe. The title stays the default baseline's, so the orchestrator measures the noise
    floor on it and the validator critiques it as a baseline (duplicate and leakage rules only)."""

    def __init__(self, inner: Brain, recipe: dict[str, Any]) -> None:
        from autods.runners.recipe import Recipe

        self.inner = inner
        self.recipe = Recipe.parse(recipe).canonical_dict()
        self.name = getattr(inner, "name", "biostatistician")
        self.deterministic = getattr(inner, "deterministic", False)

    def decide(self, observation: Any) -> Any:
        from autods.agents.actions import Propose
        from autods.agents.expert.design import DEFAULT_TITLE

        action = self.inner.decide(observation)
        if isinstance(action, Propose) and action.title == DEFAULT_TITLE:
            return action.model_copy(update={
                "recipe": dict(self.recipe), "family": self.recipe["family"],
                "hypothesis": f"the start recipe ({self.recipe['family']}), given to the run; its seeds measure "
                              "the noise floor and it is the first champion candidate"})
        return action


def start_recipe_factory(recipe: dict[str, Any], team: TeamSpec, inner: BrainFactory | None = None) -> BrainFactory:
    """A brain factory whose biostatistician proposes ``recipe`` as the default baseline; other
    roles get ``inner``'s brain (None: the session's own)."""
    def factory(name: str, role: str) -> Brain | None:
        custom = inner(name, role) if inner is not None else None
        if role != "biostatistician":
            return custom
        if custom is None:
            from autods.agents.expert import ExpertBrain

            # as the session builds it: the biostatistician is never an LLM role
            custom = ExpertBrain(role, n_analysts=team.analysts, n_critics=team.validators, critique=team.critique,
                                 dead_ends=team.dead_ends, name=name)
        return _StartRecipeBrain(custom, recipe)
    return factory


def _record_parts(folder: RunFolder, summary: dict[str, Any]) -> dict[str, Any]:
    """Add each part's status (experiments, biomarkers, validation, report) and the failures
    to ``run_summary.json``; a run with a failure gets status ``failed``, so ``resume`` re-runs
    its failed tracks instead of treating it as done."""
    from autods.reports.runstate import run_failures, run_parts

    parts = run_parts(folder, final=True)
    failures = run_failures(parts)
    summary = {**summary, "status": "failed" if failures else "ok", "parts": parts, "failures": failures}
    atomic_write_json(folder.root / SUMMARY_FILE, summary)
    cfg = folder.config()
    status = "failed" if failures else "done"
    if cfg.status != status:
        folder.save_config(cfg.model_copy(update={"status": status}))
    return summary


__all__ = ["FINISH_STEPS", "OPTIONS_FILE", "SUMMARY_FILE", "InternalError", "RunOptions", "RunOutcome", "execute", "materialise", "read_options",
           "resume_run", "run_lock", "start_recipe_factory", "start_run", "write_traceback"]

"""The ``autods`` command line.

Exit codes: 0 success; 2 bad input (one line on stderr naming the problem and the fix);
1 an unexpected failure. A user error never prints a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from autods import __version__
from autods.errors import GuardrailBlocked, UserInputError

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
) -> None:
    """Run the bundled example end to end: check it, then evaluate the default recipe."""
    from autods.checkup import run_checkup
    from autods.display import print_checkup, print_evaluation
    from autods.examples import example_path
    from autods.runners import default_recipe
    from autods.runners import evaluate as run_evaluate

    task_dir = example_path(example)
    typer.echo(f"autods demo on {task_dir}")
    result = run_checkup(task_dir, baseline=True)
    print_checkup(result)
    record = run_evaluate(task_dir, default_recipe(result.task_type))
    print_evaluation(record)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (used by tests and by :func:`main`).

    Typer handles its own usage errors (exit 2); our user errors are caught here so they
    print one line instead of a traceback.
    """
    try:
        app(args=argv, prog_name="autods")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except (UserInputError, GuardrailBlocked) as exc:
        typer.echo(f"autods: error: {exc}", err=True)
        return 2
    return 0


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()

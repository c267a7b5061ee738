"""Shared fixtures. Marked tests (slow, postgres, browser, ray) are skipped unless
``AUTODS_TEST_ALL=1`` or ``CI=true``: the default run stays fast, CI runs everything."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MARKED = ("slow", "postgres", "browser", "ray")

# No test may reach a model provider: the LLM brains check this switch.
os.environ["ALLOW_LLM_CALLS"] = "0"
os.environ.setdefault("MPLBACKEND", "Agg")
# One BLAS/OpenMP thread in the test process: on 2 cores the default threads make small L-BFGS
# fits about 12x slower (oversubscription). Executor workers set their own count regardless.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def _run_all() -> bool:
    return os.environ.get("AUTODS_TEST_ALL") == "1" or os.environ.get("CI", "").lower() == "true"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _run_all():
        return
    for item in items:
        marks = [m for m in MARKED if m in item.keywords]
        if marks:
            item.add_marker(pytest.mark.skip(reason=f"{marks[0]} test: set AUTODS_TEST_ALL=1 to run"))


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES


@pytest.fixture
def pg_url() -> str:
    """The test PostgreSQL database (``AUTODS_PG_URL``), emptied first: the tests own it."""
    import sqlalchemy as sa

    url = os.environ.get("AUTODS_PG_URL")
    if not url:
        pytest.skip("AUTODS_PG_URL is not set (CI starts one with .ci/start-postgres.sh)")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        reflected = sa.MetaData()
        reflected.reflect(conn)
        reflected.drop_all(conn)
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh state database: a SQLite file, and (marked postgres) the emptied test PostgreSQL."""
    return f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")


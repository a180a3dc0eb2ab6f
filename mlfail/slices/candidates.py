"""Slices (design §5): the candidate keys — low-cardinality columns (top values + other
beyond ``max_values``), reference-quantile cohorts of numeric columns, and the time cohorts
``day(TS)`` / ``week(TS)``. See the package docstring, "Candidates".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from mlfail.binning import OTHER, BinSettings, BinSpec, build_specs
from mlfail.config import Roles
from mlfail.counts import VALUE_COUNT, bin_index, collect_each
from mlfail.errors import UsageError
from mlfail.io import Source
from mlfail.reference import Reference
from mlfail.slices.model import Candidate, SliceSettings
from mlfail.timekeys import utc_naive


def cohort_expr(spec: BinSpec) -> pl.Expr:
    """A numeric column mapped to its reference-quantile cohort label, e.g. ``(12.5, 40]``."""
    labels = list(spec.labels())
    return (
        bin_index(spec)
        .replace_strict(list(range(len(labels))), labels, return_dtype=pl.String)
        .alias(spec.feature)
    )


def quintile_spec(spec: BinSpec, bins: int) -> BinSpec:
    """Coarsen a stored numeric spec with B·k bins to ``bins`` bins when the edges allow it."""
    edges = spec.edges
    k = (len(edges) + 1) // bins if len(edges) + 1 >= bins else 0
    if k >= 1 and (len(edges) + 1) % bins == 0:
        edges = tuple(edges[k - 1 :: k][: bins - 1])
    return BinSpec(feature=spec.feature, kind="numeric", edges=edges, dtype=spec.dtype)


def _is_temporal(dtype: pl.DataType) -> bool:
    return dtype.is_temporal()


def _week_index(day: pl.Expr) -> pl.Expr:
    """The ISO week of a date as a number (weeks since the Monday 1969-12-29)."""
    return (day.cast(pl.Int32) + 3) // 7


def _time_levels(seen: pl.Series) -> pl.Series:
    """Day or week numbers as key values: every number from the first to the last seen when
    that range is not much wider than what is seen (codes by subtraction), else the ones seen;
    a null last."""
    vals = seen.drop_nulls().sort()
    if len(vals) and (wide := int(vals[-1]) - int(vals[0]) + 1) <= max(4 * len(vals), 400):
        vals = pl.Series(seen.name, range(int(vals[0]), int(vals[0]) + wide), dtype=pl.Int32)
    if seen.null_count():
        vals = vals.append(pl.Series(seen.name, [None], dtype=pl.Int32))
    return vals


def _key_columns(
    live: Source, roles: Roles, segments: Sequence[str], notes: list[str]
) -> tuple[list[str], list[str], list[str]]:
    """The columns that may be slice keys (``--segment``, else every column but the roles),
    split into categorical and numeric ones; notes on the columns left out."""
    ts = roles.timestamp
    excluded = {c for c in (roles.label, roles.prediction, ts) if c}
    excluded |= {*roles.outputs, *roles.ids, *roles.exclude}
    if segments:
        live.require(segments, "--segment")
        for s in segments:
            if s in excluded:
                raise UsageError(
                    f"--segment {s}: that column is a role (label, prediction, timestamp, "
                    "--id, --model-output or --exclude); model outputs, labels and ids are "
                    "never slice keys"
                )
        cols = list(segments)
    else:
        # once resolved, every identifier, output, time key, one-sided and constant column too
        never = excluded | roles.never_slice_keys()
        cols = [c for c in live.columns if c not in never]
        if roles.assignment is not None:
            notes += [
                f"{c.column}: {c.role.replace('_', ' ')} ({c.reason}), not a slice key"
                for c in roles.assignment.columns
                if c.source == "inferred" and c.column in never and c.column in live.columns
            ]
    schema = live.schema

    cat_cols: list[str] = []
    num_cols: list[str] = []
    for c in cols:
        dt_ = schema[c]
        if _is_temporal(dt_):
            if ts and not segments:
                notes.append(f"{c}: a date/time column; the time cohorts of {ts} cover it")
                continue
            cat_cols.append(c)
        elif dt_.is_float() or dt_.is_integer():
            num_cols.append(c)
        elif dt_ in (pl.String, pl.Boolean) or isinstance(dt_, pl.Categorical | pl.Enum):
            cat_cols.append(c)
        else:
            notes.append(f"{c}: type {dt_} cannot be a slice key")
    return cols, cat_cols, num_cols


@dataclass
class _Probe:
    """What one pass over the live data tells about the key columns."""

    counts: dict[str, pl.DataFrame]  # every distinct value of a column with its count
    distinct: dict[str, int]
    probed: pl.DataFrame  # the row count and the days and weeks seen
    n_rows: int
    time_ok: bool


def _probe(
    live: Source,
    ts: str | None,
    cat_cols: list[str],
    num_cols: list[str],
    max_values: int,
    known: dict[str, pl.DataFrame],
    known_distinct: dict[str, int],
) -> _Probe:
    """Every distinct value of the categorical and integer columns with its count (key values,
    top values, whether an integer is a category) — a streaming group_by per column reads
    one column each, where Polars' ``Series.value_counts``/``n_unique`` would hold every row
    of them in memory — and the row count and time cohorts, collected together. ``known``:
    the tables the roles
    query already counted on this live source (:func:`mlfail.counts.value_counts`), not
    counted again, nor an integer it knows has too many values to be a category
    (``known_distinct``). An integer column with few values moves from ``num_cols`` to
    ``cat_cols``."""
    schema = live.schema
    ints = [c for c in num_cols if schema[c].is_integer()]
    many = {c for c in ints if c not in known and known_distinct.get(c, 0) > max_values}
    todo = [c for c in cat_cols + ints if c not in known and c not in many]
    queries = [live.lf.group_by(c).len(name=VALUE_COUNT) for c in todo]
    exprs = [pl.len().alias("__n")]
    time_ok = ts is not None and _is_temporal(schema[ts])
    if time_ok:
        day = utc_naive(str(ts), schema[str(ts)]).dt.date()
        exprs += [
            day.unique().implode().alias("__days"),
            _week_index(day).unique().implode().alias("__weeks"),
        ]
    *got, probed = collect_each([*queries, live.lf.select(exprs)])
    n_rows = int(probed["__n"][0])
    counted = dict(zip(todo, got, strict=True))
    counts = {c: known[c] if c in known else counted[c] for c in cat_cols + ints if c not in many}
    distinct = {c: v.height for c, v in counts.items()} | {c: known_distinct[c] for c in many}
    for c in ints:
        if distinct[c] <= max_values:  # an integer with few values is a category
            num_cols.remove(c)
            cat_cols.append(c)
    return _Probe(counts, distinct, probed, n_rows, time_ok)


def _column_candidates(
    cols: list[str],
    cat_cols: list[str],
    seen: _Probe,
    ref_cols: set[str],
    segments: Sequence[str],
    settings: SliceSettings,
    notes: list[str],
) -> list[Candidate]:
    """A categorical column as is (≤ ``max_values`` values) or as its top values + other;
    single-valued and identifier-like columns are left out unless named by ``--segment``."""
    counts, distinct, n_rows = seen.counts, seen.distinct, seen.n_rows
    cands: list[Candidate] = []
    for c in cols:
        if c not in cat_cols:
            continue
        n_u = distinct[c]
        if n_u <= 1 and not segments:
            notes.append(f"{c}: a single value in the live data")
            continue
        if n_u <= settings.max_values:
            levels = counts[c][c].sort(nulls_last=True)
            cands.append(
                Candidate(c, "column", pl.col(c).alias(c), c in ref_cols, n_u, levels=levels)
            )
            continue
        if n_u > 0.5 * n_rows and c not in segments:
            notes.append(f"{c}: identifier-like ({n_u:,} distinct values), not a slice key")
            continue
        top = (
            counts[c]
            .drop_nulls(c)
            .sort(["__count", c], descending=[True, False])
            .head(settings.top_values)[c]
        )
        col = pl.col(c)
        expr = (
            pl.when(col.is_null())
            .then(pl.lit(None, dtype=pl.String))
            .when(col.is_in(top.to_list()))
            .then(col.cast(pl.String))
            .otherwise(pl.lit(OTHER))
            .alias(c)
        )
        levels = pl.concat([top.cast(pl.String), pl.Series([OTHER, None], dtype=pl.String)])
        notes.append(f"{c}: {n_u} distinct values; the top {len(top)} and {OTHER}")
        cands.append(
            Candidate(
                c,
                "top",
                expr,
                c in ref_cols,
                len(top) + 1,
                levels=levels.unique(maintain_order=True),
            )
        )
    return cands


def _time_candidates(live: Source, ts: str, seen: _Probe) -> list[Candidate]:
    """The time cohorts ``day(TS)`` and ``week(TS)`` (ISO week) of the timestamp."""
    schema, probed = live.schema, seen.probed
    if not seen.time_ok:
        raise UsageError(
            f"--timestamp {ts}: column has type {schema[ts]} in --live {live.spec}; "
            "it must be a date or datetime"
        )
    day = utc_naive(ts, schema[ts]).dt.date()
    days = _time_levels(probed["__days"][0].cast(pl.Int32))
    weeks = _time_levels(probed["__weeks"][0].cast(pl.Int32))
    return [
        Candidate(
            f"day({ts})",
            "day",
            day.alias(f"day({ts})"),
            False,
            len(probed["__days"][0]),
            levels=days.cast(pl.Date),
            code_expr=day.cast(pl.Int32),
            code_levels=days,
        ),
        Candidate(
            f"week({ts})",
            "week",
            day.dt.strftime("%G-W%V").alias(f"week({ts})"),
            False,
            len(probed["__weeks"][0]),
            levels=(weeks * 7 - 3).cast(pl.Date).dt.strftime("%G-W%V"),
            code_expr=_week_index(day),
            code_levels=weeks,
        ),
    ]


def choose_candidates(
    live: Source,
    ref: Reference,
    roles: Roles,
    segments: Sequence[str],
    settings: SliceSettings,
) -> tuple[list[Candidate], list[str], int]:
    """The slice keys, notes on the columns left out, and the live row count."""
    ts = roles.timestamp
    notes: list[str] = []
    cols, cat_cols, num_cols = _key_columns(live, roles, segments, notes)
    a = roles.assignment
    known, known_distinct = a.live_counts(live) if a is not None else ({}, {})
    seen = _probe(live, ts, cat_cols, num_cols, settings.max_values, known, known_distinct)
    if a is not None:  # root cause's cohort candidates read them (a baseline's walk: no roles
        a.remember(live, seen.counts)  # query counted live)
    cands = _column_candidates(cols, cat_cols, seen, set(ref.columns), segments, settings, notes)

    cohort_specs = _cohort_specs([c for c in cols if c in num_cols], ref, settings, notes)
    for spec in cohort_specs:
        cands.append(
            Candidate(
                spec.feature,
                "cohort",
                cohort_expr(spec),
                True,
                spec.n_bins - 1,
                spec=spec,
                levels=pl.Series(spec.feature, spec.labels(), dtype=pl.String),
            )
        )

    if ts:
        cands += _time_candidates(live, ts, seen)
    if not cands:
        raise UsageError(
            "no slice candidates: every column is a role, identifier-like or constant; "
            "name the columns with --segment"
        )
    return cands, notes, seen.n_rows


def _from_finer(ref: Reference, cols: list[str], bins: int) -> dict[str, BinSpec]:
    """The ``bins``-quantile specs of ``cols`` read off the reference's own exact specs, when
    those were built with a multiple k·``bins`` of bins and kept every edge: the quantile at
    j/``bins`` is the one at (k·j)/(k·``bins``) — the same double, the same selection — so the
    edges are every k-th one, exactly what a pass of ``bins`` quantiles would give."""
    fine = getattr(ref, "exact_bins", None)
    if not fine or fine % bins:
        return {}
    k = fine // bins
    return {
        s.feature: BinSpec(
            feature=s.feature, kind="numeric", edges=tuple(s.edges[k - 1 :: k]), dtype=s.dtype
        )
        for s in ref.specs
        if s.feature in cols and s.kind == "numeric" and len(s.edges) == fine - 1
    }


def _cohort_specs(
    cols: list[str], ref: Reference, settings: SliceSettings, notes: list[str]
) -> list[BinSpec]:
    if not cols:
        return []
    out: list[BinSpec] = []
    if ref.lazy is not None:
        present = [c for c in cols if c in ref.columns]
        by_name = _from_finer(ref, present, settings.cohort_bins)
        rest = [c for c in present if c not in by_name]
        if rest:  # what the reference's specs cannot give: a pass of quantiles
            specs = build_specs(
                ref.lazy,
                rest,
                settings=BinSettings(bins=settings.cohort_bins),
                numeric=rest,
                explicit=True,
            )
            by_name.update({s.feature: s for s in specs})
    else:
        by_name = {
            s.feature: quintile_spec(s, settings.cohort_bins)
            for s in ref.specs
            if s.kind == "numeric" and s.feature in cols
        }
    for c in cols:
        spec = by_name.get(c)
        if spec is None:
            notes.append(f"{c}: numeric but not profiled in the reference; no quantile cohorts")
        elif not spec.edges:
            notes.append(f"{c}: constant in the reference; no quantile cohorts")
        else:
            out.append(spec)
    return out

"""The counting core (design §1): one streaming pass per source → a count table.

A count table is a :class:`polars.DataFrame` in long form::

    keys…, feature: String, bin: UInt32, n: UInt64

with one row per (key values, feature, bin) that has at least one row of data. ``bin`` is the
index into :meth:`BinSpec.labels`. Count tables are mergeable: concatenate and sum ``n`` by
the other columns (:func:`merge`). Per feature, per slice, per day and per cohort are the same
computation with other keys.

The pass is one streaming collection (``pl.collect_all(engine="streaming")``) in which every
column is decoded once: numeric features contribute one cumulative count ``sum(x <= edge)`` per
inner edge plus a missing count to a single ``select`` (no keys) or ``group_by(keys).agg``, the
last bin following from the row count; each categorical feature is a ``group_by(keys, value)``
count whose few distinct values are then mapped to bins (category, ``__other__``,
``__unseen__``, missing).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from mlfail.binspec import BinSpec
from mlfail.errors import InputError, UsageError

if TYPE_CHECKING:
    from mlfail.io import Source

Key = str | pl.Expr
RESERVED = ("feature", "bin", "n")
LEN = "__len"
VALUE = "__mlfail_value"


def key_names(keys: Sequence[Key]) -> list[str]:
    names = [k if isinstance(k, str) else k.meta.output_name() for k in keys]
    for n in names:
        if n in RESERVED:
            raise UsageError(
                f"cannot group by a column named {n!r}: the name is reserved in count tables"
            )
    return names


def distinct_counts(lf: pl.LazyFrame, columns: Sequence[str]) -> dict[str, int]:
    """Distinct values per column (a null counts as one, as ``n_unique``), in one streaming
    collection whose memory is the distinct values: ``select(col.n_unique())`` holds every row
    of the columns instead (5M rows × 24 columns: 1.75 GB against 0.15 GB, the same time)."""
    return value_counts(lf, columns, keep=0)[0]


BATCH_ROWS = 1 << 20  # rows a chunked counting pass reads and counts at a time (sliced)


def collect_each(queries: Sequence[pl.LazyFrame]) -> list[pl.DataFrame]:
    """Several streaming queries over one source collected in one call, without common-subplan
    elimination: with it, Polars caches a subplan the queries share in memory — the chosen
    slice's rows under step 5's per-feature group_bys (the filtered frame: 0.7 GB at 20M rows,
    0.15 GB without, and faster), so memory would grow with the rows."""
    flags = pl.QueryOptFlags()
    flags.comm_subplan_elim = False
    return pl.collect_all(queries, engine="streaming", optimizations=flags)


def sliced(query: pl.LazyFrame, rows: int) -> Iterator[pl.DataFrame]:
    """``query``'s rows as frames of ``rows`` rows (at least one frame, empty when it has
    none), each a sliced streaming collection (Parquet skips the other row groups); frame
    k + 1 is read on a thread while the caller works on frame k, so at most two are in
    memory. ``collect_batches`` does not bound it: its query runs ahead of a slower reader and
    buffers the rest (20M rows: 568 MB against 284 MB)."""
    total = int(query.select(pl.len()).collect(engine="streaming").item())

    def read(at: int) -> pl.DataFrame:
        return query.slice(at, rows).collect(engine="streaming")

    with ThreadPoolExecutor(max_workers=1) as ahead:
        pending = ahead.submit(read, 0)
        for at in range(rows, max(total, 1) + rows, rows):
            frame = pending.result()
            if at < total:
                pending = ahead.submit(read, at)
            yield frame


def cell_table(
    key_of: Callable[[np.ndarray], pl.Series],
    specs: Sequence[BinSpec],
    cells: Sequence[np.ndarray],
) -> pl.DataFrame | None:
    """The count table (key, feature, bin, n) of a numpy pass's flat counts: ``cells[i]``
    holds spec i's count at ``key code × n_bins + bin``; one row per nonzero cell, the key
    column from ``key_of(key codes)``. None without specs."""
    parts = []
    for s, counts in zip(specs, cells, strict=True):
        cell = np.flatnonzero(counts)
        parts.append(
            pl.DataFrame(
                [
                    key_of(cell // s.n_bins),
                    pl.Series("feature", [s.feature] * len(cell), dtype=pl.String),
                    pl.Series("bin", cell % s.n_bins, dtype=pl.UInt32),
                    pl.Series("n", counts[cell], dtype=pl.UInt64),
                ]
            )
        )
    return pl.concat(parts) if parts else None


def bin_cells(
    code: np.ndarray, cells: int, binned: Sequence[tuple[BinSpec, np.ndarray]]
) -> Iterator[np.ndarray]:
    """For each (spec, the chunk's bins of it), the chunk's (code, bin) counts as a
    ``(cells, n_bins)`` array, ``code`` in ``0..cells-1``: one bincount of code × stride + bin
    a spec. Every spec shares one stride (the widest spec's bins), so the codes are scaled
    once, not once per distinct bin count (each scaled copy a fresh array of the chunk's
    rows). The numpy passes' counting step: the cohort pass's cubes, the timeline's windows."""
    if not binned:
        return
    stride = max(s.n_bins for s, _ in binned)
    scaled = np.multiply(code, stride, dtype=np.int64)
    key = np.empty_like(scaled)
    for s, bins in binned:
        np.add(scaled, bins, out=key)
        flat = np.bincount(key, minlength=cells * stride)
        yield flat.reshape(cells, stride)[:, : s.n_bins]


VALUE_COUNT = "__count"  # the rows column of a value-count table (col, __count)


def value_counts(
    lf: pl.LazyFrame, columns: Sequence[str], keep: int = 10_000
) -> tuple[dict[str, int], dict[str, pl.DataFrame]]:
    """The distinct values per column (as :func:`distinct_counts`) and, for the columns with
    at most ``keep`` of them, the value-count table (``col``, ``__count`` UInt32): one
    streaming ``group_by(col).len()`` per column, collected together, that returns one row (the
    number of groups and the first ``keep + 1`` of them)."""
    if not columns:
        return {}, {}
    queries = [
        lf.group_by(c)
        .len(name=VALUE_COUNT)
        .select(
            pl.len().alias("__n"),
            pl.struct(c, VALUE_COUNT).head(keep + 1).implode().alias("__v"),
        )
        for c in columns
    ]
    frames = collect_each(queries)
    distinct: dict[str, int] = {}
    tables: dict[str, pl.DataFrame] = {}
    for c, f in zip(columns, frames, strict=True):
        distinct[c] = int(f["__n"][0])
        if keep and distinct[c] <= keep:
            tables[c] = f.select(pl.col("__v").explode()).unnest("__v")
    return distinct, tables


def joint_groups(card: dict[str, int], limit: int = 5000) -> list[list[str]]:
    """Greedy groups of key columns (``card``: column → distinct values) whose joint
    cardinality stays under ``limit``, fewest values first: each group is counted in one pass
    (a small cube) and coarsened per column, exactly (counts are integers)."""
    groups: list[list[str]] = []
    cur: list[str] = []
    prod = 1
    for c, n in sorted(card.items(), key=lambda kv: kv[1]):
        if cur and prod * n > limit:
            groups.append(cur)
            cur, prod = [], 1
        cur.append(c)
        prod *= n
    if cur:
        groups.append(cur)
    return groups


def empty_table(keys: Sequence[str] = (), key_schema: pl.Schema | None = None) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {}
    for k in keys:
        schema[k] = key_schema[k] if key_schema is not None and k in key_schema else pl.String()
    schema.update({"feature": pl.String(), "bin": pl.UInt32(), "n": pl.UInt64()})
    return pl.DataFrame(schema=schema)


def bin_index(spec: BinSpec) -> pl.Expr:
    """The index into ``spec.labels()`` of each row's value (same bins as the count core)."""
    x = pl.col(spec.feature)
    if spec.kind == "numeric":
        v = x.cast(pl.Float64)
        idx: pl.Expr = pl.sum_horizontal([(v > e) for e in spec.edges]) if spec.edges else pl.lit(0)
        return (
            pl.when(v.is_null() | v.is_nan())
            .then(pl.lit(spec.missing_index))
            .otherwise(idx)
            .cast(pl.UInt32)
        )
    return _category_index(spec, x.cast(pl.String))


def _narrow_dtype(n: int) -> type[np.unsignedinteger[Any]]:
    """The narrowest unsigned numpy type of a code below ``n`` (:func:`narrow`'s rule)."""
    return np.uint8 if n <= 1 << 8 else np.uint16 if n <= 1 << 16 else np.uint32


_POLARS_UINT: dict[type, type[pl.DataType]] = {
    np.uint8: pl.UInt8,
    np.uint16: pl.UInt16,
    np.uint32: pl.UInt32,
}


def numeric_bins(values: np.ndarray, spec: BinSpec) -> np.ndarray:
    """:func:`bin_index` of a numeric spec with numpy, in :func:`narrow`'s dtype: ``values``
    the column cast to Float64 (a null as NaN, as ``Series.to_numpy`` gives it), each row's
    bin the number of edges below it, NaN in the missing bin. The same bins as the Polars
    expression, five times faster (1M rows, 9 edges: 1.5 against 7.7 ms here): the sum of
    edge comparisons and the when/then a Polars query evaluates row by row cost more than
    one compare-and-add per edge into a byte."""
    out = np.zeros(len(values), dtype=_narrow_dtype(spec.n_bins))
    above = np.empty(len(values), dtype=bool)
    for e in spec.edges:
        np.greater(values, e, out=above)
        np.add(out, above, out=out, casting="unsafe")
    out[np.isnan(values)] = spec.missing_index
    return out


def bin_read(spec: BinSpec, schema: pl.Schema, name: str) -> pl.Expr:
    """What a chunked numpy pass reads for ``spec``'s bin, as ``name``: a numeric column's
    values as Float64 (binned by :func:`chunk_bins` after the read: Polars' sum of edge
    comparisons on the read-ahead thread cost more than the whole read), a categorical spec's
    bin (:func:`bin_index`), an absent column's missing bin."""
    if spec.feature not in schema:
        return narrow(pl.lit(spec.missing_index), spec.n_bins).alias(name)
    if _comes_raw(spec, schema):
        return pl.col(spec.feature).cast(pl.Float64).alias(name)
    return narrow(bin_index(spec), spec.n_bins).alias(name)


def _comes_raw(spec: BinSpec, schema: pl.Schema) -> bool:
    """Whether :func:`bin_read` reads ``spec``'s column raw (eight bytes a row)."""
    return spec.kind == "numeric" and spec.feature in schema


def chunk_bins(frame: pl.DataFrame, name: str, spec: BinSpec) -> np.ndarray:
    """``spec``'s bins in a chunk read with :func:`bin_read` as ``name``."""
    col = frame[name]
    if col.dtype == pl.Float64:
        return numeric_bins(col.to_numpy(), spec)
    return col.to_numpy()


RAW_BYTES = 128 << 20  # the raw numeric values a chunk of a pass using bin_read holds at most


def chunk_rows(specs: Iterable[BinSpec], schema: pl.Schema, rows: int) -> int:
    """The rows a chunked pass reading ``specs`` with :func:`bin_read` takes at a time, at
    most ``rows``: :func:`raw_rows` of the columns that come raw."""
    return raw_rows(sum(_comes_raw(s, schema) for s in specs), rows)


def raw_rows(numeric: int, rows: int = BATCH_ROWS) -> int:
    """The rows a chunked pass reads at a time when ``numeric`` of its columns come as raw
    Float64 (:func:`bin_read`: eight bytes a row, where a bin is one): ``rows``, halved until
    they hold at most :data:`RAW_BYTES` (30 numeric features: half a million rows)."""
    while rows > 1 << 16 and rows * 8 * numeric > RAW_BYTES:
        rows //= 2
    return rows


FOLDED_LOOKUP = 10_000  # folded categories looked up in the Enum; more are tested with is_in


def _category_index(spec: BinSpec, s: pl.Expr) -> pl.Expr:
    """The categorical bin of the text ``s``: its position in an Enum of the kept then the
    folded categories (one lookup a row, where a when/then chain compares the text with each
    category in turn: 200 kept categories, 1M rows, 0.17 → 0.013 s), null → missing, neither
    → ``__unseen__``. Past :data:`FOLDED_LOOKUP` folded categories the Enum holds the kept
    ones only and the folded are tested with ``is_in`` (the cast builds its lookup of every
    category again for each chunk of rows: with 100 000 folded categories it cost twice as
    much). A hand-written spec that names a category twice keeps the chain (the first match
    wins)."""
    n_cat = len(spec.categories)
    unseen = n_cat + (1 if spec.other else 0)
    folded_in = len(spec.other) <= FOLDED_LOOKUP
    vocab = [*spec.categories, *(spec.other if folded_in else ())]
    if len(set(vocab)) == len(vocab):
        u32 = pl.UInt32
        known: Any = pl.when(s.is_null()).then(pl.lit(spec.missing_index, dtype=u32))
        if not vocab:
            return known.otherwise(pl.lit(unseen, dtype=u32))
        pos = s.cast(pl.Enum(vocab), strict=False).to_physical().cast(u32)
        if folded_in:
            known = known.when(pos.is_null()).then(pl.lit(unseen, dtype=u32))
            return known.when(pos >= n_cat).then(pl.lit(n_cat, dtype=u32)).otherwise(pos)
        known = known.when(pos.is_not_null()).then(pos)
        known = known.when(s.is_in(list(spec.other))).then(pl.lit(n_cat, dtype=u32))
        return known.otherwise(pl.lit(unseen, dtype=u32))
    chain: Any = pl.when(s.is_null()).then(pl.lit(spec.missing_index))
    for j, cat in enumerate(spec.categories):
        chain = chain.when(s == cat).then(pl.lit(j))
    if spec.other:
        chain = chain.when(s.is_in(list(spec.other))).then(pl.lit(n_cat))
    return chain.otherwise(pl.lit(unseen)).cast(pl.UInt32)


def missing(name: str, dtype: pl.DataType) -> pl.Expr:
    """A column's missing values per row (True/False, never null): null, and NaN in floats —
    what the timeline's null rates count."""
    c = pl.col(name)
    miss = (c.is_null() | c.is_nan()) if dtype.is_float() else c.is_null()
    return miss.fill_null(True)


def narrow(code: pl.Expr, n: int) -> pl.Expr:
    """A code below ``n`` in the narrowest unsigned type: the bytes per row of a chunk that a
    counting pass holds (a bin of ≤ 256 in one byte, not four); the Polars form of
    :func:`_narrow_dtype`, so that a bin binned with numpy has the query's dtype."""
    return code.cast(_POLARS_UINT[_narrow_dtype(n)])


def _value_expr(spec: BinSpec) -> pl.Expr:
    col = pl.col(spec.feature)
    if spec.kind == "numeric":
        return col.cast(pl.Float64)
    return col.cast(pl.String)


def _count_exprs(i: int, spec: BinSpec, present: bool) -> list[pl.Expr]:
    if not present:  # the column is absent: every row is missing
        zero = pl.lit(0, dtype=pl.UInt32)
        names = [f"c{i}_{j}" for j in range(len(spec.edges) or len(spec.categories))]
        if spec.kind == "categorical" and spec.other:
            names.append(f"c{i}_o")
        return [*(zero.alias(n) for n in names), pl.len().alias(f"c{i}_m")]
    x = _value_expr(spec)
    exprs: list[pl.Expr] = []
    if spec.kind == "numeric":
        for j, edge in enumerate(spec.edges):
            exprs.append((x <= edge).sum().alias(f"c{i}_{j}"))
        exprs.append((x.is_null() | x.is_nan()).sum().alias(f"c{i}_m"))
    else:
        for j, cat in enumerate(spec.categories):
            exprs.append((x == cat).sum().alias(f"c{i}_{j}"))
        if spec.other:
            exprs.append(x.is_in(list(spec.other)).sum().alias(f"c{i}_o"))
        exprs.append(x.is_null().sum().alias(f"c{i}_m"))
    return exprs


def _bins_from_wide(wide: pl.DataFrame, i: int, spec: BinSpec) -> np.ndarray:
    """(groups × n_bins) counts for spec ``i`` from the wide aggregate frame."""
    total = wide[LEN].to_numpy().astype(np.int64)
    missing = wide[f"c{i}_m"].to_numpy().astype(np.int64)
    g = len(wide)
    out = np.zeros((g, spec.n_bins), dtype=np.int64)
    if spec.kind == "numeric":
        k = len(spec.edges)
        cum = np.zeros((g, k + 1), dtype=np.int64)
        for j in range(k):
            cum[:, j + 1] = wide[f"c{i}_{j}"].to_numpy()
        # bin j covers (edge_{j-1}, edge_j]; cum[:, j] counts x <= edge_{j-1}.
        out[:, :k] = np.diff(cum, axis=1)
        out[:, k] = total - missing - cum[:, k]
        out[:, k + 1] = missing
    else:
        c = len(spec.categories)
        for j in range(c):
            out[:, j] = wide[f"c{i}_{j}"].to_numpy()
        pos = c
        other = np.zeros(g, dtype=np.int64)
        if spec.other:
            other = wide[f"c{i}_o"].to_numpy().astype(np.int64)
            out[:, pos] = other
            pos += 1
        out[:, pos] = total - missing - out[:, :c].sum(axis=1) - other  # __unseen__
        out[:, pos + 1] = missing
    return out


def _categorical_query(lf: pl.LazyFrame, spec: BinSpec, keys: Sequence[Key]) -> pl.LazyFrame:
    """Rows per (keys, value) of one categorical feature: a streaming group_by. A hash lookup
    per row, where one equality test per category cost ~10× more on 500-category columns."""
    value = _value_expr(spec).alias(VALUE)
    return lf.group_by([*keys, value]).agg(pl.len().alias("n"))


def _categorical_table(vc: pl.DataFrame, spec: BinSpec, names: list[str]) -> pl.DataFrame:
    """Map (keys, value, n) to (keys, feature, bin, n): kept categories to their bin, folded
    ones to ``__other__``, anything else non-null to ``__unseen__``, null to missing."""
    c = len(spec.categories)
    vocab = [*spec.categories, *spec.other]
    codes = [*range(c), *([c] * len(spec.other))]
    unseen = c + (1 if spec.other else 0)
    value = pl.col(VALUE)
    if vocab:
        known = value.replace_strict(vocab, codes, default=unseen, return_dtype=pl.UInt32)
    else:
        known = pl.lit(unseen, dtype=pl.UInt32)
    bin_ = (
        pl.when(value.is_null()).then(pl.lit(spec.missing_index, dtype=pl.UInt32)).otherwise(known)
    )
    out = (
        vc.with_columns(bin_.alias("bin"))
        .group_by([*names, "bin"], maintain_order=True)
        .agg(pl.col("n").sum().cast(pl.UInt64))
        .select(*names, pl.lit(spec.feature, dtype=pl.String).alias("feature"), "bin", "n")
    )
    return out if names else out.sort("bin")


def check_types(schema: pl.Schema, specs: Sequence[BinSpec], origin: str = "") -> None:
    """A feature binned as numeric must still be numeric here: a column that became text
    between training and serving is a type change to fix (``mlfail check quality`` reports
    it), never something to coerce silently."""
    for spec in specs:
        dtype = schema.get(spec.feature)
        if spec.kind == "numeric" and dtype is not None and not _numberlike(dtype):
            where = f"{origin}: " if origin else ""
            raise InputError(
                f"{where}column {spec.feature!r} is {dtype} here but numeric in the reference; "
                "a type change between training and serving is itself a finding "
                "(see `mlfail check quality`): fix the export, or leave the column out with "
                "--features"
            )


def _numberlike(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype == pl.Boolean or dtype == pl.Null


def count_frame(
    lf: pl.LazyFrame,
    specs: Sequence[BinSpec],
    keys: Sequence[Key] = (),
    *,
    origin: str = "",
) -> pl.DataFrame:
    """Count every feature of ``specs`` in ``lf`` by ``keys`` in one streaming collection.

    Numeric features (and absent columns) are plain aggregations of one ``select`` /
    ``group_by(keys).agg``; each categorical feature is a ``group_by(keys, value).len()``.
    All of them are collected together (``pl.collect_all``), so every column is decoded once.
    """
    names = key_names(keys)
    schema = lf.collect_schema()
    check_types(schema, specs, origin)
    exprs: list[pl.Expr] = [pl.len().alias(LEN)]
    grouped: dict[int, int] = {}  # spec index -> position in the collected results
    queries: list[pl.LazyFrame] = []
    for i, spec in enumerate(specs):
        present = spec.feature in schema
        if spec.kind == "categorical" and present:
            grouped[i] = len(queries) + 1
            queries.append(_categorical_query(lf, spec, keys))
        else:
            exprs.extend(_count_exprs(i, spec, present))
    wide_q = lf.group_by(list(keys)).agg(exprs) if keys else lf.select(exprs)
    if queries:
        # collect_all runs its queries one after another; the numeric select and the
        # categorical group_bys side by side keep both cores busy.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(wide_q.collect, engine="streaming")
            tables = collect_each(queries)
            wide = pending.result()
    else:
        wide, tables = wide_q.collect(engine="streaming"), []
    if wide.height == 0:
        return empty_table(names, wide.schema)
    parts: list[pl.DataFrame] = []
    g = wide.height
    key_frame = wide.select(names)
    for i, spec in enumerate(specs):
        if i in grouped:
            parts.append(_categorical_table(tables[grouped[i] - 1], spec, names))
            continue
        mat = _bins_from_wide(wide, i, spec)
        nb = spec.n_bins
        grp = np.repeat(np.arange(g), nb)
        cols = pl.DataFrame(
            {
                "feature": pl.Series("feature", [spec.feature] * (g * nb), dtype=pl.String),
                "bin": pl.Series(
                    "bin", np.tile(np.arange(nb, dtype=np.uint32), g), dtype=pl.UInt32
                ),
                "n": pl.Series("n", mat.ravel().astype(np.uint64), dtype=pl.UInt64),
            }
        )
        part = pl.concat([key_frame[grp], cols], how="horizontal") if names else cols
        parts.append(part.filter(pl.col("n") > 0))
    return pl.concat(parts, how="vertical") if parts else empty_table(names, wide.schema)


def merge(tables: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Sum count tables by key; the identity of the merge is an empty table."""
    tables = [t for t in tables if t is not None]
    if not tables:
        return empty_table()
    if len(tables) == 1:
        return tables[0]
    by = [c for c in tables[0].columns if c != "n"]
    return (
        pl.concat(tables, how="vertical_relaxed")
        .group_by(by, maintain_order=True)
        .agg(pl.col("n").sum().cast(pl.UInt64))
    )


def _interactive() -> bool:
    return sys.stderr.isatty()


def count_source(
    source: Source,
    specs: Sequence[BinSpec],
    keys: Sequence[Key] = (),
    *,
    progress: bool | None = None,
    on_file: Callable[[int, int], None] | None = None,
) -> pl.DataFrame:
    """Count a source. With several files and an interactive stderr, count file by file (a
    Rich progress bar on stderr) and merge; otherwise one pass over the whole scan. An
    object-store source is streamed once in row batches (see :func:`count_streamed`)."""
    if progress is None:
        progress = _interactive()
    origin = f"{source.role} {source.spec}"
    check_types(source.schema, specs, origin)
    if source.remote and any(s.kind == "categorical" for s in specs):
        return count_streamed(source.lf, specs, keys, origin=origin)
    frames = source.file_frames() if (progress or on_file) else [source.lf]
    if len(frames) <= 1:
        return count_frame(source.lf, specs, keys, origin=origin)
    tables: list[pl.DataFrame] = []
    if progress:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(
            TextColumn(f"counting {source.role} {{task.description}}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task(source.spec, total=len(frames))
            for idx, lf in enumerate(frames):
                tables.append(count_frame(lf, specs, keys, origin=origin))
                bar.advance(task)
                if on_file:
                    on_file(idx + 1, len(frames))
    else:
        for idx, lf in enumerate(frames):
            tables.append(count_frame(lf, specs, keys, origin=origin))
            if on_file:
                on_file(idx + 1, len(frames))
    return merge(tables)


STREAM_BYTES = 256 << 20  # rows per batch of a streamed source: about this many bytes


def count_streamed(
    lf: pl.LazyFrame, specs: Sequence[BinSpec], keys: Sequence[Key] = (), *, origin: str = ""
) -> pl.DataFrame:
    """:func:`count_frame` over ``lf`` read exactly once, as a stream of row batches counted in
    memory and merged.

    :func:`count_frame` runs one query for the numeric features and one per categorical
    feature; on local files they share the OS page cache, but on object storage each query
    downloads the objects again (measured on the sample: 10 reads of every object). Streaming
    the needed columns once costs some CPU (locally ~2× a bare count_frame) and keeps at most
    a batch of ~STREAM_BYTES in memory; the counts are identical (tested)."""
    schema = lf.collect_schema()
    need = [s.feature for s in specs if s.feature in schema]
    for k in keys:
        need += [k] if isinstance(k, str) else k.meta.root_names()
    need = list(dict.fromkeys(need))
    narrow = lf.select(need)
    rows = max(10_000, STREAM_BYTES // (8 * max(len(need), 1)))
    tables = [
        count_frame(batch.lazy(), specs, keys, origin=origin)
        for batch in narrow.collect_batches(chunk_size=rows, maintain_order=False)
        if batch.height
    ]
    if not tables:
        return count_frame(narrow.limit(0), specs, keys, origin=origin)
    return merge(tables)


def dense(table: pl.DataFrame, spec: BinSpec, where: pl.Expr | None = None) -> np.ndarray:
    """The bin-count vector of one feature (optionally within a key filter), zeros filled."""
    t = table.filter(pl.col("feature") == spec.feature)
    if where is not None:
        t = t.filter(where)
    out = np.zeros(spec.n_bins, dtype=np.int64)
    if t.height:
        agg = t.group_by("bin").agg(pl.col("n").sum())
        np.add.at(out, agg["bin"].to_numpy().astype(np.int64), agg["n"].to_numpy().astype(np.int64))
    return out


def matrix(
    table: pl.DataFrame, spec: BinSpec, key: str, order: Sequence[object] | None = None
) -> tuple[list[object], np.ndarray]:
    """Counts of one feature as a (key values × bins) matrix: rows in ``order`` (default: the
    sorted key values present), zero-filled. Per-day / per-cohort PSI reads this."""
    t = (
        table.filter(pl.col("feature") == spec.feature)
        .group_by([key, "bin"])
        .agg(pl.col("n").sum())
    )
    keys = (
        list(order)
        if order is not None
        else sorted(t[key].unique().to_list(), key=lambda v: (v is None, v))
    )
    pos = {k: i for i, k in enumerate(keys)}
    out = np.zeros((len(keys), spec.n_bins), dtype=np.int64)
    if t.height:
        rows = np.array([pos.get(k, -1) for k in t[key].to_list()], dtype=np.int64)
        ok = rows >= 0
        np.add.at(
            out,
            (rows[ok], t["bin"].to_numpy().astype(np.int64)[ok]),
            t["n"].to_numpy().astype(np.int64)[ok],
        )
    return keys, out

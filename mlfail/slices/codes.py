"""Slices (design §5): the counting of slice codes — one streaming pass reads each row as
small integers, and every 1- and 2-predicate slice is summed by ``np.bincount`` per block and
per pair of blocks. See the package docstring, "Counting".
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from mlfail.binning import OTHER
from mlfail.counts import BATCH_ROWS, bin_index, sliced  # BATCH_ROWS: rows coded at a time
from mlfail.performance import TaskSpec, is_error
from mlfail.slices.model import (
    ABS,
    ERR,
    KEY_COLS,
    LAB,
    NO_KEY,
    NULL_KEY,
    ROWS,
    SN,
    SQ,
    SSUM,
    Candidate,
)


def _measures(task: TaskSpec | None, prediction: str, pred_numeric: bool) -> list[pl.Expr]:
    """Additive per-row measures; their sums over any slice give every statistic."""
    p = pl.col(prediction)
    out = [pl.lit(1, dtype=pl.Int64).alias(ROWS)]
    if pred_numeric:
        pf = p.cast(pl.Float64)
        ok = pf.is_not_null() & pf.is_not_nan()
        out += [
            pl.when(ok).then(pf).otherwise(0.0).alias(SSUM),
            ok.cast(pl.Int64).alias(SN),
        ]
    if task is None:
        return out
    y = pl.col(task.label)
    lab = y.is_not_null() & p.is_not_null()
    out.append(lab.cast(pl.Int64).alias(LAB))
    if task.task == "regression":
        err = (y.cast(pl.Float64) - p.cast(pl.Float64)).abs()
        out += [
            pl.when(lab).then(err).otherwise(0.0).alias(ABS),
            pl.when(lab).then(err * err).otherwise(0.0).alias(SQ),
        ]
    else:
        out.append(pl.when(lab).then(is_error(task)).otherwise(0).cast(pl.Int64).alias(ERR))
    return out


def pair_list(cands: Sequence[Candidate], names: Sequence[str]) -> list[tuple[str, str]]:
    """Candidate pairs for 2-predicate slices (day × week is nested, never paired)."""
    kinds = {c.name: c.kind for c in cands}
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if {kinds[a], kinds[b]} == {"day", "week"}:
                continue
            out.append((a, b))
    return out


COUNTED = (LAB, ERR, SN)  # 0/1 per row: folded into the row's state (ROWS counts the rows)


BLOCK_CELLS = 1 << 18  # cells of one block × block table: np.bincount stays in the CPU cache


PAIR_CELLS = 1 << 22  # a block pair beyond this is summed pair by pair


WORKERS = max(1, min(os.cpu_count() or 1, 4))  # threads counting the block pairs


def key_code(c: Candidate, schema: pl.Schema) -> tuple[pl.Expr, int]:
    """Each row's code for candidate ``c`` (UInt32) and the number of codes: the index of the
    row's key value in ``c.levels`` (the live data's values; cohorts: the bin), or
    ``len(c.levels)`` for a value the live data does not have (a reference's own values:
    slices the live data does not have are never compared). Elementwise expressions only —
    consecutive integers by subtraction, anything else through its text and an Enum — so the
    counting pass streams."""
    if c.kind == "cohort" and c.spec is not None:
        return bin_index(c.spec), c.spec.n_bins
    if c.levels is None:
        raise ValueError(f"candidate {c.name} has no levels")
    e = c.code_expr if c.code_expr is not None else c.expr
    lv = c.code_levels if c.code_levels is not None else c.levels
    if c.kind == "column" and c.name in schema and schema[c.name] != lv.dtype:
        # this side stores the column with another type: match by the value's text
        e, lv = e.cast(pl.String), lv.cast(pl.String)
    n = len(lv)
    nulls = lv.is_null()
    null_code = int(nulls.arg_max() or 0) if nulls.any() else n
    vals = lv.filter(~nulls)
    fill = n  # a value the live data does not have
    if c.kind == "top":  # from the raw column when it is text: anything not on top is other
        fill = vals.to_list().index(OTHER)
        if c.name in schema and schema[c.name] == pl.String:
            e = pl.col(c.name)
    # Streaming-friendly encodings (replace_strict with a list of values is evaluated on whole
    # columns, which makes the streaming engine hold every row of the pass in memory)
    ints = vals.to_numpy() if vals.dtype.is_integer() and null_code >= len(vals) else None
    known: pl.Expr
    if ints is not None and len(ints) and np.array_equal(ints, ints[0] + np.arange(len(ints))):
        # consecutive integers (days, weeks, small integer columns): code = value − first
        lo, hi = int(ints[0]), int(ints[0]) + len(ints) - 1
        code = (e - lo).cast(pl.UInt32, strict=False)
        known = pl.when((e >= lo) & (e <= hi)).then(code).otherwise(pl.lit(fill, pl.UInt32))
    else:
        text = vals.cast(pl.String)
        if text.n_unique() == len(text) and null_code >= len(vals):
            # the values as text in an Enum: code = position, anything else null
            as_text = e if lv.dtype == pl.String else e.cast(pl.String)
            enum = as_text.cast(pl.Enum(text.to_list()), strict=False).to_physical()
            known = enum.cast(pl.UInt32).fill_null(pl.lit(fill, dtype=pl.UInt32))
        else:
            codes = pl.Series(np.flatnonzero(~nulls.to_numpy()), dtype=pl.UInt32)
            known = e.replace_strict(
                vals, codes, default=pl.lit(fill, dtype=pl.UInt32), return_dtype=pl.UInt32
            )
    return pl.when(e.is_null()).then(pl.lit(null_code, dtype=pl.UInt32)).otherwise(known), n + 1


def _blocks(cards: Sequence[int], states: int) -> list[list[int]]:
    """Candidates packed into blocks whose product of numbers of codes (the block's codes) is
    at most √(BLOCK_CELLS / states), so that a block × block table is ≲ BLOCK_CELLS: first fit,
    largest first (fewer blocks, so fewer block pairs to count)."""
    most = max(2, math.isqrt(BLOCK_CELLS // max(states, 1)))
    out: list[list[int]] = []
    size: list[int] = []
    for i in sorted(range(len(cards)), key=lambda i: (-cards[i], i)):
        b = next((b for b in range(len(out)) if size[b] * cards[i] <= most), None)
        if b is None:
            out.append([i])
            size.append(cards[i])
        else:
            out[b].append(i)
            size[b] *= cards[i]
    return [sorted(b) for b in out]


def _sums(
    key: np.ndarray, size: int, weights: Sequence[np.ndarray], *, rows: bool = True
) -> np.ndarray:
    """(size, M): the rows (when ``rows``) and the sum of each weight per key value."""
    cols = [np.bincount(key, minlength=size)] if rows else []
    cols += [np.bincount(key, weights=w, minlength=size) for w in weights]
    if len(cols) == 1:
        return cols[0][:, None]  # a view; counts stay integers
    return np.stack(cols, axis=-1).astype(float)


def _marginal(cube: np.ndarray, keep: Sequence[int], ndim: int) -> np.ndarray:
    """Sum ``cube`` over its first ``ndim`` axes except ``keep``."""
    drop = tuple(d for d in range(ndim) if d not in keep)
    return cube.sum(axis=drop) if drop else cube


def _pair(x: int, y: int) -> tuple[int, int]:
    return (x, y) if x < y else (y, x)


def _put(two: dict[tuple[int, int], np.ndarray], x: int, y: int, t: np.ndarray) -> None:
    """Store the (k_x, k_y, S, M) table of x and y under (min, max), transposed if need be."""
    two[_pair(x, y)] = t if x < y else t.transpose(1, 0, 2, 3)


@dataclass
class _Coded:
    """One side's rows as small integers (see :func:`count_slices`)."""

    blocks: list[list[int]]  # candidate indices per block
    cards: list[int]  # number of codes per candidate
    bcodes: list[np.ndarray]  # each block's mixed-radix code per row
    state: np.ndarray  # each row's state (0 … S−1)
    n_states: int
    weights: dict[str, np.ndarray]  # float measures per row

    def code_of(self, x: int) -> np.ndarray:
        """Candidate ``x``'s code per row, from its block's code."""
        b = next(b for b, block in enumerate(self.blocks) if x in block)
        block = self.blocks[b]
        radix = math.prod(self.cards[y] for y in block[block.index(x) + 1 :])
        return (self.bcodes[b].astype(np.int64) // radix) % self.cards[x]

    def tables(
        self,
        singles: set[int],
        pairs: set[tuple[int, int]],
        weights: Sequence[str],
        *,
        states: bool = True,
    ) -> tuple[dict[int, np.ndarray], dict[tuple[int, int], np.ndarray]]:
        """Rows (when ``states``: by state) and sums of ``weights`` by code of each candidate
        in ``singles`` — arrays (k, S, M) — and by (code a, code b) of each pair (a < b) in
        ``pairs`` — (k_a, k_b, S, M); M = 1 + len(weights) (rows first), or len(weights)
        with S = 1 when not ``states``.

        One ``np.bincount`` per block (its candidates and the pairs inside it) and one per
        pair of blocks (every pair across them), marginalised with ``ndarray.sum``. The
        tables of one block run on :data:`WORKERS` threads (numpy releases the GIL while it
        counts); each table is written by one thread, so the sums do not depend on them."""
        S = self.n_states if states else 1
        w = [self.weights[m] for m in weights]
        M = len(w) + (1 if states else 0)
        cards, blocks = self.cards, self.blocks
        shape = [[cards[x] for x in b] for b in blocks]
        size = [math.prod(s) for s in shape]
        one: dict[int, np.ndarray] = {}
        two: dict[tuple[int, int], np.ndarray] = {}

        def inside(i: int, ui: np.ndarray, here: list[int], within: list[tuple[int, int]]) -> None:
            bi = blocks[i]
            cube = _sums(ui, size[i] * S, w, rows=states).reshape([*shape[i], S, M])
            for p in here:
                one[bi[p]] = _marginal(cube, [p], len(bi))
            for p, q in within:
                two[(bi[p], bi[q])] = _marginal(cube, [p, q], len(bi))

        def across(i: int, ui: np.ndarray, j: int, want: list[tuple[int, int]]) -> None:
            bi, bj = blocks[i], blocks[j]
            if size[i] * S * size[j] > PAIR_CELLS:  # one pair at a time
                for x, y in want:
                    k = self.code_of(x) * cards[y] + self.code_of(y)
                    if states:
                        k = k * S + self.state
                    t = _sums(k, cards[x] * cards[y] * S, w, rows=states)
                    _put(two, x, y, t.reshape(cards[x], cards[y], S, M))
                return
            key = ui * size[j]
            key += self.bcodes[j]
            cube = _sums(key, size[i] * S * size[j], w, rows=states)
            del key
            cube = cube.reshape([*shape[i], S, *shape[j], M])
            for p, x in enumerate(bi):
                if not any(a == x for a, _ in want):
                    continue
                part = _marginal(cube, [p], len(bi))  # (k_x, S, block j…, M)
                part = np.moveaxis(part, 1, -2)  # (k_x, block j…, S, M)
                for q, y in enumerate(bj):
                    if _pair(x, y) in pairs:
                        _put(two, x, y, _marginal(part, [0, 1 + q], 1 + len(bj)))

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for i, bi in enumerate(blocks):
                later = [
                    (j, want)
                    for j in range(i + 1, len(blocks))
                    if (want := [(x, y) for x in bi for y in blocks[j] if _pair(x, y) in pairs])
                ]
                within = [
                    (p, q)
                    for p in range(len(bi))
                    for q in range(p + 1, len(bi))
                    if (bi[p], bi[q]) in pairs
                ]
                here = [p for p, x in enumerate(bi) if x in singles]
                if not (here or within or later):
                    continue
                ui = self.bcodes[i].astype(np.int64)
                if states:
                    ui *= S
                    ui += self.state
                jobs = [pool.submit(inside, i, ui, here, within)] if here or within else []
                jobs += [pool.submit(across, i, ui, j, want) for j, want in later]
                for job in jobs:
                    job.result()  # the block's tables, before the next block's codes
        return one, two


@dataclass
class SliceCounts:
    """What :func:`count_slices` returns: the long slice table, each candidate's key strings
    → native values, the totals, and the *late* measures summed on request."""

    table: pl.DataFrame
    natives: dict[str, dict[str, Any]]
    totals: dict[str, float]
    late: tuple[str, ...] = ()
    _lf: pl.LazyFrame | None = None
    _cands: Sequence[Candidate] = ()
    _mexpr: dict[str, pl.Expr] = field(default_factory=dict)
    _index: dict[str, int] = field(default_factory=dict)
    _codes: list[dict[str, int]] = field(default_factory=list)

    def late_sums(self, keys: Sequence[tuple[Any, ...] | None]) -> dict[str, np.ndarray]:
        """The late measures of each slice ``(a_col, a_val, b_col, b_val)`` — the totals for
        ``()`` (the whole side), 0 for None or a slice that has no rows — from one more
        streaming pass: a masked sum per slice when they are few (:data:`LATE_MASKS`), else
        the block tables of the slices' candidates."""
        out = {m: np.zeros(len(keys)) for m in self.late}
        if not self.late or self._lf is None:
            return out
        want: list[tuple[int, int, int, int, int]] = []  # (row, a, code a, b or -1, code b)
        for r, k in enumerate(keys):
            if k is None:
                continue
            if len(k) == 0:
                for m in self.late:
                    out[m][r] = self.totals.get(m, 0.0)
                continue
            a, av, b, bv = k
            ia = self._index.get(a)
            ca = self._codes[ia].get(av) if ia is not None else None
            if ia is None or ca is None:
                continue
            if b == NO_KEY:
                want.append((r, ia, ca, -1, -1))
                continue
            ib = self._index.get(b)
            cb = self._codes[ib].get(bv) if ib is not None else None
            if ib is None or cb is None:
                continue
            if ia > ib:
                ia, ib, ca, cb = ib, ia, cb, ca
            want.append((r, ia, ca, ib, cb))
        if not want:
            return out
        sums = self._masked(want) if len(want) <= LATE_MASKS else self._tabled(want)
        for m in self.late:
            for (r, *_), v in zip(want, sums[m], strict=True):
                out[m][r] = v
        return out

    def _masked(self, want: list[tuple[int, int, int, int, int]]) -> dict[str, list[float]]:
        """One chunked read (:func:`mlfail.counts.sliced`): each needed candidate's code and
        each late measure once per row, then per chunk in memory the sum of each slice's
        rows, the chunks added in row order. The same bits in every run: a streaming sum
        adds its morsels in the order its threads finish (a slice's mean score differed in
        its last bits from run to run)."""
        assert self._lf is not None
        schema = self._lf.collect_schema()
        used = sorted({x for _, ia, _, ib, _ in want for x in (ia, ib) if x >= 0})
        cols = [key_code(self._cands[x], schema)[0].alias(f"__k{x}") for x in used]
        cols += [self._mexpr[m].cast(pl.Float64).fill_null(0.0).alias(f"__w{m}") for m in self.late]
        sums = []
        for j, (_, ia, ca, ib, cb) in enumerate(want):
            mask = pl.col(f"__k{ia}") == ca
            if ib >= 0:
                mask = mask & (pl.col(f"__k{ib}") == cb)
            for m in self.late:
                sums.append(pl.col(f"__w{m}").filter(mask).sum().alias(f"{m}_{j}"))
        total = np.zeros(len(sums))
        for frame in sliced(self._lf.select(cols), BATCH_ROWS):
            # one contiguous chunk: a sum over several adds them in the order they lie
            total += np.asarray(frame.rechunk().select(sums).row(0), dtype=np.float64)
        k = len(self.late)
        return {
            m: [float(total[j * k + i]) for j in range(len(want))] for i, m in enumerate(self.late)
        }

    def _tabled(self, want: list[tuple[int, int, int, int, int]]) -> dict[str, list[float]]:
        assert self._lf is not None
        singles = {ia for _, ia, _, ib, _ in want if ib < 0}
        pairs = {(ia, ib) for _, ia, _, ib, _ in want if ib >= 0}
        one, two = _tables_of(
            _coded_chunks(
                self._lf, self._cands, pl.lit(0, dtype=pl.UInt32), np.zeros(1, np.int64),
                self._mexpr, self.late,
            ),
            singles, pairs, self.late, states=False,
        )  # fmt: skip
        out: dict[str, list[float]] = {m: [] for m in self.late}
        for _, ia, ca, ib, cb in want:
            v = one[ia][ca] if ib < 0 else two[(ia, ib)][ca, cb]  # (S = 1, M)
            for j, m in enumerate(self.late):
                out[m].append(float(v[0, j]))
        return out


LATE_MASKS = 64  # late sums of up to this many slices: one masked sum each


def _add_into(acc: dict[Any, np.ndarray], part: dict[Any, np.ndarray]) -> None:
    for k, v in part.items():
        if k in acc:
            acc[k] = acc[k] + v
        else:
            acc[k] = np.array(v, copy=True)


def _tables_of(
    chunks: Iterator[_Coded],
    singles: set[int],
    pairs: set[tuple[int, int]],
    weights: Sequence[str],
    *,
    states: bool = True,
    seen: dict[str, Any] | None = None,
) -> tuple[dict[int, np.ndarray], dict[tuple[int, int], np.ndarray]]:
    """:meth:`_Coded.tables` summed over the chunks of rows (counts are integers; float sums
    are added chunk by chunk). ``seen`` collects the rows per state and each weight's sum."""
    one: dict[int, np.ndarray] = {}
    two: dict[tuple[int, int], np.ndarray] = {}
    for chunk in chunks:
        a, b = chunk.tables(singles, pairs, weights, states=states)
        _add_into(one, a)
        _add_into(two, b)
        if seen is not None:
            by_state = np.bincount(chunk.state, minlength=chunk.n_states)
            seen["states"] = seen.get("states", 0) + by_state
            for m, w in chunk.weights.items():
                seen[m] = seen.get(m, 0.0) + float(w.sum())
    return one, two


def _states(
    lf: pl.LazyFrame,
    mexpr: dict[str, pl.Expr],
    counted: Sequence[str],
    extra: tuple[pl.Expr, int] | None,
) -> tuple[pl.Expr, np.ndarray]:
    """Each row's state (its 0/1 ``counted`` measures as bits, then the extra key) and the
    states that occur (a cheap pass over the label and prediction): tables stay small."""
    bits = len(counted)
    state = pl.lit(0, dtype=pl.UInt32)
    for bit, m in enumerate(counted):
        state = state + (mexpr[m].fill_null(0) != 0).cast(pl.UInt32) * (1 << bit)
    if extra is not None:
        state = state + extra[0].cast(pl.UInt32) * (1 << bits)
    seen = lf.select(state.unique().alias("s")).collect(engine="streaming")["s"]
    states = np.sort(seen.drop_nulls().to_numpy().astype(np.int64))
    if len(states) == 0:
        states = np.zeros(1, dtype=np.int64)
    return state, states


def _coded_chunks(
    lf: pl.LazyFrame,
    cands: Sequence[Candidate],
    state: pl.Expr,
    states: np.ndarray,
    mexpr: dict[str, pl.Expr],
    summed: Sequence[str],
) -> Iterator[_Coded]:
    """The streaming pass: each row's block codes, state index and float measures, in chunks
    of about :data:`BATCH_ROWS` rows (at least one chunk, empty when there are no rows)."""
    schema = lf.collect_schema()
    S = len(states)
    coded = [key_code(c, schema) for c in cands]
    cards = [k for _, k in coded]
    blocks = _blocks(cards, S)
    bexprs = []
    for i, block in enumerate(blocks):
        e = coded[block[0]][0]
        for x in block[1:]:
            e = e * cards[x] + coded[x][0]
        small = math.prod(cards[x] for x in block) <= 1 << 16
        bexprs.append(e.cast(pl.UInt16 if small else pl.UInt32).alias(f"__b{i}"))
    query = lf.select(
        [
            *bexprs,
            state.alias("__state"),
            *[mexpr[m].cast(pl.Float64).fill_null(0.0).alias(m) for m in summed],
        ]
    )
    lut = np.zeros(int(states[-1]) + 1, dtype=np.int64)
    lut[states] = np.arange(S)

    def chunk(frame: pl.DataFrame) -> _Coded:
        return _Coded(
            blocks=blocks,
            cards=cards,
            bcodes=[frame[f"__b{i}"].to_numpy() for i in range(len(blocks))],
            state=lut[frame["__state"].to_numpy()],
            n_states=S,
            weights={m: frame[m].to_numpy() for m in summed},
        )

    for frame in sliced(query, BATCH_ROWS):
        yield chunk(frame)


@dataclass
class _LongTable:
    """The long slice table's columns, gathered slice table by slice table (:meth:`emit`):
    every key string once in ``vocab`` (a_col/a_val/b_col/b_val are gathered from it by
    index), the states decoded — G (S × E) sums them by extra value, ind (S × bits) their
    0/1 measures."""

    states: np.ndarray
    bits: int
    counted: Sequence[str]
    now: Sequence[str]
    vocab: list[str] = field(default_factory=list)
    offset: list[int] = field(default_factory=list)
    n_levels: list[int] = field(default_factory=list)
    cols: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        states, bits = self.states, self.bits
        self.ext = states >> bits
        self.ext_vals = np.unique(self.ext)
        self.G = (self.ext[:, None] == self.ext_vals[None, :]).astype(float)
        self.ind = ((states[:, None] >> np.arange(bits)[None, :]) & 1).astype(float)
        self.cols = {
            k: []
            for k in ("a_col", "a_val", "b_col", "b_val", "_e", ROWS, *self.counted, *self.now)
        }

    def add_keys(self, names: Sequence[str], cands: Sequence[Candidate]) -> None:
        self.vocab = [NO_KEY, *names]
        for c in cands:
            lv = c.levels if c.levels is not None else pl.Series([], dtype=pl.String)
            self.offset.append(len(self.vocab))
            self.n_levels.append(len(lv))
            self.vocab += lv.cast(pl.String).fill_null(NULL_KEY).to_list()

    def emit(self, a: int, b: int | None, t: np.ndarray) -> None:
        S, G, ind, cols = len(self.states), self.G, self.ind, self.cols
        offset, n_levels = self.offset, self.n_levels
        grid = t.shape[:-2]
        cells = t.reshape(-1, S, t.shape[-1])
        per = {ROWS: np.einsum("cs,se->ce", cells[:, :, 0], G)}
        for j, m in enumerate(self.counted):
            per[m] = np.einsum("cs,se->ce", cells[:, :, 0], G * ind[:, j : j + 1])
        for j, m in enumerate(self.now):
            per[m] = np.einsum("cs,se->ce", cells[:, :, 1 + j], G)
        cell, e = np.nonzero(per[ROWS] > 0)
        code = np.unravel_index(cell, grid)
        ok = code[0] < n_levels[a]
        if b is not None:
            ok &= code[1] < n_levels[b]
        cell, e = cell[ok], e[ok]
        cols["a_col"].append(np.full(len(cell), 1 + a))
        cols["a_val"].append(offset[a] + code[0][ok])
        cols["b_col"].append(np.full(len(cell), 0 if b is None else 1 + b))
        cols["b_val"].append(
            np.zeros(len(cell), np.int64) if b is None else offset[b] + code[1][ok]
        )
        cols["_e"].append(self.ext_vals[e])
        for m, v in per.items():
            cols[m].append(v[cell, e])

    def frame(self, extra_name: str, extra: bool, keep: Sequence[str]) -> pl.DataFrame:
        cols = self.cols
        words = pl.Series(self.vocab, dtype=pl.String)
        data: dict[str, pl.Series] = {
            k: words.gather(np.concatenate(cols[k])).alias(k) for k in KEY_COLS
        }
        if extra:
            data[extra_name] = pl.Series(extra_name, np.concatenate(cols["_e"]), dtype=pl.UInt32)
        for m in (ROWS, *self.counted):
            data[m] = pl.Series(
                m, np.rint(np.concatenate(cols[m])).astype(np.int64), dtype=pl.Int64
            )
        for m in self.now:
            data[m] = pl.Series(m, np.concatenate(cols[m]), dtype=pl.Float64)
        return pl.DataFrame(data).select(*KEY_COLS, *([extra_name] if extra else []), *keep)


def count_slices(
    lf: pl.LazyFrame,
    cands: Sequence[Candidate],
    measures: Sequence[pl.Expr],
    *,
    max_predicates: int,
    extra: tuple[pl.Expr, int] | None = None,
    late: Sequence[str] = (),
) -> SliceCounts:
    """Every 1- and 2-predicate slice of ``lf`` summed: a long table with ``a_col, a_val,
    b_col, b_val`` (b_col = b_val = "" for one predicate), the ``extra`` key (its name;
    values 0 … n−1) when given, and the sums of ``measures`` except ``late`` ones (those only
    on request, :meth:`SliceCounts.late_sums`): one row per slice (and extra value) that has
    rows; single keys first, then the pairs of :func:`pair_list`. Slices of a key value the
    live data does not have (a reference's own values) are left out.

    One streaming pass reads each row as small integers: each candidate's code
    (:func:`key_code`), consecutive candidates packed into a mixed-radix *block* code, and a
    *state* that folds the 0/1 measures (labelled, error, has a score) and the extra key;
    float measures are kept as they are. Every sum then comes from one ``np.bincount`` per
    block and per pair of blocks over that narrow in-memory frame (:meth:`_Coded.tables`) —
    not one pass per pair of candidates, and not a ``group_by`` over all keys at once, which
    has about one group per row once there are many keys."""
    names = [c.name for c in cands]
    mnames = [m.meta.output_name() for m in measures]
    mexpr = dict(zip(mnames, measures, strict=True))
    counted = [m for m in mnames if m in COUNTED]
    summed = [m for m in mnames if m not in COUNTED and m != ROWS]
    now = [m for m in summed if m not in late]
    extra_name = extra[0].meta.output_name() if extra is not None else ""

    state, states = _states(lf, mexpr, counted, extra)
    S = len(states)
    named = pair_list(cands, names) if max_predicates >= 2 else []
    index = {n: i for i, n in enumerate(names)}
    pairs = [(index[a], index[b]) for a, b in named]
    seen: dict[str, Any] = {}
    singles, pair_sums = _tables_of(
        _coded_chunks(lf, cands, state, states, mexpr, summed),
        set(range(len(cands))),
        set(pairs),
        now,
        seen=seen,
    )

    long = _LongTable(states, len(counted), counted, now)
    long.add_keys(names, cands)
    for a in range(len(cands)):
        long.emit(a, None, singles[a])
    for a, b in pairs:
        long.emit(a, b, pair_sums[(a, b)])
    keep = [m for m in mnames if m not in late]
    table = long.frame(extra_name, extra is not None, keep)

    vocab, offset, n_levels, ind = long.vocab, long.offset, long.n_levels, long.ind
    n_by_state = np.asarray(seen.get("states", np.zeros(S)), dtype=float)
    totals = {ROWS: float(n_by_state.sum())}
    totals.update({m: float(n_by_state @ ind[:, j]) for j, m in enumerate(counted)})
    totals.update({m: float(seen.get(m, 0.0)) for m in summed})
    natives = {
        c.name: dict(
            zip(vocab[offset[i] : offset[i] + n_levels[i]], c.levels.to_list(), strict=True)
        )
        for i, c in enumerate(cands)
        if c.levels is not None
    }
    codes = [
        {s: j for j, s in enumerate(vocab[offset[i] : offset[i] + n_levels[i]])}
        for i in range(len(cands))
    ]
    return SliceCounts(
        table=table,
        natives=natives,
        totals=totals,
        late=tuple(m for m in late if m in summed),
        _lf=lf if late else None,
        _cands=cands,
        _mexpr=mexpr,
        _index=index,
        _codes=codes,
    )


def _col(df: pl.DataFrame, name: str) -> np.ndarray:
    if name not in df.columns:
        return np.zeros(df.height)
    return df[name].fill_null(0).to_numpy().astype(float)


def _decode(natives: dict[str, dict[str, Any]], col: str, val: str) -> Any:
    if val == NULL_KEY:
        return None
    return natives.get(col, {}).get(val, val)


def _slice_dict(
    natives: dict[str, dict[str, Any]], a: str, av: str, b: str, bv: str
) -> dict[str, Any]:
    d = {a: _decode(natives, a, av)}
    if b != NO_KEY:
        d[b] = _decode(natives, b, bv)
    return d

"""The slice counting engine (``count_slices``) against one Polars ``group_by`` per slice."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest

from mlfail import slices as sl
from mlfail.config import Roles
from mlfail.io import open_source
from mlfail.performance import infer_task
from mlfail.reference import SourceReference
from mlfail.slices import (
    KEY_COLS,
    NO_KEY,
    NULL_KEY,
    PBIN,
    ROWS,
    SSUM,
    SliceSettings,
    bin_index,
    choose_candidates,
    count_slices,
    pair_list,
)

ROLES = Roles(timestamp="ts", label="y", prediction="score")


def frame(
    rng: np.random.Generator, n: int, geos: list[str], levels: tuple[int, int] = (1, 5)
) -> pl.DataFrame:
    """Keys of every kind, with nulls: strings, a boolean, small integers (consecutive or
    not), a categorical, a high-cardinality string (top values + other), a numeric with nulls
    and NaN (cohorts), a timestamp."""
    x = rng.normal(0, 1, n)
    x[rng.random(n) < 0.05] = np.nan
    score = np.round(rng.random(n), 3)
    return pl.DataFrame(
        {
            "geo": rng.choice(geos, n).tolist(),
            "flag": rng.random(n) < 0.3,
            "hour": rng.integers(0, 6, n),
            "level": rng.integers(*levels, n),  # consecutive values: codes by subtraction
            "tier": pl.Series(rng.choice(["gold", "silver", "bronze"], n)).cast(pl.Categorical),
            "step": rng.choice([0, 10, 25], n),  # not consecutive: through the text
            "merchant": [f"m{i}" for i in rng.integers(0, 70, n)],
            "x": x,
            "ts": [
                dt.datetime(2026, 9, 1) + dt.timedelta(hours=int(h))
                for h in rng.integers(0, 24 * 20, n)
            ],
            "y": rng.integers(0, 2, n),
            "score": score,
        }
    ).with_columns(
        pl.when(pl.Series(rng.random(n) < 0.05)).then(None).otherwise(pl.col("geo")).alias("geo"),
        pl.when(pl.Series(rng.random(n) < 0.1)).then(None).otherwise(pl.col("y")).alias("y"),
        pl.when(pl.Series(rng.random(n) < 0.02)).then(None).otherwise(pl.col("ts")).alias("ts"),
    )


def by_group_by(
    lf: pl.LazyFrame,
    cands: list[sl.Candidate],
    measures: list[pl.Expr],
    extra: pl.Expr | None,
    keep: dict[str, set[str]],
) -> pl.DataFrame:
    """The slice table the direct way: one group_by per single key and per pair on the
    evaluated key expressions, keys as their text; only key values in ``keep``."""
    names = [c.name for c in cands]
    mn = [m.meta.output_name() for m in measures]
    ex = [extra.meta.output_name()] if extra is not None else []
    prepared = lf.select(
        [c.expr for c in cands] + ([extra] if extra is not None else []) + measures
    )

    def key(n: str) -> pl.Expr:
        return pl.col(n).cast(pl.String).fill_null(NULL_KEY)

    parts = []
    for a in names:
        parts.append(
            prepared.group_by([key(a).alias("a_val"), *ex])
            .agg([pl.col(m).sum() for m in mn])
            .with_columns(a_col=pl.lit(a), b_col=pl.lit(NO_KEY), b_val=pl.lit(NO_KEY))
            .filter(pl.col("a_val").is_in(list(keep[a])))
        )
    for a, b in pair_list(cands, names):
        parts.append(
            prepared.group_by([key(a).alias("a_val"), key(b).alias("b_val"), *ex])
            .agg([pl.col(m).sum() for m in mn])
            .with_columns(a_col=pl.lit(a), b_col=pl.lit(b))
            .filter(pl.col("a_val").is_in(list(keep[a])) & pl.col("b_val").is_in(list(keep[b])))
        )
    return pl.concat([p.select(*KEY_COLS, *ex, *mn) for p in parts]).collect()


def assert_same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    by = [c for c in got.columns if c in (*KEY_COLS, PBIN)]
    assert got.columns == want.columns
    assert got.height == want.height and got.height > 0
    g, w = got.sort(by), want.sort(by)
    assert g.select(by).rows() == w.select(by).rows()
    for c in got.columns:
        if c in by:
            continue
        a, b = g[c].cast(pl.Float64).to_numpy(), w[c].cast(pl.Float64).to_numpy()
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9, err_msg=c)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("counts")
    rng = np.random.default_rng(5)
    live = frame(rng, 4000, ["US", "BR", "MX", "DE"])
    # the reference has a geo the live data lacks and stores `hour` as text
    ref = frame(rng, 3000, ["US", "BR", "MX", "FR"], levels=(-1, 8)).with_columns(
        pl.col("hour").cast(pl.String)
    )
    live.write_parquet(tmp / "live.parquet")
    ref.write_parquet(tmp / "ref.parquet")
    lsrc = open_source(str(tmp / "live.parquet"), role="--live")
    rsrc = open_source(str(tmp / "ref.parquet"), role="--reference")
    ref_obj = SourceReference(rsrc, [])
    cands, _, _ = choose_candidates(lsrc, ref_obj, ROLES, (), SliceSettings())
    return {"live": lsrc.lf, "ref": rsrc.lf, "cands": cands, "schema": lsrc.schema}


@pytest.mark.parametrize(
    "cells",
    [
        (sl.BLOCK_CELLS, sl.PAIR_CELLS, sl.BATCH_ROWS, sl.LATE_MASKS),  # several keys per block
        (4, sl.PAIR_CELLS, sl.BATCH_ROWS, sl.LATE_MASKS),  # one key per block
        (sl.BLOCK_CELLS, 1, sl.BATCH_ROWS, sl.LATE_MASKS),  # every pair of blocks pair by pair
        # rows counted 333 at a time and summed; the late sums as one masked sum per slice
        (sl.BLOCK_CELLS, sl.PAIR_CELLS, 333, 10**6),
    ],
)
@pytest.mark.parametrize("side", ["live", "ref"])
def test_count_slices_equals_a_group_by_per_slice(
    data: dict[str, Any],
    side: str,
    cells: tuple[int, int, int, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in zip(
        ("BLOCK_CELLS", "PAIR_CELLS", "BATCH_ROWS", "LATE_MASKS"), cells, strict=True
    ):
        monkeypatch.setattr(sl, name, value)
    chunks: list[int] = []
    tables = sl.codes._Coded.tables

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        chunks.append(len(self.state))
        return tables(self, *args, **kwargs)

    monkeypatch.setattr(sl.codes._Coded, "tables", counted)
    cands = data["cands"]
    kinds = {c.name: c.kind for c in cands}
    assert kinds == {
        "geo": "column",
        "flag": "column",
        "hour": "column",
        "level": "column",
        "tier": "column",
        "step": "column",
        "merchant": "top",
        "x": "cohort",
        "day(ts)": "day",
        "week(ts)": "week",
    }
    if side == "ref":  # the time cohorts are live-only
        cands = [c for c in cands if c.in_reference]
    task = infer_task(data["schema"], "y", "score")
    measures = sl._measures(task, "score", True)
    lf = data[side]
    counts = count_slices(lf, cands, measures, max_predicates=2)
    got, natives, tot = counts.table, counts.natives, counts.totals
    # every row counted once, in chunks of at most BATCH_ROWS rows
    assert sum(chunks) == lf.select(pl.len()).collect().item()
    assert max(chunks) <= cells[2] and len(chunks) >= (2 if cells[2] < 1000 else 1)
    keep = {
        c.name: set(c.levels.cast(pl.String).fill_null(NULL_KEY).to_list())  # type: ignore[union-attr]
        for c in cands
    }
    want = by_group_by(lf, cands, measures, None, keep)
    assert_same(got, want)
    # the score sums on request only: the same numbers
    late = count_slices(lf, cands, measures, max_predicates=2, late=(SSUM,))
    assert late.table.columns == [c for c in got.columns if c != SSUM]
    assert_same(late.table, want.drop(SSUM))
    keys: list[tuple[Any, ...] | None] = [*want.select(KEY_COLS).rows(), (), None]
    keys.append(("geo", "nowhere", NO_KEY, NO_KEY))
    sums = late.late_sums(keys)[SSUM]
    np.testing.assert_allclose(sums[:-3], want[SSUM].to_numpy(), rtol=1e-12)
    assert list(sums[-3:]) == [pytest.approx(tot[SSUM], rel=1e-12), 0.0, 0.0]
    # a value only the reference has is left out; a column stored as text still matches
    assert "FR" not in got["a_val"].to_list()
    assert set(got.filter(pl.col("a_col") == "level")["a_val"]) == {"1", "2", "3", "4"}
    assert got.filter((pl.col("a_col") == "hour") & (pl.col("b_col") == NO_KEY)).height == 6
    sums = lf.select([m for m in measures]).sum().collect().row(0, named=True)
    assert tot == pytest.approx({k: float(v) for k, v in sums.items()}, rel=1e-12)
    assert natives["hour"]["3"] == 3 and natives["geo"][NULL_KEY] is None


def test_count_slices_with_an_extra_key_and_one_predicate(data: dict[str, Any]) -> None:
    from mlfail.binning import BinSpec

    spec = BinSpec("score", "numeric", edges=(0.2, 0.4, 0.6, 0.8))
    measures = sl._measures(None, "score", True)
    extra = bin_index(spec).alias(PBIN)
    cands = data["cands"]
    for preds in (1, 2):
        counts = count_slices(
            data["live"], cands, measures, max_predicates=preds, extra=(extra, spec.n_bins)
        )
        got, tot = counts.table, counts.totals
        keep = {
            c.name: set(c.levels.cast(pl.String).fill_null(NULL_KEY).to_list())  # type: ignore[union-attr]
            for c in cands
        }
        want = by_group_by(data["live"], cands, measures, extra, keep)
        if preds == 1:
            want = want.filter(pl.col("b_col") == NO_KEY)
        assert_same(got, want)
        assert tot[ROWS] == 4000


def test_psi_rows_equals_the_scalar_psi_functions_to_the_bit() -> None:
    """Row by row what assess_feature computes: PSI on every bin, the test on the
    significance bins (sparse bins pooled) — so small slices in no-label mode are held to the
    same false-alarm rate as `mlfail psi`."""
    from mlfail.psi import critical_psi, psi_p_value, psi_value, significance_bins
    from mlfail.slices import psi_row_pairs

    rng = np.random.default_rng(11)
    ref = rng.integers(0, 50, (400, 11)) * (rng.random((400, 11)) < 0.7)
    live = rng.integers(0, 50, (400, 11)) * (rng.random((400, 11)) < 0.7)
    ref[:5] = 0
    ref[:5, 3] = 7  # one populated bin: no degree of freedom (p = 1)
    live[:5] = 0
    live[:5, 3] = 9
    live[5:, 0] += 1  # every live row has counts
    ref[10] = 0  # a reference row without counts
    psi, p, crit = psi_row_pairs(ref, live, 0.05)
    merged = 0
    for i in range(len(ref)):
        populated = int(((ref[i] > 0) | (live[i] > 0)).sum())
        n_ref, n_live = int(ref[i].sum()), int(live[i].sum())
        assert psi[i] == psi_value(ref[i], live[i]), i
        if n_ref == 0:
            continue
        tr, tl = significance_bins(ref[i], live[i])
        tested = psi[i] if len(tr) == populated else psi_value(tr, tl)
        want = psi_p_value(tested, n_ref, n_live, len(tr))
        if len(tr) == populated:
            assert p[i] == want, i
        else:  # pooled bins summed in another order: equal to rounding
            assert p[i] == pytest.approx(want, rel=1e-11, abs=0), i
        assert crit[i] == critical_psi(0.05, n_ref, n_live, len(tr)), i
        merged += len(tr) < populated
    assert (p[:5] == 1.0).all()
    assert merged > 100  # the pooling path is exercised, not only the plain test


def match_by_loop(keys, ref_keys, ref_weight, ref_names):  # type: ignore[no-untyped-def]
    """The reference slice of each live slice, one dict lookup at a time (the definition)."""
    index = {k: i for i, k in enumerate(ref_keys) if ref_weight[i] > 0}
    out = []
    for k in keys:
        a, av, b, bv = k
        j = index.get(k) if a in ref_names and (b == NO_KEY or b in ref_names) else None
        if j is None and b != NO_KEY:
            opts = [
                index[s]
                for s in ((a, av, NO_KEY, NO_KEY), (b, bv, NO_KEY, NO_KEY))
                if s[0] in ref_names and s in index
            ]
            j = min(opts, key=lambda i: ref_weight[i]) if opts else None
        out.append(j)
    return out


def test_match_reference_equals_the_lookup_loop() -> None:
    from mlfail.slices import match_reference

    rng = np.random.default_rng(3)
    cols, vals = ["a", "b", "c", "t"], ["x", "y", "z"]

    def key() -> tuple[str, ...]:
        a, b = sorted(rng.choice(cols, 2, replace=False))
        if rng.random() < 0.3:
            return (str(a), str(rng.choice(vals)), NO_KEY, NO_KEY)
        return (str(a), str(rng.choice(vals)), str(b), str(rng.choice(vals)))

    live = list(dict.fromkeys(key() for _ in range(400)))
    ref = list(dict.fromkeys(key() for _ in range(300)))
    ref += [(c, v, NO_KEY, NO_KEY) for c in cols for v in vals if rng.random() < 0.7]
    weight = rng.integers(0, 4, len(ref)).astype(float)  # some 0: no rows
    weight[-3:] = 2.0  # ties between the two one-predicate fallbacks
    for names in ({"a", "b", "c"}, {"a"}, set()):
        want = match_by_loop(live, ref, weight, names)
        assert match_reference(live, ref, weight, names) == want
        assert any(j is not None for j in want) or not names


def test_the_probe_reuses_the_value_counts_of_the_roles_query(tmp_path: Any) -> None:
    """A column whose value counts the roles query kept is not counted again: the candidate's
    values are the kept table's (here a doctored one), the other columns are counted."""
    from dataclasses import replace

    from mlfail.roles import resolve_roles

    rng = np.random.default_rng(8)
    frame(rng, 500, ["US", "BR"]).write_parquet(tmp_path / "live.parquet")
    src = open_source(str(tmp_path / "live.parquet"), role="--live")
    ref = SourceReference(src, [])
    roles = resolve_roles(src, src, ROLES)
    assert roles.assignment is not None
    kept = roles.assignment.live_values
    assert set(kept["geo"]["geo"].to_list()) == {"US", "BR", None}  # frame() adds nulls
    doctored = pl.DataFrame(
        {"geo": ["US", "BR", "XX", None], "__count": [300, 150, 1, 49]},
        schema={"geo": pl.String, "__count": pl.UInt32},
    )
    assignment = replace(roles.assignment, live_values={**kept, "geo": doctored})
    cands, _, _ = choose_candidates(
        src, ref, replace(roles, assignment=assignment), (), SliceSettings()
    )
    by_name = {c.name: c for c in cands}
    assert "XX" in by_name["geo"].levels.to_list()  # type: ignore[union-attr]
    plain, _, _ = choose_candidates(src, ref, roles, (), SliceSettings())
    assert [c.name for c in plain] == [c.name for c in cands]
    for c, d in zip(plain, cands, strict=True):
        if c.name != "geo" and c.levels is not None:
            assert c.levels.equals(d.levels)  # type: ignore[arg-type]


@pytest.mark.parametrize("bins", [10, 20, 7])  # k = 2, k = 4, not a multiple: built anew
def test_cohort_quintiles_from_the_references_finer_specs_equal_a_pass_of_quintiles(
    bins: int,
) -> None:
    """Slices' quantile cohorts read off the reference's exact decile (or finer) specs are
    the specs a pass of quintiles gives; a column whose finer edges were deduplicated (ties)
    is built anew, never coarsened from the wrong edges."""
    from mlfail.binning import BinSettings, build_specs
    from mlfail.config import Roles
    from mlfail.io import Source
    from mlfail.reference import reference_from_source
    from mlfail.slices.candidates import _cohort_specs, _from_finer
    from mlfail.slices.model import SliceSettings

    rng = np.random.default_rng(11)
    n = 5000
    df = pl.DataFrame(
        {
            "smooth": rng.lognormal(0, 1, n),
            "counts": rng.integers(0, 10**6, n),
            "ties": rng.integers(0, 7, n).astype(float),  # deciles repeat: edges deduplicated
            "holes": pl.Series(rng.normal(0, 1, n)).scatter(np.arange(0, n, 9), None),
        }
    )
    cols = df.columns
    src = Source(spec="mem", role="--reference", files=[], lf=df.lazy(), schema=df.schema)
    ref, _ = reference_from_source(
        src, Roles(features=tuple(cols), numeric=tuple(cols)), bin_settings=BinSettings(bins=bins)
    )
    want = build_specs(df.lazy(), cols, settings=BinSettings(bins=5), numeric=cols, explicit=True)
    notes: list[str] = []
    got = _cohort_specs(cols, ref, SliceSettings(), notes)
    assert got == want and not notes
    reused = _from_finer(ref, cols, 5)
    if bins % 5:
        assert reused == {}
    else:
        assert set(reused) == {"smooth", "counts", "holes"}  # "ties" lost edges: built anew


def test_late_sums_are_the_same_bits_in_every_run(tmp_path: Any) -> None:
    """A slice's score sum comes from chunks added in row order: every run gives the same
    bits. A streaming sum added its morsels in the order its threads finished, and three runs
    of `mlfail slices` at 1M rows gave three mean scores differing in the last bits."""
    rng = np.random.default_rng(11)
    n = 600_000
    pl.DataFrame(
        {
            "geo": rng.choice(["US", "BR", "MX", "DE"], n).tolist(),
            "hour": rng.integers(0, 6, n),
            "y": rng.integers(0, 2, n),
            "score": rng.random(n),  # full-precision floats: their sum depends on its order
        }
    ).write_parquet(tmp_path / "big.parquet", row_group_size=50_000)
    lf = pl.scan_parquet(tmp_path / "big.parquet")
    src = open_source(str(tmp_path / "big.parquet"), role="--live")
    cands, _, _ = choose_candidates(
        src, SourceReference(src, []), Roles(label="y", prediction="score"), (), SliceSettings()
    )
    measures = sl._measures(infer_task(src.schema, "y", "score"), "score", True)
    late = count_slices(lf, cands, measures, max_predicates=2, late=(SSUM,))
    keys: list[tuple[Any, ...] | None] = [
        ("geo", g, NO_KEY, NO_KEY) for g in ["US", "BR", "MX", "DE"]
    ] + [("geo", "BR", "hour", str(h)) for h in range(6)]
    runs = {late.late_sums(keys)[SSUM].tobytes() for _ in range(6)}
    assert len(runs) == 1
    got = np.frombuffer(runs.pop())
    frame = lf.collect()
    for (_, g, b, h), s in zip(keys, got, strict=True):  # type: ignore[misc]
        m = frame["geo"].to_numpy() == g
        if b != NO_KEY:
            m &= frame["hour"].to_numpy() == int(h)
        assert s == pytest.approx(frame["score"].to_numpy()[m].sum(), rel=1e-12)

"""``mlfail.skew.compare``: every count checked against an independent numpy computation,
every pattern on seeded data (issue 16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mlfail.errors import InputError
from mlfail.factors import snap_factor
from mlfail.skew import SkewSettings, compare
from mlfail.skew.patterns import categorical_pattern, numeric_pattern

S = SkewSettings()


def _write(tmp_path: Path, name: str, df: pl.DataFrame) -> str:
    p = tmp_path / f"{name}.parquet"
    df.write_parquet(p)
    return str(p)


def _pair(tmp_path: Path, srv: pl.DataFrame, off: pl.DataFrame) -> tuple[str, str]:
    return _write(tmp_path, "srv", srv), _write(tmp_path, "off", off)


def _feature(report, name):  # type: ignore[no-untyped-def]
    return next(f for f in report.features if f.feature == name)


# ---- the tolerance rule and nulls ---------------------------------------------------------


def test_tolerance_rule_and_null_counts_match_numpy(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 5000
    b = rng.normal(0, 100, n)
    rtol, atol = 1e-4, 1e-3
    # deltas straddling the tolerance: ±0.5×, ±0.99×, ±1.01×, ±3× of atol + rtol·|b|
    tol = atol + rtol * np.abs(b)
    a = b + rng.choice([-3, -1.01, -0.99, -0.5, 0, 0.5, 0.99, 1.01, 3], n) * tol
    a_null = rng.random(n) < 0.05
    b_null = rng.random(n) < 0.05
    a_nan = (rng.random(n) < 0.02) & ~a_null
    srv = pl.DataFrame({"id": np.arange(n), "x": a}).with_columns(
        pl.when(pl.Series(a_null)).then(None).otherwise(pl.col("x")).alias("x")
    )
    srv = srv.with_columns(
        pl.when(pl.Series(a_nan)).then(float("nan")).otherwise(pl.col("x")).alias("x")
    )
    off = pl.DataFrame({"id": np.arange(n), "x": b}).with_columns(
        pl.when(pl.Series(b_null)).then(None).otherwise(pl.col("x")).alias("x")
    )
    r = compare(*_pair(tmp_path, srv, off), ["id"], settings=SkewSettings(rtol=rtol, atol=atol))
    an, bn = a_null | a_nan, b_null
    equal_val = np.abs(a - b) <= atol + rtol * np.abs(b)
    mism = (an != bn) | (~an & ~bn & ~equal_val)
    f = _feature(r, "x")
    assert f.compared == n
    assert f.mismatches == int(mism.sum())
    assert f.serving_null_only == int((an & ~bn).sum())
    assert f.offline_null_only == int((~an & bn).sum())
    assert f.mismatch_rate == pytest.approx(mism.mean())
    # both-null rows are equal: they are not among the mismatches
    assert (an & bn).sum() > 0 and f.mismatches < n - int((an & bn).sum())


def test_float_noise_below_tolerance_is_zero_mismatches(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    n = 3000
    b = rng.normal(50, 10, n)
    srv = pl.DataFrame({"id": np.arange(n), "x": b * (1 + rng.normal(0, 1e-8, n))})
    off = pl.DataFrame({"id": np.arange(n), "x": b})
    r = compare(*_pair(tmp_path, srv, off), ["id"])
    f = _feature(r, "x")
    assert (f.mismatches, f.status, f.pattern) == (0, "ok", None)


def test_categorical_equality_and_one_sided_nulls(tmp_path: Path) -> None:
    a = ["x", "y", None, None, "z", "Z"]
    b = ["x", "Y", None, "q", None, "Z"]
    srv = pl.DataFrame({"id": range(6), "c": a})
    off = pl.DataFrame({"id": range(6), "c": b})
    f = _feature(compare(*_pair(tmp_path, srv, off), ["id"]), "c")
    # x=x equal, y/Y differ, null/null equal, null/q and z/null one-sided, Z=Z equal
    assert (f.mismatches, f.serving_null_only, f.offline_null_only) == (3, 1, 1)
    assert f.kind == "categorical"


# ---- join counts -----------------------------------------------------------------------


def test_join_counts_with_duplicates_and_one_sided_ids(tmp_path: Path) -> None:
    s_ids = np.array([1, 2, 2, 3, 4, 4, 4, 5, 7])
    o_ids = np.array([2, 3, 3, 4, 5, 6, 8, 9])
    s_val = np.arange(len(s_ids), dtype=float)  # the first row of id 2 has 1.0, of 4 has 4.0
    o_val = np.array([1.0, 3.0, 99.0, 4.0, 0.0, 0, 0, 0])
    srv = pl.DataFrame({"id": s_ids, "v": s_val})
    off = pl.DataFrame({"id": o_ids, "v": o_val})
    r = compare(*_pair(tmp_path, srv, off), ["id"])
    j = r.join
    su, ou = set(s_ids), set(o_ids)
    assert (j.serving_rows, j.offline_rows) == (len(s_ids), len(o_ids))
    assert j.matched == len(su & ou) == 4
    assert (j.serving_only, j.offline_only) == (len(su - ou), len(ou - su)) == (2, 3)
    assert (j.duplicate_ids_serving, j.duplicate_ids_offline) == (2, 1)
    assert (j.duplicate_rows_serving, j.duplicate_rows_offline) == (3, 1)
    assert j.duplicate_examples_serving[0] == {"id": {"id": 4}, "rows": 3}
    # first per id: 2→1.0 vs 1.0, 3→3.0 vs 3.0, 4→4.0 vs 4.0, 5→7.0 vs 0.0: one mismatch
    f = _feature(r, "v")
    assert (f.compared, f.mismatches) == (4, 1)
    assert f.examples[0].id == {"id": 5}
    # all pairs: 2: (1,1) (2,1); 3: (3,3) (3,99); 4: 3×1 (4,4) (5,4) (6,4); 5: (7,0)
    r_all = compare(*_pair(tmp_path, srv, off), ["id"], settings=SkewSettings(duplicates="all"))
    f_all = _feature(r_all, "v")
    assert r_all.join.pairs == f_all.compared == 2 + 2 + 3 + 1
    assert f_all.mismatches == 1 + 1 + 2 + 1


def test_null_ids_join_nothing_and_are_counted(tmp_path: Path) -> None:
    srv = pl.DataFrame({"id": [1, 2, None, None], "v": [1.0, 2.0, 3.0, 4.0]})
    off = pl.DataFrame({"id": [1, None, 3], "v": [1.0, 5.0, 3.0]})
    j = compare(*_pair(tmp_path, srv, off), ["id"]).join
    assert (j.matched, j.null_ids_serving, j.null_ids_offline) == (1, 2, 1)
    assert (j.serving_only, j.offline_only, j.serving_rows) == (1, 1, 4)


def test_composite_key(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 2000
    user = rng.integers(0, 50, n)
    ts = rng.integers(0, 10_000, n)
    base = pl.DataFrame({"user": user, "t": ts, "x": rng.normal(0, 1, n)}).unique(
        ["user", "t"], keep="first", maintain_order=True
    )
    m = base.height
    flip = rng.random(m) < 0.1
    srv = base.with_columns(
        pl.when(pl.Series(flip)).then(pl.col("x") * 1000).otherwise(pl.col("x")).alias("x")
    )
    # offline keyed by the pair; the same user alone would not identify a row
    r = compare(*_pair(tmp_path, srv, base.reverse()), ["user", "t"])
    f = _feature(r, "x")
    assert r.join.matched == m and r.join.duplicate_ids_serving == 0
    x = base["x"].to_numpy()
    assert f.mismatches == int((flip & (x != 0)).sum())
    assert f.pattern is not None and f.pattern.kind == "scale" and f.pattern.factor == 1000.0
    assert set(f.examples[0].id) == {"user", "t"}


def test_lossless_id_cast_and_refused_cast(tmp_path: Path) -> None:
    srv = pl.DataFrame({"id": pl.Series([1, 2, 3], dtype=pl.Int32), "v": [1.0, 2.0, 3.0]})
    off = pl.DataFrame({"id": pl.Series([1, 2, 3], dtype=pl.Int64), "v": [1.0, 2.0, 3.5]})
    r = compare(*_pair(tmp_path, srv, off), ["id"])
    assert r.join.matched == 3 and _feature(r, "v").mismatches == 1
    off_s = off.with_columns(pl.col("id").cast(pl.String))
    with pytest.raises(InputError, match=r"--id id: dtypes differ .*Int32.*String"):
        compare(*_pair(tmp_path, srv, off_s), ["id"])


def test_zero_matched_rows_names_keys_and_samples(tmp_path: Path) -> None:
    srv = pl.DataFrame({"id": ["L1", "L2"], "v": [1.0, 2.0]})
    off = pl.DataFrame({"id": ["T1", "T2"], "v": [1.0, 2.0]})
    with pytest.raises(InputError) as e:
        compare(*_pair(tmp_path, srv, off), ["id"])
    msg = str(e.value)
    assert "(id)" in msg and "'L1'" in msg and "'T1'" in msg and "\n" not in msg


# ---- segments ---------------------------------------------------------------------------


def test_segments_match_numpy_and_name_the_segment(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 6000
    plat = rng.choice(["android", "ios", "web"], n, p=[0.3, 0.5, 0.2])
    region = rng.choice(["eu", "us"], n)
    b = np.round(np.exp(rng.normal(3, 1, n)), 2)
    a = np.where(plat == "android", b * 100, b)
    noise = rng.random(n) < 0.01  # some other rows off, anywhere
    y_off = rng.normal(0, 1, n)
    y_srv = np.where(noise, y_off + 5, y_off)
    srv = pl.DataFrame({"id": np.arange(n), "platform": plat, "amount": a, "y": y_srv})
    off = pl.DataFrame({"id": np.arange(n), "amount": b, "y": y_off, "region": region})
    r = compare(*_pair(tmp_path, srv, off), ["id"], segments=["platform", "region"])
    f = _feature(r, "amount")
    assert f.mismatches == int((plat == "android").sum())
    assert f.pattern is not None and f.pattern.kind == "scale" and f.pattern.factor == 100.0
    assert f.concentrated_in[0]["slice"] == {"platform": "android"}
    assert "all in platform=android" in f.summary and "×100" in f.summary
    assert f.segments[0].slice == {"platform": "android"} and f.segments[0].mismatch_rate == 1
    fy = _feature(r, "y")
    for seg in fy.segments:
        ((col, val),) = seg.slice.items()
        mask = (plat if col == "platform" else region) == val
        assert seg.rows == int(mask.sum())
        assert seg.mismatches == int((noise & mask).sum())
    rates = [s.mismatch_rate for s in fy.segments]
    assert rates == sorted(rates, reverse=True)
    assert r.features[0].feature == "amount"  # sorted by mismatch rate
    assert {f.feature for f in r.features} == {"amount", "y"}  # segment cols are not features


# ---- batching and the bounded sample give the same answer --------------------------------


def test_feature_batches_and_small_sample_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 4000
    off = pl.DataFrame({"id": np.arange(n), **{f"x{i}": rng.normal(0, 1, n) for i in range(6)}})
    rare = rng.random(n) < 0.01
    srv = off.with_columns(
        pl.col("x0") + 1.0,  # every row
        pl.when(pl.Series(rare)).then(pl.col("x1") * 60).otherwise(pl.col("x1")).alias("x1"),
    )
    a, b = _pair(tmp_path, srv, off)
    one = compare(a, b, ["id"])
    tiny = SkewSettings(memory_budget_bytes=1, sample_rows=50)  # one feature per pass
    many = compare(a, b, ["id"], settings=tiny)
    key = [(f.feature, f.mismatches, f.pattern and f.pattern.kind) for f in one.features]
    assert key == [(f.feature, f.mismatches, f.pattern and f.pattern.kind) for f in many.features]
    # x1's mismatches are not among the first 50 rows where x0 mismatches: its own query
    x1 = _feature(many, "x1")
    assert x1.pattern is not None and x1.pattern.kind == "scale" and x1.pattern.factor == 60.0
    assert x1.mismatches == int(rare.sum())


# ---- patterns -----------------------------------------------------------------------------


def _num(a: np.ndarray, b: np.ndarray):  # type: ignore[no-untyped-def]
    return numeric_pattern(a.astype(float), b.astype(float), S, (float(b.min()), float(b.max())))


@pytest.mark.parametrize("factor", [10.0, 100.0, 1000.0, 60.0, 3600.0, 0.01, 1 / 3600, 2.5])
def test_scale_pattern_names_the_factor(factor: float) -> None:
    b = np.random.default_rng(6).lognormal(2, 1, 2000)
    p = _num(b * factor, b)
    assert p.kind == "scale" and p.factor == pytest.approx(factor, rel=1e-9)
    assert p.factor_name == snap_factor(factor)[1]
    if factor == 100.0:
        assert p.factor_name is not None and p.factor_name.startswith("×100")
    if factor == 2.5:
        assert p.factor_name == "×2.5"


def test_offset_affine_rounding_clip_fill_null_other() -> None:
    rng = np.random.default_rng(7)
    b = rng.normal(10, 3, 3000)
    off = _num(b - 273.15, b)
    assert off.kind == "offset" and off.offset == pytest.approx(-273.15)
    aff = _num(1.8 * b + 32, b)
    assert (aff.kind, round(aff.factor or 0, 9), round(aff.offset or 0, 6)) == (
        "affine",
        1.8,
        32.0,
    )
    rnd = _num(np.round(b, 2), b)
    assert (rnd.kind, rnd.decimals) == ("rounding", 2)
    assert _num(np.round(b), b).decimals == 0
    # clipping: only the rows beyond the bounds mismatch
    out = (b > 14) | (b < 6)
    clip = _num(np.clip(b, 6, 14)[out], b[out])
    assert (clip.kind, clip.lower, clip.upper) == ("clipped", 6.0, 14.0)
    fill = _num(np.full(500, -1.0), b[:500])
    assert (fill.kind, fill.value) == ("constant_fill", -1.0)
    zero = _num(np.zeros(500), np.abs(b[:500]) + 1)  # a 0 fill of a positive feature
    assert (zero.kind, zero.value) == ("constant_fill", 0.0)
    nul = _num(np.full(400, np.nan), b[:400])
    assert (nul.kind, nul.side) == ("null", "serving")
    assert _num(b[:400], np.full(400, np.nan)).side == "offline"
    noise = _num(b + rng.normal(0, 1, 3000), b)
    assert noise.kind == "other"


def test_categorical_patterns() -> None:
    rng = np.random.default_rng(8)
    b = list(rng.choice(["de", "fr", "us"], 1000))
    case = categorical_pattern([x.upper() for x in b], b, S)
    assert (case.kind, case.subkind, case.mapping) == (
        "category_map",
        "case",
        {"de": "DE", "fr": "FR", "us": "US"},
    )
    ws = categorical_pattern([x + " " for x in b], b, S)
    assert (ws.kind, ws.subkind) == ("category_map", "whitespace")
    renamed = categorical_pattern(["germany" for _ in range(50)], ["de"] * 50, S)
    assert (renamed.kind, renamed.subkind, renamed.mapping) == (
        "category_map",
        "renamed",
        {"de": "germany"},
    )
    fill = categorical_pattern(["unknown"] * 1000, b, S)
    assert (fill.kind, fill.value) == ("constant_fill", "unknown")
    nul = categorical_pattern([None] * 10, ["a"] * 10, S)
    assert (nul.kind, nul.side) == ("null", "serving")
    rnd = categorical_pattern(list(rng.choice(["a", "b", "c", "d"], 1000)), b, S)
    assert rnd.kind == "other"


def test_recased_category_end_to_end(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    n = 3000
    c = rng.choice(["web", "app", "pos"], n)
    hit = rng.random(n) < 0.2
    srv = pl.DataFrame({"id": np.arange(n), "ch": np.where(hit, np.char.upper(c), c)})
    off = pl.DataFrame({"id": np.arange(n), "ch": c})
    f = _feature(compare(*_pair(tmp_path, srv, off), ["id"]), "ch")
    assert f.mismatches == int(hit.sum())
    assert f.pattern is not None and (f.pattern.kind, f.pattern.subkind) == (
        "category_map",
        "case",
    )


# ---- the sample incident --------------------------------------------------------------------


def test_sample_incident_amount_x100_on_br_pipeline_15() -> None:
    root = Path(__file__).resolve().parents[1] / "sample_data"
    r = compare(
        str(root / "live"),
        str(root / "offline.parquet"),
        ["event_id"],
        segments=["geo", "pipeline_version"],
    )
    live = pl.read_parquet(root / "live")
    off = pl.read_parquet(root / "offline.parquet")
    both = live.join(off, on="event_id", suffix="_off")
    assert r.join.matched == both.height and r.join.offline_only == 0
    assert r.join.serving_only == live.height - both.height > 0
    amount = r.features[0]
    assert amount.feature == "amount" and amount.status == "skewed"
    hit = both.filter(pl.col("pipeline_version") == "1.5")
    assert amount.mismatches == hit.height and set(hit["geo"]) == {"BR"}
    assert amount.pattern is not None and amount.pattern.factor == 100.0
    assert {
        d["slice"]["pipeline_version"]
        for d in amount.concentrated_in
        if "pipeline_version" in d["slice"]
    } == {"1.5"}
    assert [f.feature for f in r.skewed] == ["amount"]

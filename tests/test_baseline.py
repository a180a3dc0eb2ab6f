from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlfail
from mlfail.baseline import (
    QUANTILE_LEVELS,
    Baseline,
    BaselineReference,
    build_baseline,
    content_hash,
    level_key,
    load_baseline,
    load_baseline_reference,
    merge_baselines,
    quantiles_from_bins,
    quantiles_from_values,
)
from mlfail.binning import BinSpec
from mlfail.config import Roles
from mlfail.counts import count_frame, dense
from mlfail.errors import InputError, UsageError
from mlfail.io import open_source
from mlfail.performance import infer_task, performance_table

REPO = Path(__file__).resolve().parent.parent
SAMPLE_REF = REPO / "sample_data" / "reference.parquet"
SAMPLE_LIVE = REPO / "sample_data" / "live"
SAMPLE_ROLES = Roles(
    timestamp="ts",
    label="is_fraud",
    prediction="score",
    meta=("pipeline_version", "sdk_version"),
)
SAMPLE_SEGMENTS = ["geo", "channel", "user_segment"]


@pytest.fixture(scope="module")
def sample_baseline() -> Baseline:
    return build_baseline(str(SAMPLE_REF), SAMPLE_ROLES, segments=SAMPLE_SEGMENTS)


def _frame(seed: int, n: int) -> pl.DataFrame:
    """A small labelled frame with numeric, integer, categorical and nullable columns, an
    integer segment with a null value, and a score."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 1, n)
    x[rng.random(n) < 0.03] = np.nan
    score = np.clip(0.3 * y + rng.normal(0.35, 0.2, n), 0, 1)
    region = rng.choice([1, 2, 3], n).astype(object)
    region[rng.random(n) < 0.05] = None
    return pl.DataFrame(
        {
            "x": x,
            "k": rng.integers(0, 8, n),
            "w": rng.lognormal(2, 1, n).round(2),
            "c": rng.choice(["web", "app", "pos", ""], n, p=[0.5, 0.3, 0.15, 0.05]),
            "region": pl.Series(list(region), dtype=pl.Int64),
            "y": y,
            "p": score,
        }
    )


ROLES = Roles(label="y", prediction="p")


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    ref, live = tmp_path / "ref.parquet", tmp_path / "live.parquet"
    _frame(1, 3000).write_parquet(ref)
    lv = _frame(2, 2000).with_columns((pl.col("w") * 3).alias("w"))  # w drifts
    lv.write_parquet(live)
    return ref, live


def _close(got: list, want: list, what: object = "") -> None:
    assert len(got) == len(want), what
    for g, w in zip(got, want, strict=True):
        if w is None or g is None:
            assert g is None and w is None, (what, got, want)
        else:
            assert g == pytest.approx(w, rel=1e-12), (what, got, want)


# ---- baseline ≡ reference ----------------------------------------------------------------


def _psi_by_key(report: mlfail.audit.PsiReport) -> dict[tuple[str, str], tuple]:  # type: ignore[name-defined]
    return {
        (r.feature, json.dumps(r.slice, sort_keys=True)): (
            r.psi,
            r.p_value,
            r.critical_psi,
            r.q_value,
            r.status,
            r.reference_scope,
            r.reference_rows,
        )
        for r in report.features
    }


def _assert_same_psi(a, b) -> None:
    ka, kb = _psi_by_key(a), _psi_by_key(b)
    assert ka.keys() == kb.keys()
    for k in ka:
        va, vb = ka[k], kb[k]
        for x, y in zip(va, vb, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                assert abs(x - y) <= 1e-12, (k, va, vb)
            else:
                assert x == y, (k, va, vb)


@pytest.mark.parametrize("by", [(), ("geo",), ("channel",)])
def test_sample_baseline_gives_identical_psi(
    sample_baseline: Baseline, tmp_path: Path, by: tuple[str, ...]
) -> None:
    path = tmp_path / "b.json"
    sample_baseline.save(path)
    from_ref = mlfail.psi(str(SAMPLE_REF), str(SAMPLE_LIVE), roles=SAMPLE_ROLES, by=by)
    from_base = mlfail.psi(
        load_baseline_reference(str(path), SAMPLE_ROLES),
        str(SAMPLE_LIVE),
        roles=SAMPLE_ROLES,
        by=by,
    )
    _assert_same_psi(from_ref, from_base)
    assert from_ref.skipped == from_base.skipped
    assert from_base.warnings == from_ref.warnings
    if by == ("geo",):  # the planted incident is found either way
        amount_br = next(
            r for r in from_base.features if r.feature == "amount" and r.slice == {"geo": "BR"}
        )
        assert amount_br.status == "drifted" and amount_br.reference_scope == "slice"


def test_generated_pair_identical_psi_with_integer_segment_and_nulls(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    ref, live = pair
    b = build_baseline(str(ref), ROLES, segments=["region", "c"])
    path = tmp_path / "b.json"
    b.save(path)
    for by in [(), ("region",), ("c",)]:
        from_ref = mlfail.psi(str(ref), str(live), roles=ROLES, by=by)
        from_base = mlfail.psi(
            load_baseline_reference(str(path), ROLES), str(live), roles=ROLES, by=by
        )
        _assert_same_psi(from_ref, from_base)
        if by == ("region",):
            # the null segment value is a slice of its own, compared with the reference's
            # null slice
            rec = next(
                r for r in from_base.features if r.slice == {"region": None} and r.feature == "x"
            )
            assert rec.reference_scope == "slice"
        assert {r.feature for r in from_base.global_records() if r.status == "drifted"} == {"w"}


def test_by_a_column_the_baseline_did_not_segment_warns(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    ref, live = pair
    b = build_baseline(str(ref), ROLES, segments=["region"])
    report = mlfail.psi(
        BaselineReference(b, ROLES, name="b.json"), str(live), roles=ROLES, by=["c"]
    )
    assert any("holds no reference counts by these columns" in w for w in report.warnings)
    assert {r.reference_scope for r in report.features if r.slice} == {"global"}


# ---- contents ------------------------------------------------------------------------------


def test_counts_stats_and_performance_match_independent_computation(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    ref, _ = pair
    b = build_baseline(str(ref), ROLES, segments=["region"])
    path = tmp_path / "b.json"
    b.save(path)
    loaded = load_baseline(path)
    assert loaded.to_json() == b.to_json()  # JSON round-trip is exact
    df = pl.read_parquet(ref)

    # count tables = the counting core on the data
    specs = loaded.all_specs()
    assert loaded.prediction_spec is not None and loaded.prediction_spec.feature == "p"
    direct = count_frame(df.lazy(), specs, ["region"])
    for spec in specs:
        for region in (1, 2, 3, None):
            where = pl.col("region").is_null() if region is None else pl.col("region") == region
            stored = loaded.count_table(("region",))
            assert stored is not None
            assert dense(stored, spec, where).tolist() == dense(direct, spec, where).tolist()
        assert (
            dense(loaded.count_table(()), spec).tolist()
            == dense(  # type: ignore[arg-type]
                count_frame(df.lazy(), [spec]), spec
            ).tolist()
        )

    # numeric stats: numpy, linear quantiles over the finite values
    x = df["x"].to_numpy()
    fin = x[np.isfinite(x)]
    sx = loaded.stats["x"]
    assert sx.nulls == int(np.isnan(x).sum()) and sx.count == len(fin)
    assert sx.min == fin.min() and sx.max == fin.max()
    assert sx.mean == pytest.approx(fin.mean(), rel=1e-12)
    assert sx.std == pytest.approx(fin.std(ddof=1), rel=1e-12)
    for lv in QUANTILE_LEVELS:
        assert sx.quantiles[level_key(lv)] == pytest.approx(np.quantile(fin, lv), rel=1e-12)
    assert sx.quantiles_exact

    # categorical frequencies and default-value counts
    c = df["c"].to_list()
    sc = loaded.stats["c"]
    assert sc.frequencies == {v: c.count(v) for v in set(c)}
    assert sc.defaults[""] == c.count("") and sc.defaults["unknown"] == 0
    k = df["k"].to_numpy()
    assert loaded.stats["k"].kind == "categorical" and loaded.stats["k"].defaults["0"] == int(
        (k == 0).sum()
    )

    # performance = performance_table on the data, per segment value
    spec = infer_task(df.schema, "y", "p")
    for keys in ([], ["region"]):
        want = performance_table(df.lazy(), spec, keys)
        got = loaded.performance(tuple(keys))
        assert got is not None and got.columns == want.columns
        if keys:
            want, got = want.sort(keys, nulls_last=True), got.sort(keys, nulls_last=True)
        for col in want.columns:
            _close(got[col].to_list(), want[col].to_list(), col)
    assert loaded.performance(("c",)) is None  # not a stored segment


def test_sample_baseline_is_small_and_committed_copy_is_current(
    sample_baseline: Baseline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # `make baseline` runs from the repo root with relative paths
    fresh = build_baseline(
        "sample_data/reference.parquet", SAMPLE_ROLES, segments=SAMPLE_SEGMENTS
    ).to_dict()
    committed = json.loads((REPO / "sample_data" / "baseline.json").read_text())
    for d in (fresh, committed):
        d.pop("created_at")
        d.pop("mlfail_version")
    assert committed == json.loads(json.dumps(fresh)), "run `make baseline`"
    assert (REPO / "sample_data" / "baseline.json").stat().st_size < 100_000
    assert sample_baseline.segments == SAMPLE_SEGMENTS


def test_hundred_features_stay_a_few_hundred_kb(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 3000
    cols: dict[str, object] = {f"f{i:03d}": rng.normal(i, 1, n) for i in range(90)}
    cols.update({f"c{i}": rng.choice(list("abcdefghij"), n) for i in range(10)})
    cols["seg"] = rng.choice([f"s{i}" for i in range(20)], n)
    cols["y"] = rng.integers(0, 2, n)
    cols["p"] = rng.random(n)
    path = tmp_path / "wide.parquet"
    pl.DataFrame(cols).write_parquet(path)
    b = build_baseline(str(path), Roles(label="y", prediction="p"), segments=["seg"])
    size = len(b.to_json().encode())
    assert len(b.specs) == 101  # 100 features + the segment column itself
    assert size < 400_000, size


# ---- merging -----------------------------------------------------------------------------


def test_merge_of_halves_equals_baseline_of_whole(pair: tuple[Path, Path], tmp_path: Path) -> None:
    ref, _ = pair
    df = pl.read_parquet(ref)
    h1, h2 = tmp_path / "h1.parquet", tmp_path / "h2.parquet"
    df.head(1700).write_parquet(h1)
    df.tail(1300).write_parquet(h2)
    whole = build_baseline(str(ref), ROLES, segments=["region", "c"])
    whole_path = tmp_path / "whole.json"
    whole.save(whole_path)
    spec_src = load_baseline(whole_path)
    a = build_baseline(str(h1), ROLES, segments=["region", "c"], specs_from=spec_src)
    b = build_baseline(str(h2), ROLES, segments=["region", "c"], specs_from=spec_src)
    m = merge_baselines([a, b])

    assert m.rows == whole.rows == 3000
    assert m.specs == whole.specs and m.prediction_spec == whole.prediction_spec
    for keys, t in whole.tables.items():  # counts: exactly
        by = list(keys)
        for spec in whole.all_specs():
            groups = t.select(by).unique().rows() if by else [()]
            for g in groups:
                where = None
                if by:
                    v = g[0]
                    where = pl.col(by[0]).is_null() if v is None else pl.col(by[0]) == v
                assert dense(m.tables[keys], spec, where).tolist() == dense(t, spec, where).tolist()
    for f, sw in whole.stats.items():
        sm = m.stats[f]
        assert (sm.rows, sm.nulls, sm.count, sm.frequencies) == (
            sw.rows,
            sw.nulls,
            sw.count,
            sw.frequencies,
        )
        assert {k: v for k, v in sm.defaults.items() if k != "mean"} == {
            k: v for k, v in sw.defaults.items() if k != "mean"
        }
        if sw.numeric:
            assert (sm.min, sm.max) == (sw.min, sw.max)
            assert sm.mean == pytest.approx(sw.mean, rel=1e-12)
            assert sm.std == pytest.approx(sw.std, rel=1e-12)
            for lv in QUANTILE_LEVELS:
                exact = sw.quantiles[level_key(lv)]
                assert exact is not None
                if sm.quantiles_exact:  # integer categories: recomputed exactly
                    assert sm.quantiles[level_key(lv)] == pytest.approx(exact, rel=1e-12)
                else:  # estimated, and the stored bound holds the exact quantile
                    lo, hi = sm.quantile_bounds[level_key(lv)]
                    assert lo <= exact <= hi, (f, lv, lo, exact, hi)
                    est = sm.quantiles[level_key(lv)]
                    assert est is not None and lo <= est <= hi
    assert m.stats["k"].quantiles_exact and not m.stats["x"].quantiles_exact
    assert "quantiles" in m.approximate and "performance.auc" in m.approximate

    for keys, t in whole.perf.items():  # additive performance columns sum exactly
        got = m.perf[keys].sort(list(keys), nulls_last=True) if keys else m.perf[keys]
        want = t.sort(list(keys), nulls_last=True) if keys else t
        for col in ("rows", "labelled", "errors", "positives", "scored"):
            assert got[col].to_list() == want[col].to_list(), (keys, col)
        for col in ("accuracy", "error_rate", "mean_score"):
            _close(got[col].to_list(), want[col].to_list(), (keys, col))
        assert got["auc"].null_count() == got.height

    # the content hash is order-independent: merged halves hash like the two files together
    sizes = [(str(h1), h1.stat().st_size), (str(h2), h2.stat().st_size)]
    assert m.content_hash == content_hash(sizes) == content_hash(sizes[::-1])

    # and a merged baseline serialises and reloads
    mp = tmp_path / "merged.json"
    m.save(mp)
    assert load_baseline(mp).to_json() == m.to_json()


def test_merge_refuses_different_specs(pair: tuple[Path, Path], tmp_path: Path) -> None:
    ref, live = pair
    a = build_baseline(str(ref), ROLES)
    b = build_baseline(str(live), ROLES)  # other data → other quantile edges
    a.path, b.path = "a.json", "b.json"
    with pytest.raises(UsageError, match=r"the bin specs of '\w+' differ.*--specs-from a\.json"):
        merge_baselines([a, b])
    c = build_baseline(str(ref), ROLES, segments=["region"])
    c.path = "c.json"
    with pytest.raises(UsageError, match="different segments"):
        merge_baselines([a, c])


def test_specs_from_requires_same_prediction_and_no_feature_flags(
    pair: tuple[Path, Path],
) -> None:
    ref, _ = pair
    base = build_baseline(str(ref), ROLES)
    base.path = "base.json"
    with pytest.raises(UsageError, match="pass --prediction p"):
        build_baseline(str(ref), Roles(label="y"), specs_from=base)
    with pytest.raises(UsageError, match="drop --features"):
        build_baseline(str(ref), Roles(label="y", prediction="p", features=("x",)), specs_from=base)


# ---- quantile helpers against numpy ---------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=1, max_size=200))
def test_quantiles_from_values_is_numpy_linear(xs: list[int]) -> None:
    arr = np.asarray(xs, dtype=float)
    vals, counts = np.unique(arr, return_counts=True)
    got = quantiles_from_values(vals, counts, QUANTILE_LEVELS)
    want = np.quantile(arr, QUANTILE_LEVELS)
    assert got == pytest.approx(want.tolist(), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=300),
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=6, unique=True),
)
def test_quantile_bounds_from_bins_contain_the_exact_quantile(
    xs: list[float], edges: list[float]
) -> None:
    arr = np.asarray(xs, dtype=float)
    spec = BinSpec("x", "numeric", edges=tuple(sorted(edges)))
    counts = dense(count_frame(pl.DataFrame({"x": arr}).lazy(), [spec]), spec)
    est, bounds = quantiles_from_bins(
        spec,
        counts,
        neg_inf=0,
        pos_inf=0,
        vmin=float(arr.min()),
        vmax=float(arr.max()),
        levels=QUANTILE_LEVELS,
    )
    for lv, e, bd in zip(QUANTILE_LEVELS, est, bounds, strict=True):
        exact = float(np.quantile(arr, lv))
        assert bd is not None and e is not None
        tol = 1e-9 * max(1.0, abs(exact))
        assert bd[0] - tol <= exact <= bd[1] + tol
        assert bd[0] - tol <= e <= bd[1] + tol


# ---- loading errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not a baseline (invalid JSON at line 1, column 2"),
        ('{"hello": 1}', 'not an mlfail baseline (no "kind": "mlfail-baseline")'),
        ("[1, 2]", 'not an mlfail baseline (no "kind": "mlfail-baseline")'),
        (
            '{"kind": "mlfail-baseline", "schema_version": 99}',
            "baseline schema_version 99 is newer than this mlfail",
        ),
        (
            '{"kind": "mlfail-baseline", "schema_version": 1, "rows": 3}',
            "malformed baseline (missing field 'specs')",
        ),
    ],
)
def test_bad_baseline_files_are_one_clear_error(
    tmp_path: Path, content: str, expected: str
) -> None:
    p = tmp_path / "b.json"
    p.write_text(content)
    with pytest.raises(InputError) as exc:
        load_baseline(p)
    assert str(exc.value).startswith(f"--baseline {p}: ")
    assert expected in str(exc.value)
    assert "\n" not in str(exc.value)


def test_tampered_counts_are_malformed(sample_baseline: Baseline, tmp_path: Path) -> None:
    d = sample_baseline.to_dict()
    d["counts"][0]["bins"]["amount"] = [[1, 2, 3]]
    p = tmp_path / "b.json"
    p.write_text(json.dumps(d))
    with pytest.raises(InputError, match=r"malformed baseline .*'amount' needs 1 lists of 11"):
        load_baseline(p)


def test_baseline_feature_selection_follows_roles(sample_baseline: Baseline) -> None:
    ref = BaselineReference(sample_baseline, Roles(features=("amount", "geo")))
    assert [s.feature for s in ref.specs] == ["geo", "amount"]
    t = ref.table(())
    assert t is not None and set(t["feature"].unique()) == {"geo", "amount"}
    assert ref.roles.label == "is_fraud"  # stored roles fill in what the flags leave out
    with pytest.raises(UsageError, match="--features nope: not a feature of the baseline"):
        BaselineReference(sample_baseline, Roles(features=("nope",)))
    with pytest.raises(UsageError, match="froze 'amount' as numeric"):
        BaselineReference(sample_baseline, Roles(categorical=("amount",)))
    pt = ref.prediction_table(("geo",))
    assert pt is not None and set(pt["feature"].unique()) == {"score"}
    assert ref.lazy is None and ref.table(("nope",)) is None
    assert math.isclose(
        float(dense(ref.prediction_table(()), sample_baseline.prediction_spec).sum()),  # type: ignore[arg-type]
        sample_baseline.rows,
    )


def test_sources_are_recorded(sample_baseline: Baseline) -> None:
    src = open_source(str(SAMPLE_REF), role="--reference")
    assert sample_baseline.sources == [
        {"spec": str(SAMPLE_REF), "files": 1, "bytes": SAMPLE_REF.stat().st_size}
    ]
    assert sample_baseline.content_hash == content_hash(
        [(f, Path(f).stat().st_size) for f in src.files]
    )


@pytest.mark.parametrize("limit", [1, 20, 5000])
def test_segment_tables_from_grouped_cubes_equal_one_pass_per_segment(
    monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    """Segments are counted in cubes of few combinations (``MAX_JOINT_GROUPS``) and coarsened;
    whatever the grouping (each alone, two groups, all together), every segment's table is the
    count of its own pass."""
    import mlfail.baseline.build as build
    from mlfail.counts import joint_groups

    monkeypatch.setattr(build, "MAX_JOINT_GROUPS", limit)  # the grouping of other engines
    monkeypatch.setattr("mlfail.cohort_pass.CUBE_CELLS", limit)  # the Polars pass's cubes
    segs = ["geo", "channel", "user_segment"]
    b = build_baseline(str(SAMPLE_REF), SAMPLE_ROLES, segments=segs, with_performance=False)
    card = {s: pl.read_parquet(SAMPLE_REF)[s].n_unique() for s in segs}
    groups = joint_groups(card, limit)
    assert sorted(c for g in groups for c in g) == sorted(segs)
    assert len(groups) == {1: 3, 20: 2, 5000: 1}[limit]
    lf = pl.scan_parquet(SAMPLE_REF)
    assert b.prediction_spec is not None
    specs = [*b.specs, b.prediction_spec]
    for seg in segs:
        want = count_frame(lf, specs, [seg]).sort([seg, "feature", "bin"])
        got = b.tables[(seg,)].select(want.columns).sort([seg, "feature", "bin"])
        assert got.equals(want), seg

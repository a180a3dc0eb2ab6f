"""The Spark engine gives the Polars engine's count tables, to the row, given the same bin specs.

PySpark runs in local mode (one session for the whole run, see conftest.spark); every test here
is marked ``spark`` and is skipped, with the reason, where PySpark or Java is absent.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mlfail.audit import psi
from mlfail.binning import BinSettings, BinSpec, quantile_levels
from mlfail.config import Roles, select_features
from mlfail.counts import dense
from mlfail.engines import Day
from mlfail.engines.polars import PolarsEngine
from mlfail.engines.spark import SparkEngine
from mlfail.errors import InputError
from mlfail.reference import SourceReference

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_REF = str(ROOT / "sample_data" / "reference.parquet")
SAMPLE_LIVE = str(ROOT / "sample_data" / "live")
SAMPLE_ROLES = Roles(
    timestamp="ts",
    label="is_fraud",
    prediction="score",
    meta=("pipeline_version", "sdk_version"),
)


def same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    """Frame equality after sorting by every column but n (schema included)."""
    assert a.schema == b.schema
    by = [c for c in a.columns if c != "n"]
    a, b = a.sort(by, nulls_last=True), b.sort(by, nulls_last=True)
    assert a.height == b.height
    assert a.equals(b)


@pytest.fixture(scope="module")
def engines(spark):
    return PolarsEngine(progress=False), SparkEngine(spark)


@pytest.fixture(scope="module")
def sample_specs(engines) -> list[BinSpec]:
    pe, _ = engines
    ref = pe.open(SAMPLE_REF, role="--reference")
    features, _ = select_features(ref.schema, SAMPLE_ROLES)
    return pe.build_specs(ref, features, settings=BinSettings())


def test_sample_counts_identical_by_geo_and_day(engines, sample_specs) -> None:
    pe, se = engines
    kinds = {s.kind for s in sample_specs}
    assert kinds == {"numeric", "categorical"}  # both code paths are exercised
    for spec, keys in (
        (SAMPLE_REF, ()),
        (SAMPLE_LIVE, ("geo", Day("ts"))),
        (SAMPLE_LIVE, ("geo",)),
    ):
        role = "--reference" if spec == SAMPLE_REF else "--live"
        a = pe.count(pe.open(spec, role=role), sample_specs, keys)
        b = se.count(se.open(spec, role=role), sample_specs, keys)
        same(a, b)
        assert a.height > 0
    # the day key is a Date in both engines, and the live window has 29 days of data
    assert b.schema["geo"] == pl.String()


def test_sample_psi_equal(engines, sample_specs) -> None:
    pe, se = engines
    reports = []
    for eng in (pe, se):
        ref = SourceReference(eng.open(SAMPLE_REF, role="--reference"), sample_specs, engine=eng)
        reports.append(psi(ref, SAMPLE_LIVE, roles=SAMPLE_ROLES, by=["geo"], engine=eng))
    a, b = reports
    assert len(a.features) == len(b.features) > len(sample_specs)
    for x, y in zip(a.features, b.features, strict=True):
        assert (x.feature, x.slice, x.status) == (y.feature, y.slice, y.status)
        assert math.isclose(x.psi, y.psi, rel_tol=0, abs_tol=1e-12)
    drifted = {
        (f.feature, tuple(f.slice.items()) if f.slice else ())
        for f in b.features
        if f.status == "drifted"
    }
    assert ("amount", (("geo", "BR"),)) in drifted  # the planted incident


def test_bench_dataset_counts_identical(engines, tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from generate import generate

    d = generate(tmp_path, 4000, 40)
    pe, se = engines
    ref = pe.open(str(d / "reference.parquet"), role="--reference")
    features, _ = select_features(
        ref.schema, Roles(timestamp="ts", label="label", prediction="score")
    )
    specs = pe.build_specs(ref, features, settings=BinSettings())
    assert any(s.other for s in specs) and any(s.kind == "numeric" for s in specs)
    live = str(d / "live.parquet")
    keys = ("seg_geo", Day("ts"))
    same(
        pe.count(pe.open(live, role="--live"), specs, keys),
        se.count(se.open(live, role="--live"), specs, keys),
    )


def edge_frame() -> pl.DataFrame:
    nan, inf = float("nan"), float("inf")
    return pl.DataFrame(
        {
            "x": [-inf, -5.0, 0.0, -0.0, 0.5, 1.0, 1.0000001, 2.0, 3.0, inf, nan, None],
            "f32": pl.Series(
                [0.0, 1.0, 1.5, 2.0, nan, None, 3.0, -1.0, 1.0, 2.5, 0.5, inf], dtype=pl.Float32
            ),
            "k": [1, 2, 3, 4, None, 1, 2, 3, 4, 5, 0, -1],
            "c": ["web", "web", "app", "pos", "kiosk", "WEB", "tv", None, "app", "", "web", "pos"],
            "b": [True, False, True, None, True, True, False, False, True, None, True, False],
            "i": [1, 2, 3, 1, None, 7, 1, 2, 2, 1, 3, 9],
            "g": ["a", "a", "b", None, "b", "a", "b", "a", None, "a", "b", "b"],
        },
        strict=False,
    )


EDGE_SPECS = [
    BinSpec("x", "numeric", edges=(0.0, 1.0, 2.0)),
    BinSpec("f32", "numeric", edges=(1.0, 2.0)),
    BinSpec("k", "numeric", edges=(1.5, 3.0)),
    BinSpec("c", "categorical", categories=("web", "app"), other=("kiosk", "pos")),
    BinSpec("b", "categorical", categories=("true", "false")),
    BinSpec("i", "categorical", categories=("1", "2", "3")),
    BinSpec("absent", "numeric", edges=(0.0,)),
    BinSpec("absent_cat", "categorical", categories=("a",)),
    BinSpec("nothing", "categorical"),
]


def test_edge_cases_identical_and_right(engines, tmp_path: Path) -> None:
    path = tmp_path / "edges.parquet"
    df = edge_frame()
    assert df["x"].is_nan().sum() == 1 and df["x"].null_count() == 1  # NaN and null both
    df.write_parquet(path)
    pe, se = engines
    specs = [*EDGE_SPECS, BinSpec("g", "categorical", categories=())]
    for keys in ((), ("g",)):
        a = pe.count(pe.open(str(path), role="--live"), specs, keys)
        b = se.count(se.open(str(path), role="--live"), specs, keys)
        same(a, b)
    # and the numbers are the right ones (independently of either engine):
    # x: (-inf,0]: -inf,-5,0,-0 | (0,1]: .5,1 | (1,2]: 1.0000001,2 | (2,inf): 3,inf | nan,None
    assert dense(b, specs[0]).tolist() == [4, 2, 2, 2, 2]
    # k (integers vs float edges): (,1.5]: 1,1,0,-1 | (1.5,3]: 2,3,2,3 | (3,): 4,4,5 | None
    assert dense(b, specs[2]).tolist() == [4, 4, 3, 1]
    c = dict(zip(specs[3].labels(), dense(b, specs[3]).tolist(), strict=True))
    assert c == {"web": 3, "app": 2, "__other__": 3, "__unseen__": 3, "__missing__": 1}
    assert dense(b, specs[4]).tolist() == [6, 4, 0, 2]  # booleans compare as "true"/"false"
    assert dense(b, specs[5]).tolist() == [4, 3, 2, 2, 1]  # 7 and 9 unseen
    assert dense(b, specs[6]).tolist() == [0, 0, 12]  # absent column: all missing
    g = dict(zip(specs[-1].labels(), dense(b, specs[-1]).tolist(), strict=True))
    assert g == {"__unseen__": 10, "__missing__": 2}


def test_empty_source_is_refused_by_both_engines(engines, tmp_path: Path) -> None:
    # an empty export would give confident "no drift" answers: both engines refuse it alike
    path = tmp_path / "empty.parquet"
    edge_frame().head(0).write_parquet(path)
    pe, se = engines
    for eng in (pe, se):
        with pytest.raises(InputError, match="has no rows"):
            eng.open(str(path), role="--live")


def test_one_aggregation_per_source(engines, sample_specs, spark) -> None:
    """All features and keys are counted by one aggregation: one scan of the data. With
    adaptive execution Spark lists it as at most two jobs (map stage, then the final merge)."""
    _, se = engines
    src = se.open(SAMPLE_LIVE, role="--live")
    sc = spark.sparkContext
    sc.setJobGroup("mlfail-count", "one count")
    try:
        se.count(src, sample_specs, ("geo", Day("ts")))
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    jobs = sc.statusTracker().getJobIdsForGroup("mlfail-count")
    assert 1 <= len(jobs) <= 2
    q, _, _ = se.count_query(src, sample_specs, ("geo", Day("ts")))
    plan = q._jdf.queryExecution().executedPlan().toString()
    assert plan.count("FileScan parquet") == 1


def test_spark_specs_vocabularies_exact_and_edges_within_rank_error(engines) -> None:
    pe, se = engines
    settings = BinSettings()
    pref, sref = pe.open(SAMPLE_REF, role="--reference"), se.open(SAMPLE_REF, role="--reference")
    features, _ = select_features(pref.schema, SAMPLE_ROLES)
    ids_p: list[str] = []
    ids_s: list[str] = []
    sp = pe.build_specs(pref, features, settings=settings, identifiers=ids_p)
    ss = se.build_specs(sref, features, settings=settings, identifiers=ids_s)
    assert ids_p == ids_s == ["event_id"]
    assert [(s.feature, s.kind) for s in sp] == [(s.feature, s.kind) for s in ss]
    data = pl.read_parquet(SAMPLE_REF)
    err = se.relative_error
    for a, b in zip(sp, ss, strict=True):
        if a.kind == "categorical":
            assert (a.categories, a.other) == (b.categories, b.other)
            continue
        x = data[a.feature].cast(pl.Float64).to_numpy()
        x = np.sort(x[np.isfinite(x)])
        n = len(x)
        for e in b.edges:
            assert e in set(x)  # approxQuantile returns values of the data
            # Spark's bound: the rank of e lies in [floor((p-err)·N), ceil((p+err)·N)] for the
            # level p it was asked for; with duplicated edges removed, some level fits.
            lo, hi = np.searchsorted(x, e, "left") + 1, np.searchsorted(x, e, "right")
            ok = any(
                lo <= math.ceil((p + err) * n) and hi >= math.floor((p - err) * n)
                for p in quantile_levels(settings.bins)
            )
            assert ok, (a.feature, e)
        assert len(b.edges) == len(a.edges)  # same bins, edges within the rank error


def test_hive_glob_keeps_the_partition_column(engines, sample_specs) -> None:
    """A glob inside a hive layout reads the partition column in both engines (Spark needs
    its basePath for that)."""
    pe, se = engines
    spec = SAMPLE_LIVE + "/day=2026-09-0*/*.parquet"
    a = pe.count(pe.open(spec, role="--live"), sample_specs[:3], ["day"])
    b = se.count(se.open(spec, role="--live"), sample_specs[:3], ["day"])
    same(a, b)
    assert a["day"].n_unique() == 9  # 2026-09-01 … 09


def test_base_path_of_hive_globs(tmp_path: Path) -> None:
    from mlfail.engines.spark import _base_path

    assert _base_path("logs/day=*/x.parquet") == "logs"
    (tmp_path / "h" / "day=1").mkdir(parents=True)
    (tmp_path / "h" / "day=1" / "p.parquet").write_bytes(b"")
    assert _base_path(f"{tmp_path}/h/*/p.parquet") == f"{tmp_path}/h"
    assert _base_path(f"{tmp_path}/h/day=1/*.parquet") == f"{tmp_path}/h"
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.parquet").write_bytes(b"")
    assert _base_path(f"{tmp_path}/flat/*.parquet") is None

"""Seeded unit tests for each role rule (mlfail.roles, mlfail.derived), both sides of the line."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mlfail.errors import UsageError
from mlfail.io import open_source
from mlfail.roles import RoleFlags, infer_roles

N = 400


def _roles(ref: pl.DataFrame, live: pl.DataFrame | None = None, **flags: object):
    live = ref if live is None else live
    return infer_roles(ref.lazy(), live.lazy(), RoleFlags(**flags))  # type: ignore[arg-type]


def _role(ref: pl.DataFrame, col: str, live: pl.DataFrame | None = None, **flags: object) -> str:
    c = _roles(ref, live, **flags).get(col)
    assert c is not None
    return c.role


def _base(rng: np.random.Generator, n: int = N) -> pl.DataFrame:
    return pl.DataFrame({"x": rng.normal(size=n)})


# ---- identifiers --------------------------------------------------------------------------


def test_unnamed_consecutive_integers_are_an_identifier() -> None:
    rng = np.random.default_rng(0)
    ref = _base(rng).with_columns(n=pl.int_range(1, N + 1))
    c = _roles(ref).get("n")
    assert c.role == "identifier" and "dense" in c.reason and c.source == "inferred"


def test_random_half_of_a_row_index_is_still_dense() -> None:
    rng = np.random.default_rng(1)
    ids = np.sort(rng.choice(2 * N, N, replace=False))  # a train/test split of 0..2N
    assert _role(_base(rng).with_columns(n=pl.Series(ids)), "n") == "identifier"


def test_sparse_counter_whose_live_values_lie_above_the_reference_is_an_identifier() -> None:
    rng = np.random.default_rng(2)
    ref = _base(rng).with_columns(n=pl.Series(np.arange(N) * 7 + 1000))
    live = _base(rng).with_columns(n=pl.Series(np.arange(N) * 7 + 1000 + 7 * N))
    assert _role(ref, "n", live) == "identifier"
    overlapping = _base(rng).with_columns(n=pl.Series(np.arange(N) * 7 + 1003))
    assert _role(ref, "n", overlapping) == "feature"


def test_amounts_in_cents_and_ages_in_days_are_features() -> None:
    """Nearly all distinct on a small sample, but sparse in their range and overlapping live."""
    rng = np.random.default_rng(3)
    mk = lambda: _base(rng).with_columns(  # noqa: E731
        amount_cents=pl.Series(rng.integers(100, 1_000_000, N)),
        age_days=pl.Series(rng.integers(6570, 36500, N)),
    )
    ref, live = mk(), mk()
    assert ref["amount_cents"].n_unique() / N >= 0.95  # the trap: nearly all distinct
    roles = _roles(ref, live)
    assert roles.get("amount_cents").role == "feature"
    assert roles.get("age_days").role == "feature"


def test_floats_are_never_identifiers() -> None:
    rng = np.random.default_rng(4)
    ref = _base(rng).with_columns(
        sensor=pl.Series(rng.normal(20, 3, N)), idx_float=pl.Series(np.arange(N, dtype=float))
    )
    roles = _roles(ref)
    assert roles.get("sensor").role == "feature"
    assert roles.get("idx_float").role == "feature"


def test_unnamed_epoch_integers_that_grow_are_time_not_identifier_nor_feature() -> None:
    rng = np.random.default_rng(5)
    t0 = 1_700_000_000
    ref = _base(rng).with_columns(created=pl.Series(np.sort(rng.integers(t0, t0 + 10**7, N))))
    live = _base(rng).with_columns(
        created=pl.Series(np.sort(rng.integers(t0 + 10**7, t0 + 2 * 10**7, N)))
    )
    assert _role(ref, "created", live) == "time_key"


def test_strings_mostly_distinct_are_identifiers_categories_are_not() -> None:
    rng = np.random.default_rng(6)
    ref = _base(rng).with_columns(
        token=pl.Series([f"{rng.integers(1 << 60):x}" for _ in range(N)]),
        geo=pl.Series(rng.choice(["US", "BR", "DE"], N)),
    )
    roles = _roles(ref)
    assert roles.get("token").role == "identifier"
    assert roles.get("geo").role == "feature"


def test_id_names_need_half_distinct() -> None:
    rng = np.random.default_rng(7)
    ref = _base(rng).with_columns(
        customer_id=pl.Series(rng.integers(0, 10 * N, N)),  # repeats, ~95% distinct, sparse
        PassengerId=pl.Series(rng.permutation(N) * 13),
        store_id=pl.Series(rng.integers(0, 20, N)),  # a real category with an id name
    )
    roles = _roles(ref)
    assert roles.get("customer_id").role == "identifier"
    assert roles.get("PassengerId").role == "identifier"
    assert roles.get("store_id").role == "feature"


def test_too_few_rows_to_call_an_identifier() -> None:
    rng = np.random.default_rng(8)
    ref = _base(rng, 30).with_columns(n=pl.int_range(0, 30))
    assert _role(ref, "n") == "feature"


def test_flag_id_wins_over_inference_and_features_flag_wins_back() -> None:
    rng = np.random.default_rng(9)
    ref = _base(rng).with_columns(n=pl.int_range(0, N), amount=pl.Series(rng.integers(0, 9, N)))
    c = _roles(ref, ids=("amount",)).get("amount")
    assert (c.role, c.source, c.flag) == ("identifier", "flag", "--id")
    roles = _roles(ref, features=("n", "x"))
    assert roles.get("n").role == "feature" and roles.get("n").source == "flag"
    assert roles.get("amount").role == "excluded" and roles.features() == ["x", "n"]


# ---- model outputs ------------------------------------------------------------------------


def _scored(rng: np.random.Generator, n: int = 2000) -> pl.DataFrame:
    x = rng.normal(size=n)
    score = 1 / (1 + np.exp(-(2 * x + rng.normal(size=n))))
    y = (rng.random(n) < score).astype(np.int64)
    return pl.DataFrame({"x": x, "score": score, "label": y})


def test_thresholded_decision_is_an_output_a_noisy_label_is_not() -> None:
    rng = np.random.default_rng(10)
    df = _scored(rng)
    s = df["score"].to_numpy()
    flips = rng.random(len(s)) < 0.005
    df = df.with_columns(
        y_pred=pl.Series(s >= 0.5),
        y_pred_noisy=pl.Series((s >= 0.3) ^ flips),  # 99.5% consistent with a threshold
        outcome=df["label"],  # correlated with the score but not a function of it
    )
    roles = _roles(df, prediction="score")
    assert roles.get("y_pred").role == "output" and "decision" in roles.get("y_pred").reason
    assert roles.get("y_pred_noisy").role == "output"
    assert roles.get("outcome").role == "feature"


def test_rare_independent_flag_is_not_a_decision() -> None:
    rng = np.random.default_rng(11)
    df = _scored(rng).with_columns(rare=pl.Series((rng.random(2000) < 0.005).astype(np.int64)))
    assert _role(df, "rare", prediction="score") == "feature"


def test_rounded_clipped_and_rescaled_scores_are_outputs_a_monotone_feature_is_not() -> None:
    rng = np.random.default_rng(12)
    df = _scored(rng)
    s = df["score"]
    df = df.with_columns(
        score_r2=s.round(2),
        score_clip=s.clip(0.1, 0.9),
        score_pct=s * 100,
        logit_input=pl.Series(np.log(s / (1 - s)) ** 3),  # monotone in the score, a feature
    )
    roles = _roles(df, prediction="score")
    assert "rounded to 2" in roles.get("score_r2").reason
    assert "clipped" in roles.get("score_clip").reason
    assert roles.get("score_pct").role == "output"
    assert roles.get("logit_input").role == "feature"
    assert roles.get("x").role == "feature"


def test_decision_prediction_finds_its_score_and_relabels() -> None:
    rng = np.random.default_rng(13)
    df = _scored(rng)
    dec = df["score"] >= 0.5
    df = df.with_columns(
        decision=dec.cast(pl.Int64),
        verdict=pl.when(dec).then(pl.lit("fraud")).otherwise(pl.lit("ok")),
    )
    roles = _roles(df, prediction="decision")
    assert "score behind" in roles.get("score").reason
    assert "relabelling" in roles.get("verdict").reason
    assert roles.get("x").role == "feature"


def test_output_flag_names_other_outputs() -> None:
    rng = np.random.default_rng(14)
    df = _scored(rng).with_columns(other_model=pl.Series(rng.random(2000)))
    assert _role(df, "other_model", prediction="score") == "feature"
    c = _roles(df, prediction="score", outputs=("other_model",)).get("other_model")
    assert (c.role, c.source) == ("output", "flag")


# ---- one-sided, time, constant, excluded, flags --------------------------------------------


def test_one_sided_columns_are_schema_findings() -> None:
    rng = np.random.default_rng(15)
    ref = _base(rng).with_columns(old=pl.lit(1.0))
    live = _base(rng).with_columns(new=pl.Series(rng.normal(size=N)))
    roles = _roles(ref, live)
    assert (roles.get("old").role, roles.get("old").present) == ("one_sided", "reference")
    assert (roles.get("new").role, roles.get("new").present) == ("one_sided", "live")
    assert roles.features() == ["x"]


def test_time_columns_other_than_the_timestamp_are_time_keys() -> None:
    rng = np.random.default_rng(16)
    t0 = datetime(2026, 1, 1)
    ref = _base(rng).with_columns(
        ts=pl.Series([t0 + timedelta(minutes=i) for i in range(N)]),
        shipped=pl.Series([t0 + timedelta(hours=i) for i in range(N)]),
        event_ts=pl.Series(1_760_000_000 + rng.integers(0, 10**6, N)),
        visits_ts=pl.Series(rng.integers(0, 100, N)),  # a time-like name, small counts
        day_str=pl.Series([str((t0 + timedelta(days=i % 30)).date()) for i in range(N)]),
    )
    roles = _roles(ref, timestamp="ts")
    assert roles.get("ts").role == "timestamp"
    assert roles.get("shipped").role == "time_key"
    assert roles.get("event_ts").role == "time_key"
    assert roles.get("visits_ts").role == "feature"
    assert roles.get("day_str").role == "time_key"


def _hive(root: Path, key: str, values: list[str], rng: np.random.Generator) -> str:
    for v in values:
        d = root / f"{key}={v}"
        d.mkdir(parents=True)
        _base(rng, 100).write_parquet(d / "part.parquet")
    return str(root)


def test_time_valued_hive_keys_are_time_keys_other_keys_are_not(tmp_path: Path) -> None:
    rng = np.random.default_rng(17)
    month = _hive(tmp_path / "m", "month", ["1", "2", "3"], rng)
    region = _hive(tmp_path / "r", "region", ["EU", "US"], rng)
    fake = _hive(tmp_path / "f", "month", ["13", "14"], rng)
    for spec, key, role in (
        (month, "month", "time_key"),
        (region, "region", "feature"),
        (fake, "month", "feature"),
    ):
        src = open_source(spec, role="--reference")
        assert infer_roles(src, src).get(key).role == role


def test_constant_columns_are_skipped_with_a_note() -> None:
    rng = np.random.default_rng(18)
    ref = _base(rng).with_columns(k=pl.lit(3), two=pl.Series(rng.integers(0, 2, N)))
    c = _roles(ref).get("k")
    assert c.role == "constant" and "one value (3)" in c.reason
    assert _role(ref, "two") == "feature"


def test_a_float_constant_on_the_reference_is_judged_by_its_live_values() -> None:
    """Live statistics of a float are taken only for a reference-constant float, and there
    they decide: constant when live holds the same value, a feature when live adds one (a
    rollout), a feature when live is a different single value; a float that varies on the
    reference is a feature whatever live holds."""
    rng = np.random.default_rng(27)
    ref = _base(rng).with_columns(f=pl.lit(1.5), g=pl.lit(2.0), h=pl.lit(0.0), v=rng.normal(size=N))
    live = ref.with_columns(
        g=pl.Series(np.where(np.arange(N) % 2 == 0, 2.0, 3.0)), h=pl.lit(7.0), v=pl.lit(1.0)
    )
    roles = _roles(ref, live)
    assert roles.get("f").role == "constant" and "one value (1.5)" in roles.get("f").reason
    assert [roles.get(c).role for c in ("g", "h", "v")] == ["feature"] * 3


def test_unread_columns_are_value_counted_but_not_aggregated() -> None:
    """``unread`` leaves a column's aggregates out (no entry) but keeps its value counts,
    which later steps reuse; the other columns' statistics are unchanged."""
    from mlfail.rolestats import collect_stats

    rng = np.random.default_rng(31)
    df = pl.DataFrame({"s": rng.choice(["p", "q"], N).tolist(), "x": rng.normal(size=N),
                       "y": rng.normal(size=N)})  # fmt: skip
    values: list[dict[str, pl.DataFrame]] = []
    (full,) = collect_stats([df.lazy()])
    (part,) = collect_stats([df.lazy()], values, (), [{"s", "x"}])
    assert set(part) == {"y"} and part["y"] == full["y"]
    assert set(values[0]) == {"s"} and values[0]["s"]["__count"].sum() == N


def test_float_statistics_are_those_of_the_finite_values() -> None:
    """A float's statistics (nulls, none / one / two or more finite values, their min and max)
    come from its plain min and max when those are finite, else from its finite values: every
    case against numpy on the finite values."""
    from mlfail.rolestats import collect_stats

    nan, inf = float("nan"), float("inf")
    n = 200
    rng = np.random.default_rng(32)
    cols = {
        "plain": rng.normal(size=n).tolist(),
        "nan": [nan, *rng.normal(size=n - 1).tolist()],
        "all_nan": [nan] * n,
        "nan_null": [nan, None] * (n // 2),
        "inf": [inf, -inf, *rng.normal(size=n - 2).tolist()],
        "one_and_inf": [inf, *([2.5] * (n - 1))],
        "only_inf": [inf, -inf] * (n // 2),
        "nulls": [None] * n,
        "one": [None, *([0.0] * (n - 1))],
    }
    df = pl.DataFrame({k: pl.Series(v, dtype=pl.Float64) for k, v in cols.items()})
    (st,) = collect_stats([df.lazy()])
    for name, values in cols.items():
        x = np.array([np.nan if v is None else v for v in values])
        fin = x[np.isfinite(x)]
        got = st[name]
        assert got.nulls == sum(v is None for v in values), name
        assert got.distinct == min(len(np.unique(fin)), 2), name
        assert (got.lo, got.hi) == ((fin.min(), fin.max()) if fin.size else (None, None)), name


def test_an_integer_given_by_features_is_not_value_counted_on_the_reference() -> None:
    """No step reads it (its spec counts its own values), so the roles query leaves it out;
    a string given by --features keeps its table (its categorical spec reads it), and the
    specs are those built without any table."""
    from mlfail.binning import build_specs

    rng = np.random.default_rng(33)
    ref = pl.DataFrame({"i": rng.integers(0, 7, N), "s": rng.choice(["a", "b", "c"], N).tolist(),
                        "x": rng.normal(size=N)})  # fmt: skip
    lf = ref.lazy()
    roles = infer_roles(lf, lf, RoleFlags(features=("i", "s", "x")))
    kept = roles.values_of(lf)
    assert kept is not None and set(kept) == {"s"}
    with_tables = build_specs(lf, ["i", "s", "x"], value_counts=kept)
    assert with_tables == build_specs(lf, ["i", "s", "x"])
    assert [s.kind for s in with_tables] == ["categorical", "categorical", "numeric"]


def test_exclude_and_flag_errors() -> None:
    rng = np.random.default_rng(19)
    ref = _base(rng).with_columns(y=pl.Series(rng.normal(size=N)))
    c = _roles(ref, exclude=("y",)).get("y")
    assert (c.role, c.flag) == ("excluded", "--exclude")
    with pytest.raises(UsageError, match="given to both --exclude and --id"):
        _roles(ref, exclude=("y",), ids=("y",))
    with pytest.raises(UsageError, match="--meta nope: no such column"):
        _roles(ref, meta=("nope",))


def test_from_roles_carries_todays_flags() -> None:
    from mlfail.config import Roles

    roles = Roles(timestamp="ts", label="y", prediction="p", meta=("v",), outputs=("q",))
    f = RoleFlags.from_roles(roles, ids=["a,b"], outputs=["r"], exclude=["z"])
    assert (f.timestamp, f.label, f.prediction, f.meta) == ("ts", "y", "p", ("v",))
    assert (f.ids, f.outputs, f.exclude, f.features) == (("a", "b"), ("q", "r"), ("z",), None)


def test_one_aggregation_per_source_and_one_output_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost contract: per source, one collect_all of its value counts (the exact distinct
    counts) and one streaming query (per dozen of the other columns) for the statistics,
    source after source so that two files' columns are never held at once; one collect_all
    for output detection (one query per side, only with --prediction)."""
    rng = np.random.default_rng(20)
    df = _scored(rng).with_columns(y_pred=pl.col("score") >= 0.5, n=pl.int_range(0, 2000))
    calls: list[str] = []
    real_all, real_one = pl.collect_all, pl.LazyFrame.collect

    def spy_all(qs, *a, **k):  # type: ignore[no-untyped-def]
        calls.append(f"collect_all({len(qs)})")
        return real_all(qs, *a, **k)

    def spy_one(self, *a, **k):  # type: ignore[no-untyped-def]
        calls.append("collect")
        return real_one(self, *a, **k)

    monkeypatch.setattr(pl, "collect_all", spy_all)
    monkeypatch.setattr(pl.LazyFrame, "collect", spy_one)
    roles = infer_roles(df.lazy(), df.lazy(), RoleFlags(label="label", prediction="score"))
    assert roles.get("y_pred").role == "output" and roles.get("n").role == "identifier"
    assert df.width <= 12
    # the exact distinct counts, except of the --label column: a flag fixes its role and
    # nothing reads its statistics (nor of --timestamp, --prediction, --id …)
    k = sum(not dt.is_float() for n, dt in df.schema.items() if n != "label")
    assert not df.schema["label"].is_float()
    side = [f"collect_all({k})", "collect"]
    assert calls == [*side, *side, "collect_all(2)"]  # stats per side; output columns
    calls.clear()
    infer_roles(df.lazy(), df.lazy(), RoleFlags(label="label"))
    assert calls == [*side, *side]


def test_note_lines_and_json_say_why_and_which_flag() -> None:
    rng = np.random.default_rng(21)
    ref = _base(rng).with_columns(n=pl.int_range(0, N), k=pl.lit("a"), y=pl.lit(0))
    roles = _roles(ref, label="y")
    lines = roles.note_lines()
    assert any("n" in ln and "identifier: integer" in ln and "--features n" in ln for ln in lines)
    assert any("y (--label)" in ln and ln.startswith("  by flags:") for ln in lines)
    assert any("k" in ln and "constant" in ln for ln in lines)
    assert lines[-1].startswith("  features (1): x")
    d = roles.to_dict()
    assert d["counts"] == {"feature": 1, "identifier": 1, "label": 1, "constant": 1}
    assert [c["column"] for c in d["columns"]] == ["x", "n", "k", "y"]


def test_a_label_the_model_fits_on_the_reference_is_not_an_output() -> None:
    """Training accuracy can reach 99%; on live rows a label disagrees, a decision does not."""
    rng = np.random.default_rng(22)
    ref, live = _scored(rng), _scored(rng)
    ref = ref.with_columns(target=(pl.col("score") >= 0.5).cast(pl.Int64))  # "overfit": exact
    live = live.with_columns(target=pl.col("label"))
    ref = ref.with_columns(y_pred=pl.col("score") >= 0.5)
    live = live.with_columns(y_pred=pl.col("score") >= 0.5)
    roles = _roles(ref, live, prediction="score")
    assert roles.get("target").role == "feature"
    assert roles.get("y_pred").role == "output" and "live too" in roles.get("y_pred").reason
    assert _roles(ref, ref, prediction="score").get("target").role == "output"


def test_a_live_side_with_one_predicted_class_does_not_unmake_an_output() -> None:
    rng = np.random.default_rng(23)
    ref = _scored(rng).with_columns(y_pred=pl.col("score") >= 0.5)
    live = ref.with_columns(score=pl.col("score") * 0.1 + 0.9, y_pred=pl.lit(True))
    c = _roles(ref, live, prediction="score").get("y_pred")
    assert c.role == "output" and "live too" not in c.reason


def test_live_distinct_counts_equal_polars_n_unique_with_nulls() -> None:
    """Root cause's cohort candidates reuse the roles query's distinct counts: they must equal
    a direct ``n_unique`` (a null counts as a value) for strings, integers and booleans, and
    floats are left out (the roles query only tells "two or more" for them)."""
    ref = pl.DataFrame({"s": ["a", "b", None] * 40, "i": [1, 2, 3] * 40, "f": [0.5, 1.5, 2.5] * 40})
    live = pl.DataFrame(
        {"s": ["a", "c", "d", None] * 30, "i": [1, None, 7, 9] * 30, "f": [0.1, 0.2, 0.3, 0.4] * 30,
         "b": [True, False, None, True] * 30}
    )  # fmt: skip
    got = infer_roles(ref.lazy(), live.lazy()).live_distinct
    assert "f" not in got
    assert got == {c: live[c].n_unique() for c in ("s", "i", "b")} == {"s": 4, "i": 4, "b": 3}


def test_statistics_from_value_count_tables_equal_the_column_aggregates() -> None:
    """Nulls, min, max and distinct of a column with few values come from its kept value-count
    table; they equal the aggregates over the column, as for a column with too many values
    to keep (``b``: 12,000 values) and for floats."""
    from mlfail.rolestats import collect_stats

    rng = np.random.default_rng(30)
    n = 12_500
    df = pl.DataFrame(
        {
            "s": rng.choice(["p", "q", "r", None], n).tolist(),
            "i": pl.Series(rng.integers(-5, 9, n)).scatter([3, 7], None),
            "b": pl.Series(np.arange(n) % 12_000).scatter([0], None),
            "flag": pl.Series(rng.random(n) > 0.5).scatter([1], None),
            "x": rng.normal(0, 1, n),
        }
    )
    values: list[dict[str, pl.DataFrame]] = []
    (st,) = collect_stats([df.lazy()], values)
    assert set(values[0]) == {"s", "i", "flag"}
    for c in ("s", "i", "b", "flag"):
        col = df[c]
        assert st[c].rows == n and st[c].nulls == col.null_count(), c
        assert st[c].distinct == col.drop_nulls().n_unique(), c
        if c != "flag":
            assert (st[c].lo, st[c].hi) == (col.min(), col.max()), c
    assert st["x"].nulls == 0 and st["x"].distinct == 2

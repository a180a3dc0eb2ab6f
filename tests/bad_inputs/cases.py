"""The bad-input corpus: each case breaks one input of a valid world and says what every command
that reads that input must do — a correct report, or exactly one clear error line and exit 2.

``docs/reliability.md`` is generated from this list (``make reliability``), so the documented
table and the tests cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from bad_inputs.world import ROLES, START, World, base_frames, write_hive
from mlfail.errors import MlfailWarning

Check = Callable[[World, str, Any], None]


@dataclass(frozen=True)
class Case:
    id: str
    what: str  # the input, as the docs table shows it
    target: str  # which input it breaks: live, reference, metrics, changes, owners, …
    build: Callable[[World], None]
    expect: str  # "report" or "error"
    says: str = ""  # for errors: a regex the one error line must match
    outcome: str = ""  # the documented outcome (one short sentence)
    check: Check | None = None  # extra assertions on a report (payload = parsed JSON)
    only: tuple[str, ...] = ()  # restrict to these commands
    skip: tuple[str, ...] = ()  # commands this case does not apply to
    per_command: dict[str, tuple[str, str]] = field(default_factory=dict)  # name → (expect, says)
    # commands whose findings must equal those on the unbroken world ("all" for every one)
    same_as_clean: tuple[str, ...] = ()

    def expectation(self, command: str) -> tuple[str, str]:
        return self.per_command.get(command, (self.expect, self.says))


# --------------------------------------------------------------------------- helpers


def _ref() -> pl.DataFrame:
    return base_frames()[0]


def _live() -> pl.DataFrame:
    return base_frames()[1]


def _replace_live(w: World, df: pl.DataFrame, *, hive: bool = False) -> None:
    shutil.rmtree(w.live, ignore_errors=True)
    if hive:
        write_hive(df, Path(w.live))
    else:
        w.live = str(w.root / "live.parquet")
        df.write_parquet(w.live)


def _replace_ref(w: World, df: pl.DataFrame) -> None:
    df.write_parquet(w.reference)


def _both(w: World, fn: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
    _replace_ref(w, fn(_ref()))
    _replace_live(w, fn(_live()))


def _feature(payload: Any, name: str) -> dict[str, Any]:
    for f in payload["features"]:
        if f["feature"] == name:
            return f
    raise AssertionError(
        f"feature {name!r} not in the report: {[f['feature'] for f in payload['features']]}"
    )


def _too_few_rows_everywhere(w: World, command: str, payload: Any) -> None:
    if command == "psi":
        s = payload["summary"]
        assert s["drifted"] == s["watch"] == s["ok"] == 0, s
        assert s["too_few_rows"] == len(payload["features"]) > 0, s


# --------------------------------------------------------------------------- cases

CASES: list[Case] = []

# Commands whose findings a harmless timestamp variant must not change (check quality is
# left out on purpose: a changed timestamp type IS a schema finding there).
_SAME_ALL = ("psi", "slices", "timeline", "explain", "triage", "shadow")


def case(**kw: Any) -> None:
    CASES.append(Case(**kw))


def _missing_file(w: World) -> None:
    w.live = str(w.root / "nope" / "live.parquet")


case(
    id="missing-live-file",
    what="--live names a file that does not exist",
    target="live",
    build=_missing_file,
    expect="error",
    says=r"--live .*nope.*no such file",
    outcome="error naming --live and the path",
)


def _missing_ref(w: World) -> None:
    w.reference = str(w.root / "ref-missing.parquet")


case(
    id="missing-reference-file",
    what="--reference names a file that does not exist",
    target="reference",
    build=_missing_ref,
    expect="error",
    says=r"--reference .*ref-missing\.parquet.*no such file",
    outcome="error naming --reference and the path",
)


def _empty_dir(w: World) -> None:
    shutil.rmtree(w.live)
    Path(w.live).mkdir()


case(
    id="empty-directory",
    what="--live is a directory with no Parquet files",
    target="live",
    build=_empty_dir,
    expect="error",
    says=r"--live .*holds no Parquet files",
    outcome="error: directory holds no Parquet files",
)


def _dir_of_text(w: World) -> None:
    shutil.rmtree(w.live)
    Path(w.live).mkdir()
    (Path(w.live) / "notes.txt").write_text("not data\n")


case(
    id="directory-of-other-files",
    what="--live directory holds only a text file",
    target="live",
    build=_dir_of_text,
    expect="error",
    says=r"--live .*notes\.txt.*not a Parquet file",
    outcome="error naming the non-Parquet file",
)


def _empty_glob(w: World) -> None:
    w.live = str(w.root / "nothing-here" / "*.parquet")


case(
    id="empty-glob",
    what="--live glob matches no file",
    target="live",
    build=_empty_glob,
    expect="error",
    says=r"--live .*no files match this glob",
    outcome="error: no files match the glob",
)


def _truncated(w: World) -> None:
    data = Path(w.reference).read_bytes()
    Path(w.reference).write_bytes(data[: len(data) // 2])


case(
    id="truncated-parquet",
    what="--reference cut in half (a partial copy)",
    target="reference",
    build=_truncated,
    expect="error",
    says=r"--reference .*reference\.parquet.*not a Parquet file",
    outcome="error naming the file (no Parquet footer)",
)


def _corrupt_middle(w: World) -> None:
    data = bytearray(Path(w.reference).read_bytes())
    mid = len(data) // 2
    data[mid - 200 : mid + 200] = b"\x00" * 400
    Path(w.reference).write_bytes(bytes(data))


case(
    id="corrupt-parquet",
    what="--reference with its magic bytes intact but the data pages zeroed",
    target="reference",
    build=_corrupt_middle,
    expect="error",
    says=r"--reference .*reference\.parquet",
    outcome="error naming the file that cannot be decoded",
)


def _csv_as_parquet(w: World) -> None:
    p = w.root / "live.parquet"
    _live().write_csv(p)
    shutil.rmtree(w.live)
    w.live = str(p)


case(
    id="csv-named-parquet",
    what="--live is a CSV file renamed .parquet",
    target="live",
    build=_csv_as_parquet,
    expect="error",
    says=r"--live .*live\.parquet.*not a Parquet file",
    outcome="error naming the file: not a Parquet file",
)


def _zero_rows_live(w: World) -> None:
    _replace_live(w, _live().head(0))


case(
    id="zero-row-live",
    what="--live file with the right schema and no rows",
    target="live",
    build=_zero_rows_live,
    expect="error",
    says=r"--live .*has no rows",
    outcome="error: the live source has no rows",
)


def _zero_rows_ref(w: World) -> None:
    _replace_ref(w, _ref().head(0))


case(
    id="zero-row-reference",
    what="--reference file with the right schema and no rows",
    target="reference",
    build=_zero_rows_ref,
    expect="error",
    says=r"--reference .*has no rows",
    outcome="error: the reference has no rows",
)


def _one_partition_corrupt(w: World) -> None:
    parts = sorted(Path(w.live).rglob("*.parquet"))
    victim = parts[3]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 3])


case(
    id="partition-unreadable",
    what="--live hive directory where one partition file is truncated",
    target="live",
    build=_one_partition_corrupt,
    expect="error",
    says=r"--live .*day=2026-09-04.*not a Parquet file",
    outcome="error naming the unreadable partition file (never silently drops it)",
)


def _all_null_live(w: World) -> None:
    _replace_live(
        w, _live().with_columns(pl.lit(None, dtype=pl.Float64).alias("amount")), hive=True
    )


def _check_all_null(w: World, command: str, payload: Any) -> None:
    if command == "psi":
        f = _feature(payload, "amount")
        assert f["status"] == "drifted", f
        missing = [b for b in f["bins"] if b["bin"] == "__missing__"]
        assert missing and missing[0]["live_share"] == 1.0, missing


case(
    id="all-null-feature-live",
    what="a feature that is null in every live row",
    target="live",
    build=_all_null_live,
    expect="report",
    outcome="report: the feature drifts, all live rows in its missing bin",
    check=_check_all_null,
)


def _all_null_ref(w: World) -> None:
    _replace_ref(w, _ref().with_columns(pl.lit(None, dtype=pl.Float64).alias("ip_risk_score")))


def _check_all_null_ref(w: World, command: str, payload: Any) -> None:
    if command == "psi":
        f = _feature(payload, "ip_risk_score")
        assert f["reference_null_rate"] == 1.0 and f["status"] == "drifted", f


case(
    id="all-null-feature-reference",
    what="a feature that is null in every reference row",
    target="reference",
    build=_all_null_ref,
    expect="report",
    outcome="report: the feature is compared on its missing bin (live values are new)",
    check=_check_all_null_ref,
    skip=("check owners",),
)


def _nan_inf(df: pl.DataFrame, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    a = df["amount"].to_numpy().copy()
    idx = rng.choice(len(a), 30, replace=False)
    a[idx[:10]] = np.nan
    a[idx[10:20]] = np.inf
    a[idx[20:]] = -np.inf
    return df.with_columns(pl.Series("amount", a))


def _nan_inf_both(w: World) -> None:
    _replace_ref(w, _nan_inf(_ref(), 1))
    _replace_live(w, _nan_inf(_live(), 2), hive=True)


def _check_nan_inf(w: World, command: str, payload: Any) -> None:
    if command == "psi":
        f = _feature(payload, "amount")
        missing = [b for b in f["bins"] if b["bin"] == "__missing__"]
        # NaN is missing; ±inf are values in the outer bins: 10 of 1,600 live rows are NaN.
        assert missing and abs(missing[0]["live_share"] - 10 / 1600) < 1e-12, missing
        total = sum(b["live_count"] for b in f["bins"])
        assert total == 1600, total


case(
    id="nan-and-infinities",
    what="NaN, +inf and −inf in a numeric feature, both sides",
    target="both",
    build=_nan_inf_both,
    expect="report",
    outcome="report: NaN counted as missing, ±inf in the outer bins, no row lost",
    check=_check_nan_inf,
    skip=("check owners",),
)


def _string_in_live(w: World) -> None:
    _replace_live(w, _live().with_columns(pl.col("amount").round(2).cast(pl.String)), hive=True)


def _check_string_numeric(w: World, command: str, payload: Any) -> None:
    if command == "check quality":
        found = {(f["feature"], f["rule"], f["severity"]) for f in payload["findings"]}
        assert ("amount", "schema_dtype_change", "error") in found, found
    if command == "slices":  # text amounts are not a slice key, and the report says why
        assert any(n.startswith("amount:") for n in payload["notes"]), payload["notes"]


case(
    id="numeric-is-string-in-live",
    what="a numeric reference column arrives as strings in live",
    target="live",
    build=_string_in_live,
    expect="error",
    says=r"--live .*'amount' is String here but numeric in the reference",
    outcome="error naming the column and both types (check quality: a dtype-change finding)",
    check=_check_string_numeric,
    skip=("shadow",),
    per_command={"check quality": ("report", ""), "slices": ("report", "")},
)


def _int_float(w: World) -> None:
    _replace_ref(w, _ref().with_columns(pl.col("account_age_days").cast(pl.Int64)))
    _replace_live(w, _live().with_columns(pl.col("account_age_days").cast(pl.Float64)), hive=True)


def _check_int_float(w: World, command: str, payload: Any) -> None:
    if command == "psi":
        f = _feature(payload, "account_age_days")
        assert f["status"] == "ok", f
        assert f["psi"] < 0.05, f


case(
    id="int-reference-float-live",
    same_as_clean=("psi", "slices", "timeline", "explain", "triage"),
    what="int64 in the reference, float64 in live (same values)",
    target="both",
    build=_int_float,
    expect="report",
    outcome="report: compared as numbers, no drift",
    check=_check_int_float,
    skip=("check owners",),
)


def _high_card(w: World) -> None:
    n = 1_000_000
    live = pl.DataFrame(
        {
            "ts": np.datetime64(START, "ms") + np.arange(n) * np.timedelta64(864, "ms"),
            "merchant": pl.int_range(n, eager=True).cast(pl.String).str.pad_start(7, "m"),
            "amount": np.random.default_rng(3).lognormal(3.5, 0.8, n),
        }
    )
    rng = np.random.default_rng(4)
    ref = pl.DataFrame(
        {
            "ts": [START - dt.timedelta(days=30)] * 5000,
            "merchant": rng.choice([f"m{i:06d}" for i in range(50)], 5000),
            "amount": rng.lognormal(3.5, 0.8, 5000),
        }
    )
    _replace_ref(w, ref)
    _replace_live(w, live)
    w.extra["roles"] = ["--timestamp", "ts", "--categorical", "merchant"]


def _check_high_card(w: World, command: str, payload: Any) -> None:
    if command == "psi":
        f = _feature(payload, "merchant")
        assert f["status"] == "drifted", f
        labels = [b["bin"] for b in f["bins"]]
        assert len(labels) <= 60, len(labels)  # folded: 50 seen values + other/unseen/missing
        unseen = [b for b in f["bins"] if b["bin"] == "__unseen__"]
        assert unseen and unseen[0]["live_count"] >= 999_000, unseen


case(
    id="categorical-1e6-distinct",
    what="a categorical with 10⁶ distinct live values (50 in the reference)",
    target="both",
    build=_high_card,
    expect="report",
    outcome="report: folded into the reference's categories + unseen; memory bounded",
    check=_check_high_card,
    only=("psi", "check quality", "baseline create"),
)


def _dup_hive(w: World) -> None:
    # Files inside day=… partitions that also carry a ``day`` column of another type.
    live = _live().with_columns(pl.col("ts").dt.strftime("%Y%m%d").alias("day"))
    write_hive(live, Path(w.live))


def _check_dup_hive(w: World, command: str, payload: Any) -> None:
    from mlfail.io import open_source

    with pytest.warns(MlfailWarning, match="also columns inside the files"):
        src = open_source(w.live)
    # the files' own values (20260901 …), not the directory names (2026-09-01 …)
    assert src.lf.select(pl.col("day").min()).collect().item() == "20260901"


case(
    id="hive-column-duplicates-file-column",
    what="hive partitions day=… whose files also have a column named day",
    target="live",
    build=_dup_hive,
    expect="report",
    outcome="report + warning: the files' own column is kept, the directory names ignored",
    check=_check_dup_hive,
    skip=("shadow",),
)


_ODD_NAMES = {"amount": "montant €", "channel": "  canal  ", "geo": "地域"}


def _unicode_names(w: World) -> None:
    _both(w, lambda df: df.rename(_ODD_NAMES))


def _check_unicode(w: World, command: str, payload: Any) -> None:
    if command == "psi":
        names = {f["feature"] for f in payload["features"]}
        assert set(_ODD_NAMES.values()) <= names, names


case(
    id="unicode-and-whitespace-names",
    what="column names with unicode, € and leading/trailing spaces",
    target="both",
    build=_unicode_names,
    expect="report",
    outcome="report: names kept exactly",
    check=_check_unicode,
    skip=("check owners",),
)

INJECTION = {
    "amount": "=cmd|' /C calc'!A0",
    "channel": "<script>alert(1)</script>",
    "geo": "+SUM(1,2)",
    "account_age_days": "@evil | col",
}


def _injection(w: World) -> None:
    _both(w, lambda df: df.rename(INJECTION))


def _check_injection(w: World, command: str, payload: Any) -> None:
    if command == "psi":
        names = {f["feature"] for f in payload["features"]}
        assert set(INJECTION.values()) <= names, names


case(
    id="injection-column-names",
    what="column names that look like HTML or spreadsheet formulas (=cmd|…, <script>)",
    target="both",
    build=_injection,
    expect="report",
    outcome="report: JSON keeps names; HTML escapes, CSV/Markdown neutralise (see test_formats)",
    check=_check_injection,
    skip=("check owners",),
)


def _ts_string(w: World) -> None:
    _both(w, lambda df: df.with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S")))


case(
    id="timestamp-as-string",
    same_as_clean=_SAME_ALL,
    what="timestamps stored as ISO-8601 strings",
    target="both",
    build=_ts_string,
    expect="report",
    outcome="report: parsed as datetimes",
    skip=("check owners",),
)


def _ts_epoch(w: World) -> None:
    _both(w, lambda df: df.with_columns(pl.col("ts").dt.epoch("s")))


case(
    id="timestamp-as-epoch-seconds",
    same_as_clean=_SAME_ALL,
    what="timestamps stored as epoch seconds (int64)",
    target="both",
    build=_ts_epoch,
    expect="report",
    outcome="report: read as seconds since 1970-01-01 UTC",
    skip=("check owners",),
)


def _ts_epoch_ms(w: World) -> None:
    _both(w, lambda df: df.with_columns(pl.col("ts").dt.epoch("ms")))


case(
    id="timestamp-as-epoch-milliseconds",
    same_as_clean=_SAME_ALL,
    what="timestamps stored as epoch milliseconds (int64)",
    target="both",
    build=_ts_epoch_ms,
    expect="report",
    outcome="report: the unit is inferred from the magnitude",
    skip=("check owners",),
)


def _ts_tz(w: World) -> None:
    _both(w, lambda df: df.with_columns(pl.col("ts").dt.replace_time_zone("UTC")))


case(
    id="timestamp-with-time-zone",
    same_as_clean=_SAME_ALL,
    what="timezone-aware timestamps (UTC) on both sides",
    target="both",
    build=_ts_tz,
    expect="report",
    outcome="report",
    skip=("check owners",),
)


def _ts_mixed_tz(w: World) -> None:
    _replace_live(
        w,
        _live().with_columns(
            pl.col("ts").dt.replace_time_zone("UTC").dt.convert_time_zone("America/Sao_Paulo")
        ),
        hive=True,
    )


case(
    id="timestamp-zone-differs",
    same_as_clean=("psi", "slices", "timeline", "explain", "triage"),
    what="naive reference timestamps, live in America/Sao_Paulo",
    target="both",
    build=_ts_mixed_tz,
    expect="report",
    outcome="report: live instants compared in UTC",
    skip=("check owners", "shadow"),
)


def _ts_shuffled(w: World) -> None:
    _replace_live(w, _live().sample(fraction=1.0, shuffle=True, seed=9))


case(
    id="timestamps-out-of-order",
    same_as_clean=_SAME_ALL,
    what="live rows in random time order in one file",
    target="live",
    build=_ts_shuffled,
    expect="report",
    outcome="report: same as the sorted log",
)


def _ts_nulls(w: World) -> None:
    live = _live()
    ts = live["ts"].scatter(list(range(0, live.height, 40)), None)
    _replace_live(w, live.with_columns(ts))


def _check_ts_nulls(w: World, command: str, payload: Any) -> None:
    if command == "psi":
        assert {f["live_rows"] for f in payload["features"]} == {1600}
    if command == "timeline":  # 40 of the 1,600 rows have no time
        assert sum(win["rows"] for win in payload["windows"]) == 1560


case(
    id="timestamp-with-nulls",
    what="a live timestamp column with nulls (1 row in 40)",
    target="live",
    build=_ts_nulls,
    expect="report",
    outcome="report: rows without time are counted in totals, left out of time windows",
    check=_check_ts_nulls,
)


def _labels_missing(w: World) -> None:
    _replace_live(w, _live().with_columns(pl.lit(None, dtype=pl.Int8).alias("is_fraud")), hive=True)


def _check_no_labels(w: World, command: str, payload: Any) -> None:
    if command == "slices":
        assert payload["mode"] == "no_labels" and payload["global"]["labelled_rows"] == 0
    if command == "timeline":
        assert all(win["labelled_rows"] == 0 for win in payload["windows"])
        assert all(win["metric"] is None for win in payload["windows"])


case(
    id="labels-all-missing",
    what="live labels all null (labels not arrived yet)",
    target="live",
    build=_labels_missing,
    expect="report",
    outcome="report: label-free mode (prediction drift instead of error rates)",
    check=_check_no_labels,
)


def _labels_multi(w: World) -> None:
    _replace_live(
        w,
        _live().with_columns((pl.col("is_fraud") * 2 + (pl.col("score") > 0.9)).cast(pl.Int8)),
        hive=True,
    )


case(
    id="labels-not-binary",
    what="classification labels with values other than 0/1 (0, 1, 2, 3)",
    target="live",
    build=_labels_multi,
    expect="error",
    says=r"--label .*is_fraud.*(0/1|0 and 1|binary)",
    outcome="error naming --label and the unexpected values",
    only=("slices", "timeline", "explain", "triage", "shadow"),
)


def _pred_range(w: World) -> None:
    _replace_live(w, _live().with_columns(pl.col("score") * 8 - 3), hive=True)


case(
    id="prediction-outside-0-1",
    what="classification scores outside [0, 1] (logits) with the default threshold 0.5",
    target="live",
    build=_pred_range,
    expect="error",
    says=r"--prediction .*score.*\[0, 1\].*--threshold",
    outcome="error naming --prediction: pass --threshold or --task regression",
    only=("slices", "timeline", "explain", "triage", "shadow"),
)


def _absent_features(w: World) -> None:
    w.extra["args"] = ["--features", "amount,not_a_column"]


case(
    id="features-absent",
    what="--features names a column that does not exist",
    target="args",
    build=_absent_features,
    expect="error",
    says=r"not_a_column",
    outcome="error naming the column and --features",
    skip=("shadow", "slices"),  # slices takes --segment, not --features
)


def _ref_one_row(w: World) -> None:
    _replace_ref(w, _ref().head(1))


case(
    id="reference-one-row",
    what="a reference with one row",
    target="reference",
    build=_ref_one_row,
    expect="report",
    outcome="report: every feature 'too few rows', nothing flagged",
    check=_too_few_rows_everywhere,
    skip=("check owners",),
)


def _live_one_row(w: World) -> None:
    _replace_live(w, _live().tail(1), hive=True)


case(
    id="live-one-row",
    what="a live log with one row",
    target="live",
    build=_live_one_row,
    expect="report",
    outcome="report: 'too few rows', nothing flagged",
    check=_too_few_rows_everywhere,
)


def _one_slice(w: World) -> None:
    _replace_live(w, _live().with_columns(pl.lit("BR").alias("geo")), hive=True)


def _check_one_slice(w: World, command: str, payload: Any) -> None:
    if command == "psi":  # 25% BR in the reference, 100% live
        f = _feature(payload, "geo")
        assert f["status"] == "drifted", f
        assert [b["live_share"] for b in f["bins"] if b["bin"] == "BR"] == [1.0], f["bins"]


case(
    id="live-one-slice",
    what="every live row in the same slice (geo = BR)",
    target="live",
    build=_one_slice,
    expect="report",
    outcome="report: geo drifts (every live row is BR)",
    check=_check_one_slice,
)


def _metrics_layer(w: World) -> None:
    df = pl.read_parquet(w.metrics).with_columns(
        pl.when(pl.col("layer") == "infra")
        .then(pl.lit("network"))
        .otherwise("layer")
        .alias("layer")
    )
    df.write_parquet(w.metrics)


case(
    id="metrics-unknown-layer",
    what="a metrics file with a layer outside infra/pipeline/model/business",
    target="metrics",
    build=_metrics_layer,
    expect="error",
    says=r"--metrics .*unknown layer 'network'",
    outcome="error naming --metrics and the layer",
)


def _metrics_cols(w: World) -> None:
    pl.read_parquet(w.metrics).drop("layer").write_parquet(w.metrics)


case(
    id="metrics-missing-columns",
    what="a metrics file without its layer column",
    target="metrics",
    build=_metrics_cols,
    expect="error",
    says=r"--metrics .*missing column.*layer",
    outcome="error naming --metrics and the missing column",
)


def _changes_dates(w: World) -> None:
    Path(w.changes).write_text(
        "id,ts,kind,component,description\nCHG-1,last tuesday,deploy,feature-pipeline,x\n"
    )


case(
    id="changes-unparseable-date",
    what="a changes file with a date that cannot be parsed",
    target="changes",
    build=_changes_dates,
    expect="error",
    says=r"--changes .*(last tuesday|CHG-1)",
    outcome="error naming --changes, the event and the value",
)


def _changes_dups(w: World) -> None:
    Path(w.changes).write_text(
        "id,ts,kind,component,description\n"
        "CHG-1,2026-09-03T10:00:00,deploy,feature-pipeline,a\n"
        "CHG-1,2026-09-07T10:00:00,deploy,model-serving,b\n"
    )


case(
    id="changes-duplicate-ids",
    what="a changes file with the same id twice",
    target="changes",
    build=_changes_dups,
    expect="error",
    says=r"--changes .*duplicate (event )?id.*CHG-1",
    outcome="error naming --changes and the id",
)


def _changes_future(w: World) -> None:
    Path(w.changes).write_text(
        "id,ts,kind,component,description\n"
        "CHG-2,2026-09-07T02:00:00,deploy,feature-pipeline,feature pipeline 1.5 on BR\n"
        "CHG-9,2031-01-01T00:00:00,deploy,model-serving,planned\n"
    )


def _check_future(w: World, command: str, payload: Any) -> None:
    # triage's change_events lists every event of --changes (inputs, not causes)
    causes = {k: v for k, v in payload.items() if k != "change_events"}
    assert "CHG-9" not in json.dumps(causes), "an event after the data was used as a cause"


case(
    id="changes-in-the-future",
    what="a change event dated after the end of the live data",
    target="changes",
    build=_changes_future,
    expect="report",
    outcome="report: the future event is never named as a cause",
    check=_check_future,
)


def _owners_syntax(w: World) -> None:
    Path(w.owners).write_text('[components.feature-pipeline\nowner = "data-eng"\n')


case(
    id="owners-syntax-error",
    what="owners.toml with a TOML syntax error",
    target="owners",
    build=_owners_syntax,
    expect="error",
    says=r"--owners .*owners\.toml:1: invalid TOML",
    outcome="error naming the file and the line",
)


def _owners_dup(w: World) -> None:
    Path(w.owners).write_text(
        Path(w.owners).read_text()
        + '\n[components.feature-pipeline]\nowner = "other"\nfeatures = ["geo"]\n'
    )


case(
    id="owners-duplicate-component",
    what="owners.toml defining the same component twice",
    target="owners",
    build=_owners_dup,
    expect="error",
    says=r"--owners .*owners\.toml.*feature-pipeline",
    outcome="error naming the file and the component",
)


def _owners_unknown(w: World) -> None:
    Path(w.owners).write_text(
        Path(w.owners).read_text()
        + '\n[components.legacy]\nowner = "old-team"\nfeatures = ["no_such_feature"]\n'
    )


def _check_unknown_owner(w: World, command: str, payload: Any) -> None:
    if command == "check owners":
        gaps = {(g["kind"], g["subject"]) for g in payload["gaps"]}
        assert ("unknown_feature", "no_such_feature") in gaps, gaps


case(
    id="owners-unknown-feature",
    what="owners.toml naming a feature the data does not have",
    target="owners",
    build=_owners_unknown,
    expect="report",
    outcome="report (check owners lists the unknown feature)",
    check=_check_unknown_owner,
)


def _real_baseline(w: World) -> dict[str, Any]:
    from typer.testing import CliRunner

    from mlfail.cli.app import app

    w.baseline = str(w.root / "baseline.json")
    argv = ["baseline", "create", "--reference", w.reference, *ROLES, "--out", w.baseline]
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 0, r.stderr
    w.extra["use_baseline"] = ["1"]
    return dict(json.loads(Path(w.baseline).read_text()))


def _baseline_version(w: World) -> None:
    doc = _real_baseline(w)
    doc["schema_version"] = 99
    Path(w.baseline).write_text(json.dumps(doc))


case(
    id="baseline-newer-schema",
    what="--baseline written by a newer mlfail (schema_version 99)",
    target="baseline",
    build=_baseline_version,
    expect="error",
    says=r"--baseline .*baseline\.json.*schema_version",
    outcome="error naming the file and the version",
)


def _baseline_truncated(w: World) -> None:
    _real_baseline(w)
    text = Path(w.baseline).read_text()
    Path(w.baseline).write_text(text[: len(text) // 2])


case(
    id="baseline-truncated",
    what="--baseline JSON cut off mid-file",
    target="baseline",
    build=_baseline_truncated,
    expect="error",
    says=r"--baseline .*baseline\.json",
    outcome="error naming the file (not valid JSON)",
)


def _baseline_foreign(w: World) -> None:
    w.baseline = str(w.root / "baseline.json")
    Path(w.baseline).write_text(json.dumps({"version": 1, "metrics": [{"name": "psi"}]}))
    w.extra["use_baseline"] = ["1"]


case(
    id="baseline-of-another-tool",
    what="--baseline is a JSON file from another tool",
    target="baseline",
    build=_baseline_foreign,
    expect="error",
    says=r"--baseline .*baseline\.json.*not an mlfail baseline",
    outcome="error naming the file: not an mlfail baseline",
)


def _out_missing_dir(w: World) -> None:
    w.extra["output"] = [str(w.root / "no" / "such" / "dir" / "report.out")]


case(
    id="output-missing-directory",
    what="--output into a directory that does not exist",
    target="output",
    build=_out_missing_dir,
    expect="error",
    says=r"--(output|out) .*does not exist",
    outcome="error naming the flag and the directory",
)


def _out_parent_file(w: World) -> None:
    blocker = w.root / "blocker"
    blocker.write_text("a file where a directory should be\n")
    w.extra["output"] = [str(blocker / "report.out")]


case(
    id="output-directory-is-a-file",
    what="--output under a path whose parent is a regular file (unwritable)",
    target="output",
    build=_out_parent_file,
    expect="error",
    says=r"--(output|out) .*blocker",
    outcome="error naming the flag and the path",
)


def _out_readonly(w: World) -> None:
    ro = w.root / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    w.extra["output"] = [str(ro / "report.out")]
    w.extra["readonly"] = [str(ro)]


case(
    id="output-read-only-directory",
    what="--output into a read-only directory",
    target="output",
    build=_out_readonly,
    expect="error",
    says=r"--(output|out) .*(permission|read-only|not writable)",
    outcome="error naming the flag: directory not writable",
)


def _out_exists(w: World) -> None:
    existing = w.root / "existing.out"
    existing.write_text("keep me\n")
    w.extra["output"] = [str(existing)]
    w.extra["keep"] = [str(existing)]


case(
    id="output-exists-without-force",
    what="--output names an existing file and --force is not given",
    target="output",
    build=_out_exists,
    expect="error",
    says=r"--(output|out) .*existing\.out.*--force",
    outcome="error: file exists, pass --force; the file is unchanged",
)


def _cand_no_id(w: World) -> None:
    pl.read_parquet(w.candidate).rename({"event_id": "row"}).write_parquet(w.candidate)


case(
    id="candidate-without-id-column",
    what="--candidate-source without the --id column",
    target="candidate",
    build=_cand_no_id,
    expect="error",
    says=r"--candidate-source .*event_id",
    outcome="error naming --candidate-source and the missing --id column",
)


def _cand_dup_ids(w: World) -> None:
    c = pl.read_parquet(w.candidate)
    pl.concat([c, c.head(5)]).write_parquet(w.candidate)


case(
    id="candidate-duplicate-ids",
    what="--candidate-source with the same id on several rows",
    target="candidate",
    build=_cand_dup_ids,
    expect="error",
    says=r"--candidate-source .*duplicate.*event_id",
    outcome="error: ids must be unique (a join would double rows)",
)


def _no_ts_live(w: World) -> None:
    _replace_live(w, _live().drop("ts"), hive=False)


case(
    id="live-missing-role-column",
    what="the --timestamp column is absent from live",
    target="live",
    build=_no_ts_live,
    expect="error",
    says=r"--live .*'ts'.*--timestamp|--timestamp ts: no such column in --live",
    outcome="error naming the column, the flag and the source (psi and check quality: report)",
    skip=("shadow",),
    per_command={"psi": ("report", ""), "check quality": ("report", "")},
)


def _extra_live_col(w: World) -> None:
    _replace_live(w, _live().with_columns(pl.lit(1.0).alias("brand_new_feature")), hive=True)


def _check_new_column(w: World, command: str, payload: Any) -> None:
    if command == "check quality":
        found = {(f["feature"], f["rule"]) for f in payload["findings"]}
        assert ("brand_new_feature", "schema_new_column") in found, found
    if command == "psi":
        assert "brand_new_feature" not in {f["feature"] for f in payload["features"]}


case(
    id="live-has-new-column",
    what="live has a column the reference never had",
    target="live",
    build=_extra_live_col,
    expect="report",
    outcome="report: the new column is named (schema change), not compared",
    check=_check_new_column,
)


def _labels_strings(w: World) -> None:
    _replace_live(
        w,
        _live().with_columns(
            pl.when(pl.col("is_fraud") == 1)
            .then(pl.lit("yes"))
            .otherwise(pl.lit("no"))
            .alias("is_fraud")
        ),
        hive=True,
    )


case(
    id="labels-as-strings",
    what="labels stored as the strings 'yes'/'no' in live (0/1 in the reference)",
    target="live",
    build=_labels_strings,
    expect="error",
    says=r"--label .*is_fraud",
    outcome="error naming --label and the type",
    only=("slices", "timeline", "explain", "triage", "shadow"),
)

"""Polars engine vs Spark engine (local mode) on one generated dataset: same counts, timings.

    .venv/bin/python benchmarks/engines.py --rows 1M --runs 3      # writes benchmarks/results/

For each engine, in one process (the Spark session is started once and timed separately):

* ``specs``: the bin specs of the reference (Polars: exact quantiles; Spark: approxQuantile);
* ``count live ()``: the live count table without keys;
* ``count live (seg_geo, day)``: by a segment column and the UTC day of ``ts``.

Both engines count with the Polars specs, and the script checks that their tables are identical
(it exits 1 otherwise). It records the size of what Spark collects to the driver (rows and
``DataFrame.estimated_size()`` of the count table) and the sample data's tables for
``psi --by geo`` and the per-day timeline keys. Medians of ``--runs`` after one warm-up run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import polars as pl  # noqa: E402
from generate import generate, parse_rows  # noqa: E402

from mlfail.binning import BinSettings  # noqa: E402
from mlfail.config import Roles, select_features  # noqa: E402
from mlfail.engines import Day  # noqa: E402
from mlfail.engines.polars import PolarsEngine  # noqa: E402
from mlfail.engines.spark import SparkEngine  # noqa: E402


def timed(fn: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    fn()  # warm-up
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return times, out


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def sorted_table(t: pl.DataFrame) -> pl.DataFrame:
    return t.sort([c for c in t.columns if c != "n"], nulls_last=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", default="1M")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--data", type=Path, default=HERE / "data")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    ap.add_argument("--date", default=time.strftime("%Y-%m-%d"))
    args = ap.parse_args(argv)
    rows = parse_rows(args.rows)
    d = generate(args.data, rows, 40)
    ref_path, live_path = str(d / "reference.parquet"), str(d / "live.parquet")
    load_before = loadavg()

    t0 = time.perf_counter()
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(args.master)
        .appName("mlfail-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    session_s = time.perf_counter() - t0

    pe, se = PolarsEngine(progress=False), SparkEngine(spark)
    roles = Roles(timestamp="ts", label="label", prediction="score")
    p_ref, s_ref = pe.open(ref_path, role="--reference"), se.open(ref_path, role="--reference")
    p_live, s_live = pe.open(live_path, role="--live"), se.open(live_path, role="--live")
    features, _ = select_features(p_ref.schema, roles)
    settings = BinSettings()
    cases: list[dict[str, Any]] = []

    def record(engine: str, case: str, times: list[float], **extra: Any) -> None:
        cases.append(
            {
                "engine": engine,
                "case": case,
                "runs_s": [round(t, 3) for t in times],
                "median_s": round(statistics.median(times), 3),
                **extra,
            }
        )
        print(f"{engine:7} {case:28} median {statistics.median(times):8.2f} s", file=sys.stderr)

    times, specs = timed(lambda: pe.build_specs(p_ref, features, settings=settings), args.runs)
    record("polars", "specs (exact quantiles)", times)
    times, _ = timed(lambda: se.build_specs(s_ref, features, settings=settings), args.runs)
    record("spark", "specs (approxQuantile 1e-4)", times)

    identical = True
    for label, keys in (
        ("count live ()", ()),
        ("count live (seg_geo, day)", ("seg_geo", Day("ts"))),
    ):
        tp, a = timed(lambda keys=keys: pe.count(p_live, specs, keys), args.runs)
        record("polars", label, tp, rows=a.height)
        ts, b = timed(lambda keys=keys: se.count(s_live, specs, keys), args.runs)
        same = sorted_table(a).equals(sorted_table(b))
        identical &= same
        record(
            "spark", label, ts, rows=b.height, collected_bytes=b.estimated_size(), identical=same
        )

    # what travels to the driver on the committed sample
    root = HERE.parent
    sp_ref = pe.open(str(root / "sample_data" / "reference.parquet"), role="--reference")
    s_feats, _ = select_features(
        sp_ref.schema,
        Roles(
            timestamp="ts",
            label="is_fraud",
            prediction="score",
            meta=("pipeline_version", "sdk_version"),
        ),
    )
    s_specs = pe.build_specs(sp_ref, s_feats, settings=settings)
    s_src = se.open(str(root / "sample_data" / "live"), role="--live")
    sample: list[dict[str, Any]] = []
    for label, keys in (("()", ()), ("(geo)", ("geo",)), ("(day)", (Day("ts"),)),
                        ("(geo, day)", ("geo", Day("ts")))):  # fmt: skip
        t = se.count(s_src, s_specs, keys)
        sample.append({"keys": label, "features": len(s_specs), "rows": t.height,
                       "bytes": t.estimated_size()})  # fmt: skip
    spark.stop()

    import pyspark

    result = {
        "date": args.date,
        "dataset": d.name,
        "rows": rows,
        "features": len(features),
        "master": args.master,
        "spark_session_start_s": round(session_s, 2),
        "identical": identical,
        "cases": cases,
        "sample_collected": sample,
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "load_before": load_before,
            "load_after": loadavg(),
        },
        "versions": {
            "python": platform.python_version(),
            "polars": pl.__version__,
            "pyspark": pyspark.__version__,
        },
    }
    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / f"{args.date}-engines"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# Polars vs Spark engine — {args.date}",
        "",
        f"- dataset: `{d.name}` from benchmarks/generate.py ({rows:,} rows per side, "
        f"{len(features)} features)",
        f"- Spark {pyspark.__version__} `{args.master}`, Polars {pl.__version__}, Python "
        f"{platform.python_version()}; {os.cpu_count()} cores; load average "
        f"{load_before} → {loadavg()} (the machine is shared)",
        f"- Spark session start (JVM): {session_s:.1f} s, not included below",
        f"- medians of {args.runs} runs after one warm-up, in one process",
        f"- count tables identical (Spark vs Polars, same specs): **{identical}**",
        "",
        "| engine | case | median s | runs s | table rows | collected bytes |",
        "|---|---|---|---|---|---|",
    ]
    for c in cases:
        lines.append(
            f"| {c['engine']} | {c['case']} | {c['median_s']:.2f} | "
            f"{', '.join(f'{t:.2f}' for t in c['runs_s'])} | {c.get('rows', '')} | "
            f"{c.get('collected_bytes', '')} |"
        )
    lines += [
        "",
        "## What Spark collects to the driver on the sample (`sample_data/live`)",
        "",
        "| keys | features | count-table rows | bytes (`estimated_size`) |",
        "|---|---|---|---|",
        *(f"| {s['keys']} | {s['features']} | {s['rows']} | {s['bytes']:,} |" for s in sample),
        "",
    ]
    stem.with_suffix(".md").write_text("\n".join(lines))
    print(stem.with_suffix(".md").read_text())
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())

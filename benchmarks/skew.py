"""Benchmark ``mlfail skew`` at 5M × 40 per side (issue 16): wall time as a ratio to a bare
streaming scan of both sides, and peak RSS (``/usr/bin/time -v``), each a separate process.

    PYTHONPATH=. python benchmarks/skew.py --rows 5000000 --features 40 --data /tmp/skew-bench

The data is generated here (seeded, written in 1M-row files per side; not committed). Planted
skew on the served side: f00 ×100 on platform=android, f01 null on 2% of rows, f02 rounded
to 2 decimals, c00 recased on 5% of rows; every other feature carries float noise below the
tolerance (relative 1e-9), so it must count zero mismatches. 0.5% of the ids are served-only,
0.3% offline-only and 1,000 served ids are duplicated.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import measure  # noqa: E402

# the limit: decode every column of both sides (each side on its own: their schemas differ)
BARE_SCAN = (
    "import sys, polars as pl\n"
    "for d in sys.argv[1:]:\n"
    "    pl.scan_parquet(d + '/*.parquet').select(pl.all().null_count())"
    ".collect(engine='streaming')\n"
)
CHUNK = 1_000_000
SEED = 16


def _chunk(rng: np.random.Generator, lo: int, n: int, features: int) -> tuple[pl.DataFrame, ...]:
    ids = np.arange(lo, lo + n, dtype=np.int64)
    plat = rng.choice(np.array(["android", "ios", "web"]), n, p=[0.3, 0.45, 0.25])
    cols = {f"f{i:02d}": rng.normal(50, 10, n) for i in range(features - 1)}
    cat = rng.choice(np.array(["de", "fr", "us", "gb"]), n)
    off = pl.DataFrame({"request_id": ids, **cols, "c00": cat})
    noisy = {k: v * (1 + rng.normal(0, 1e-9, n)) for k, v in cols.items()}
    noisy["f00"] = np.where(plat == "android", cols["f00"] * 100, cols["f00"])
    noisy["f01"] = np.where(rng.random(n) < 0.02, np.nan, cols["f01"])
    noisy["f02"] = np.round(cols["f02"], 2)
    served_cat = np.where(rng.random(n) < 0.05, np.char.upper(cat), cat)
    srv = pl.DataFrame(
        {"request_id": ids, "platform": plat, **noisy, "c00": served_cat}
    ).with_columns(pl.col("f01").fill_nan(None))
    return srv, off


def generate(out: Path, rows: int, features: int) -> tuple[str, str]:
    srv_dir, off_dir = out / "serving", out / "offline"
    if (out / "done.json").exists():
        meta = json.loads((out / "done.json").read_text())
        if meta == {"rows": rows, "features": features}:
            return str(srv_dir), str(off_dir)
    srv_dir.mkdir(parents=True, exist_ok=True)
    off_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    for k, lo in enumerate(range(0, rows, CHUNK)):
        n = min(CHUNK, rows - lo)
        srv, off = _chunk(rng, lo, n, features)
        keep_s = rng.random(n) >= 0.003  # offline-only ids: missing from serving
        keep_o = rng.random(n) >= 0.005  # serving-only ids: missing offline
        srv = srv.filter(pl.Series(keep_s))
        if k == 0:
            srv = pl.concat([srv, srv.head(1000)])  # duplicated served ids
        srv.write_parquet(srv_dir / f"part-{k}.parquet")
        off.filter(pl.Series(keep_o)).write_parquet(off_dir / f"part-{k}.parquet")
    (out / "done.json").write_text(json.dumps({"rows": rows, "features": features}))
    return str(srv_dir), str(off_dir)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--features", type=int, default=40)
    ap.add_argument("--data", type=Path, default=Path("/tmp/mlfail-skew-bench"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="JSON with the raw numbers")
    args = ap.parse_args()
    srv, off = generate(args.data, args.rows, args.features)
    py = sys.executable
    scan = [py, "-c", BARE_SCAN, srv, off]
    skew = [py, "-m", "mlfail", "skew", "--serving", srv, "--offline", off]
    skew += ["--id", "request_id", "--segment", "platform", "--format", "json"]
    report = args.data / "skew.json"
    results: dict[str, list[tuple[float, float, int]]] = {"scan": [], "skew": []}
    for i in range(args.runs + 1):  # run 0 is the warm-up
        for name, argv, out in (("scan", scan, None), ("skew", skew, report)):
            run, status, tail = measure(argv, out, timeout=1800, mem_cap_kb=4 << 20)
            if run is None:
                raise SystemExit(f"{name}: {status}: {tail}")
            print(f"{name} run {i}: {run.wall:.2f} s, {run.rss_mb:.0f} MB, rc {run.rc}")
            if i:
                results[name].append((run.wall, run.rss_mb, run.rc))
    med = {k: statistics.median(w for w, _, _ in v) for k, v in results.items()}
    peak = {k: max(r for _, r, _ in v) for k, v in results.items()}
    data = json.loads(report.read_text())
    summary = {
        "date": dt.date.today().isoformat(),
        "rows": args.rows,
        "features": args.features,
        "python": platform.python_version(),
        "polars": pl.__version__,
        "cores": os.cpu_count(),
        "load": os.getloadavg(),
        "median_s": med,
        "peak_rss_mb": peak,
        "runs": results,
        "ratio": med["skew"] / med["scan"],
        "join": data["join"],
        "skewed": [
            (f["feature"], f["mismatches"], f["pattern"]["kind"])
            for f in data["features"]
            if f["status"] == "skewed"
        ],
        "noise_mismatches": sum(
            f["mismatches"]
            for f in data["features"]
            if f["feature"] not in ("f00", "f01", "f02", "c00")
        ),
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()

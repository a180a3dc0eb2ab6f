"""Seeded benchmark data: a reference and a live Parquet file per size (``make bench`` calls it).

Layout (under ``--out``, default ``benchmarks/data/``, git-ignored)::

    n{rows}_c{features}/reference.parquet
    n{rows}_c{features}/live.parquet
    n{rows}_c{features}/manifest.json      # seed, rows, columns, planted drift

Columns (the 40-feature shape; the wide shape repeats the same recipe to 160 features):

* 30 numeric features ``num_00``…: normal floats, large-range integers (more than 20 distinct
  values, so they are binned by quantiles), heavy-tailed floats (lognormal, Pareto,
  Student-t), uniform floats; every fourth one has 2% nulls.
* 10 string categoricals ``cat_00``…: 5 to 500 categories with Zipf-like frequencies (the rare
  tail of the big ones is folded into ``__other__`` by mlfail's default settings).
* roles: ``ts`` (datetime), ``label`` (0/1), ``score`` (float in (0, 1)).
* 8 low-cardinality segment columns ``seg_*`` (3 to 20 values), the slice keys.

The live side carries planted drift (see ``DRIFT``): a mean shift, a ×100 unit change for one
segment value, a null spike, unseen categories and a category-mix change. Everything else is
drawn from the same distributions as the reference.

Memory stays bounded: rows are generated and written one row group (``CHUNK`` rows) at a time
with pyarrow's ``ParquetWriter``. Every chunk has its own seed, so a file is reproducible.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SEED = 20261126
CHUNK = 250_000
NUMERIC_KINDS = ("normal", "int", "lognormal", "pareto", "student_t", "uniform")
CARDINALITIES = (5, 8, 12, 20, 35, 50, 100, 200, 350, 500)
SEGMENTS = {
    "seg_geo": 8,
    "seg_channel": 3,
    "seg_device": 4,
    "seg_tier": 5,
    "seg_region": 12,
    "seg_os": 6,
    "seg_version": 4,
    "seg_partner": 20,
}
DRIFT = {
    "num_00": "mean shift of +0.5 standard deviations",
    "num_01": "integers ×100 where seg_geo == 'g1' (a unit change in one segment)",
    "num_03": "null rate 2% → 20%",
    "cat_01": "10% of rows take values never seen in the reference",
    "cat_03": "category mix reversed (rare categories become common)",
}
REF_START = np.datetime64("2026-07-01T00:00:00", "us")
LIVE_START = np.datetime64("2026-09-01T00:00:00", "us")


def parse_rows(text: str) -> int:
    t = text.strip().lower().replace("_", "")
    mult = 1
    if t.endswith("m"):
        mult, t = 1_000_000, t[:-1]
    elif t.endswith("k"):
        mult, t = 1_000, t[:-1]
    return int(float(t) * mult)


def dataset_dir(out: Path, rows: int, features: int) -> Path:
    return out / f"n{rows}_c{features}"


def feature_names(features: int) -> tuple[list[str], list[str]]:
    """(numeric, categorical) names: 3 numeric per categorical, as in the 30 + 10 shape."""
    n_cat = features // 4
    n_num = features - n_cat
    return [f"num_{i:02d}" for i in range(n_num)], [f"cat_{j:02d}" for j in range(n_cat)]


def _zipf(k: int, s: float = 1.1) -> np.ndarray:
    w = 1.0 / np.arange(1, k + 1) ** s
    return w / w.sum()


def _vocab(j: int, k: int) -> pa.Array:
    return pa.array([f"c{j:02d}_v{v:03d}" for v in range(k)], type=pa.string())


def _numeric(rng: np.random.Generator, i: int, n: int) -> np.ndarray:
    kind = NUMERIC_KINDS[i % len(NUMERIC_KINDS)]
    loc = (i % 7) - 3.0
    if kind == "normal":
        return rng.normal(loc, 1.0 + (i % 3), n)
    if kind == "int":
        return rng.integers(0, 10_000 * (1 + i % 5), n)
    if kind == "lognormal":
        return rng.lognormal(1.0, 1.0, n)
    if kind == "pareto":
        return rng.pareto(1.5, n) + 1.0
    if kind == "student_t":
        return rng.standard_t(2.0, n) + loc
    return rng.uniform(loc, loc + 10.0, n)


def make_chunk(seed: int, side: str, start: int, n: int, features: int) -> pa.Table:
    live = side == "live"
    rng = np.random.default_rng([SEED, seed, 1 if live else 0, start, features])
    num_names, cat_names = feature_names(features)
    cols: dict[str, pa.Array] = {}

    seg_codes: dict[str, np.ndarray] = {}
    for name, k in SEGMENTS.items():
        codes = rng.choice(k, size=n, p=_zipf(k, 0.8))
        seg_codes[name] = codes
        vocab = pa.array([f"{name[4]}{v}" for v in range(k)], type=pa.string())
        cols[name] = vocab.take(pa.array(codes))

    for i, name in enumerate(num_names):
        x = _numeric(rng, i, n)
        null_rate = 0.02 if i % 4 == 3 else 0.0
        if live and name == "num_00":
            x = x + 0.5 * (1.0 + (i % 3))
        if live and name == "num_01":
            x = np.where(seg_codes["seg_geo"] == 1, x * 100, x)
        if live and name == "num_03":
            null_rate = 0.20
        mask = rng.random(n) < null_rate if null_rate else None
        cols[name] = pa.array(x, mask=mask)

    for j, name in enumerate(cat_names):
        k = CARDINALITIES[j % len(CARDINALITIES)]
        p = _zipf(k)
        if live and name == "cat_03":
            p = p[::-1].copy()
        codes = rng.choice(k, size=n, p=p)
        values = _vocab(j, k).take(pa.array(codes))
        if live and name == "cat_01":
            unseen = rng.random(n) < 0.10
            new = pa.array([f"c{j:02d}_new{v}" for v in range(3)], type=pa.string())
            new_vals = new.take(pa.array(rng.integers(0, 3, n)))
            values = pc.if_else(pa.array(unseen), new_vals, values)
        cols[name] = values

    z = 0.8 * np.nan_to_num(cols[num_names[0]].to_numpy(zero_copy_only=False)) - 1.5
    if live:
        z = z + np.where(seg_codes["seg_geo"] == 1, 1.0, 0.0)
    score = 1.0 / (1.0 + np.exp(-z))
    cols["score"] = pa.array(score)
    cols["label"] = pa.array((rng.random(n) < score).astype(np.int64))
    span = 30 if live else 60
    offs = np.sort(rng.integers(0, span * 86_400_000_000, n))
    base = LIVE_START if live else REF_START
    cols["ts"] = pa.array(base + offs.astype("timedelta64[us]"))
    return pa.table(cols)


def write_side(path: Path, side: str, rows: int, features: int, seed: int) -> None:
    tmp = path.with_suffix(".parquet.tmp")
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, rows, CHUNK):
            table = make_chunk(seed, side, start, min(CHUNK, rows - start), features)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=CHUNK)
    finally:
        if writer is not None:
            writer.close()
    os.replace(tmp, path)


def generate(out: Path, rows: int, features: int, *, seed: int = 0, force: bool = False) -> Path:
    """Write (or reuse) one reference/live pair; return its directory."""
    d = dataset_dir(out, rows, features)
    manifest = {
        "seed": SEED + seed,
        "rows": rows,
        "features": features,
        "chunk": CHUNK,
        "numeric": feature_names(features)[0],
        "categorical": feature_names(features)[1],
        "segments": list(SEGMENTS),
        "roles": {"timestamp": "ts", "label": "label", "prediction": "score"},
        "drift": DRIFT,
        "generator_version": 1,
    }
    mpath = d / "manifest.json"
    have = all((d / f).exists() for f in ("reference.parquet", "live.parquet", "manifest.json"))
    if not force and have and json.loads(mpath.read_text()) == manifest:
        return d
    d.mkdir(parents=True, exist_ok=True)
    for side in ("reference", "live"):
        print(
            f"generating {d / side}.parquet ({rows:,} rows × {features} features)", file=sys.stderr
        )
        write_side(d / f"{side}.parquet", side, rows, features, seed)
    mpath.write_text(json.dumps(manifest, indent=2) + "\n")
    return d


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    ap.add_argument("--rows", default="1M,2M,5M", help="comma-separated sizes, e.g. 1M,2M,5M")
    ap.add_argument("--features", type=int, default=40)
    ap.add_argument("--wide", action="store_true", help="also the 160-feature variant at 1M rows")
    ap.add_argument("--force", action="store_true", help="regenerate even if present")
    args = ap.parse_args(argv)
    for r in args.rows.split(","):
        print(generate(args.out, parse_rows(r), args.features, force=args.force))
    if args.wide:
        print(generate(args.out, 1_000_000, 160, force=args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

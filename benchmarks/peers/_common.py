"""Shared by the peer scripts (run in benchmarks/.peers-venv, never in mlfail's venv)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd


def args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", required=True)
    ap.add_argument("--live", required=True)
    ap.add_argument("--numeric", required=True, help="comma-separated numeric features")
    ap.add_argument("--categorical", default="", help="comma-separated categorical features")
    ap.add_argument("--out", type=Path, help="write {feature: psi} here as JSON")
    a = ap.parse_args()
    a.numeric = [c for c in a.numeric.split(",") if c]
    a.categorical = [c for c in a.categorical.split(",") if c]
    return a


def read(path: str, columns: list[str]) -> pd.DataFrame:
    """What a peer user does: load the Parquet file into pandas."""
    return pd.read_parquet(path, columns=columns)


def write(out: Path | None, values: dict[str, float]) -> None:
    if out is not None:
        out.write_text(json.dumps({k: float(v) for k, v in values.items()}, indent=1))

"""``mlfail skew`` on the command line: exit codes, the JSON contract, formats and the
one-line errors (exit 2) of issue 16."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
from typer.testing import CliRunner

from mlfail.cli.app import app

runner = CliRunner()


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["skew", *args])


def _err(r) -> str:  # type: ignore[no-untyped-def]
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("mlfail: error: ")
    return lines[0]


def _files(tmp_path: Path, skewed: bool = True) -> tuple[str, str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 3000
    plat = rng.choice(["android", "ios"], n)
    b = np.round(rng.lognormal(3, 1, n), 2)
    a = np.where(plat == "android", b * 100, b) if skewed else b.copy()
    off = pl.DataFrame({"rid": np.arange(n), "amount": b, "geo": rng.choice(["de", "fr"], n)})
    srv = off.with_columns(pl.Series("amount", a), platform=pl.Series(plat))
    s, o = tmp_path / "serving.parquet", tmp_path / "offline.parquet"
    srv.write_parquet(s)
    off.write_parquet(o)
    return str(s), str(o), plat


def test_json_contract_and_exit_1(tmp_path: Path) -> None:
    s, o, plat = _files(tmp_path)
    r = run("--serving", s, "--offline", o, "--id", "rid", "--segment", "platform", "-f", "json")
    assert r.exit_code == 1, r.stderr
    d = json.loads(r.stdout)
    assert d["schema_version"] == 1
    assert set(d["join"]) >= {
        "serving_rows",
        "offline_rows",
        "matched",
        "serving_only",
        "offline_only",
        "duplicate_ids_serving",
        "duplicate_ids_offline",
    }
    assert d["join"]["matched"] == 3000 and d["settings"]["duplicates"] == "first"
    amount = d["features"][0]
    assert amount["feature"] == "amount" and amount["status"] == "skewed"
    assert amount["mismatches"] == int((plat == "android").sum())
    assert amount["mismatch_rate"] == amount["mismatches"] / 3000
    assert amount["pattern"]["kind"] == "scale" and amount["pattern"]["factor"] == 100.0
    seg = amount["segments"][0]
    assert seg["slice"] == {"platform": "android"} and seg["mismatch_rate"] == 1.0
    assert {
        "feature",
        "kind",
        "compared",
        "serving_null_only",
        "offline_null_only",
        "examples",
    } <= set(amount)
    geo = next(f for f in d["features"] if f["feature"] == "geo")
    assert (geo["mismatches"], geo["status"]) == (0, "ok")


def test_exit_0_when_clean_fail_on_never_and_formats(tmp_path: Path) -> None:
    s, o, _ = _files(tmp_path, skewed=False)
    assert run("--serving", s, "--offline", o, "--id", "rid").exit_code == 0
    s, o, _ = _files(tmp_path)
    r = run("--serving", s, "--offline", o, "--id", "rid", "--fail-on", "never")
    assert r.exit_code == 0 and "×100" in r.stdout and "skewed" in r.stdout
    out = tmp_path / "skew.md"
    args = ("--serving", s, "--offline", o, "--id", "rid", "--segment", "platform")
    r = run(*args, "-f", "markdown", "--output", str(out))
    assert r.exit_code == 1 and out.read_text().startswith("## Training-serving skew: 1 feature")
    assert "all in platform=android" in out.read_text()
    assert _err(run(*args, "--output", str(out))).endswith("pass --force to overwrite it")
    assert run(*args, "--output", str(out), "--force").exit_code == 1
    # --max-mismatch above the rate: a mismatch, not skew
    r = run(*args, "--max-mismatch", "0.9", "-f", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["features"][0]["status"] == "mismatch"


def test_where_filters_the_serving_side(tmp_path: Path) -> None:
    s, o, plat = _files(tmp_path)
    r = run(
        "--serving", s, "--offline", o, "--id", "rid", "--where", "platform = 'ios'", "-f", "json"
    )
    d = json.loads(r.stdout)
    assert r.exit_code == 0 and d["join"]["matched"] == int((plat == "ios").sum())
    assert d["join"]["offline_only"] == int((plat == "android").sum())


def test_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    s, o, _ = _files(tmp_path)
    other = tmp_path / "other.parquet"
    pl.DataFrame({"rid": [1, 2], "zzz": [1.0, 2.0]}).write_parquet(other)
    line = _err(run("--serving", s, "--offline", str(other), "--id", "rid"))
    assert "no common feature columns" in line
    line = _err(run("--serving", s, "--offline", o, "--id", "request_id"))
    assert "'request_id' (from --id) does not exist" in line and "--serving" in line
    str_ids = tmp_path / "str_ids.parquet"
    pl.read_parquet(o).with_columns(pl.col("rid").cast(pl.String)).write_parquet(str_ids)
    line = _err(run("--serving", s, "--offline", str(str_ids), "--id", "rid"))
    assert "--id rid: dtypes differ (--serving has Int64, --offline has String)" in line
    shifted = tmp_path / "shifted.parquet"
    pl.read_parquet(o).with_columns(pl.col("rid") + 10**6).write_parquet(shifted)
    line = _err(run("--serving", s, "--offline", str(shifted), "--id", "rid"))
    assert "no --serving id matches an --offline id on (rid)" in line and "1000000" in line
    assert "--max-mismatch" in _err(
        run("--serving", s, "--offline", o, "--id", "rid", "--max-mismatch", "2")
    )
    assert "--segment nope" in _err(
        run("--serving", s, "--offline", o, "--id", "rid", "--segment", "nope")
    )
    assert "no such file" in _err(
        run("--serving", s, "--offline", "missing.parquet", "--id", "rid")
    )


def test_composite_key_and_all_duplicates_flag(tmp_path: Path) -> None:
    srv = pl.DataFrame({"u": [1, 1, 2, 2], "t": [1, 1, 1, 2], "x": [1.0, 2.0, 3.0, 4.0]})
    off = pl.DataFrame({"u": [1, 2, 2], "t": [1, 1, 2], "x": [1.0, 3.0, 4.0]})
    s, o = tmp_path / "s.parquet", tmp_path / "o.parquet"
    srv.write_parquet(s)
    off.write_parquet(o)
    base = ("--serving", str(s), "--offline", str(o), "--id", "u", "--id", "t", "-f", "json")
    d = json.loads(run(*base).stdout)
    assert d["join"]["matched"] == 3 and d["join"]["duplicate_ids_serving"] == 1
    assert d["features"][0]["mismatches"] == 0  # the first (1, 1) row has x = 1.0
    d = json.loads(run(*base, "--all-duplicates").stdout)
    assert d["features"][0]["compared"] == 4 and d["features"][0]["mismatches"] == 1

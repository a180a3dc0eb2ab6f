"""Object storage for real: the sample data on a local S3-compatible server (moto on
127.0.0.1, started here), read through the CLI with storage options from flags, the config file
and the AWS environment; --where pruning hive partitions, visible in the bytes the server
served; every failure one line and exit 2."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl
import pytest
from s3server import BUCKET, KEY_ID, SECRET, S3Server, free_port, hermetic_aws_env, start
from typer.testing import CliRunner

from mlfail.audit import reference_from_source
from mlfail.binning import BinSettings
from mlfail.cli.app import app, build_default_map
from mlfail.config import Roles
from mlfail.counts import count_frame, count_source
from mlfail.events import load_metrics
from mlfail.io import open_source, storage_options_scope

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
LIVE_DIR = SAMPLE / "live"
ROLES = ["--timestamp", "ts", "--label", "is_fraud", "--prediction", "score"]
ROLES += ["--meta", "pipeline_version", "--meta", "sdk_version"]
WHERE = "day >= '2026-09-19'"

runner = CliRunner()


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    uploads = {
        "train/reference.parquet": SAMPLE / "reference.parquet",
        "baselines/baseline.json": SAMPLE / "baseline.json",
        "metrics/metrics.parquet": SAMPLE / "metrics.parquet",
    }
    for f in sorted(LIVE_DIR.rglob("*.parquet")):
        uploads[f"live/{f.relative_to(LIVE_DIR).as_posix()}"] = f
    with pytest.MonkeyPatch.context() as mp:
        for k in [k for k in os.environ if k.startswith("AWS_")]:
            mp.delenv(k)
        for k, v in hermetic_aws_env().items():
            if k.startswith("AWS_"):
                mp.setenv(k, v)
        server = start(uploads)
        try:
            yield server
        finally:
            server.stop()


def url(path: str) -> str:
    return f"s3://{BUCKET}/{path}"


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env=env)


def psi_json(*args: str) -> dict[str, Any]:
    r = run("psi", *args, *ROLES, "--format", "json", "--fail-on", "never")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def numbers(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-feature results (everything but the source names)."""
    return report["features"]


def one_error_line(r: Any) -> str:
    """The run failed the way errors must: exit 2, exactly one line, no traceback."""
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("mlfail: error: ") and "Traceback" not in r.stderr
    assert SECRET not in r.stderr and SECRET not in r.stdout
    return lines[0]


# ---- reading ---------------------------------------------------------------------------------


def test_psi_on_s3_equals_the_local_run(s3: S3Server) -> None:
    local = psi_json("-r", str(SAMPLE / "reference.parquet"), "-l", str(LIVE_DIR))
    remote = psi_json("-r", url("train/reference.parquet"), "-l", url("live/"), *s3.flags())
    assert remote["live"] == url("live/") and remote["reference"] == url("train/reference.parquet")
    assert numbers(remote) == numbers(local)  # the same numbers, exactly
    # a real comparison: 14 features, amount (×100 for BR from 2026-09-19) ranked first
    assert len(numbers(local)) == 14 and numbers(local)[0]["feature"] == "amount"


def test_glob_and_prefix_without_slash_read_the_same_rows(s3: S3Server) -> None:
    local = psi_json("-r", str(SAMPLE / "reference.parquet"), "-l", str(LIVE_DIR))
    for live in (url("live/*/*.parquet"), url("live/**/*.parquet"), url("live")):
        remote = psi_json("-r", url("train/reference.parquet"), "-l", live, *s3.flags())
        assert numbers(remote) == numbers(local), live


def test_hive_partition_column_day_is_read_from_the_prefix(s3: S3Server) -> None:
    with storage_options_scope(s3.options()):
        live = open_source(url("live/"))
        ref = open_source(url("train/reference.parquet"), role="--reference")
        days = live.lf.select(pl.col("day").unique().sort()).collect()["day"]
    assert live.schema["day"] == pl.Date and "day" not in ref.columns  # one object: no hive
    assert days.to_list() == [dt.date(2026, 9, d) for d in range(1, 31)]
    expected = pl.scan_parquet(LIVE_DIR, hive_partitioning=True).select(pl.len()).collect()
    with storage_options_scope(s3.options()):
        assert live.lf.select(pl.len()).collect().item() == expected.item()


def test_where_reads_fewer_bytes_in_the_cli_run(s3: S3Server) -> None:
    ref = url("train/reference.parquet")
    base = ("-r", ref, "-l", url("live/"), *s3.flags())
    s3.log.clear()
    psi_json(*base)
    all_bytes, all_gets = s3.log.bytes_read(), s3.log.gets_by_object()
    s3.log.clear()
    filtered = psi_json(*base, "--where", WHERE)
    where_bytes, where_gets = s3.log.bytes_read(), s3.log.gets_by_object()

    live = {o for o in all_gets if "/live/" in o}
    assert len(live) == 30  # without the filter every partition is read
    pruned = {o for o in live if o < f"/{BUCKET}/live/day=2026-09-19"}
    assert len(pruned) == 18
    # with it, the partitions before 2026-09-19 are fetched less often (only while Polars
    # resolves the schema, never by the counting pass), every kept one still is; fewer bytes
    assert sum(where_gets[o] for o in pruned) < sum(all_gets[o] for o in pruned)
    assert all(where_gets[o] >= 1 for o in live - pruned)
    assert where_bytes < all_bytes
    # and the same result as the filter applied to the local hive directory
    local = psi_json("-r", str(SAMPLE / "reference.parquet"), "-l", str(LIVE_DIR), "--where", WHERE)
    assert numbers(filtered) == numbers(local)
    rows = (
        pl.scan_parquet(LIVE_DIR, hive_partitioning=True)
        .filter(pl.col("day") >= dt.date(2026, 9, 19))
        .select(pl.len())
        .collect()
        .item()
    )
    assert {f["live_rows"] for f in numbers(filtered)} == {rows}


def test_counting_pass_reads_only_the_partitions_the_filter_keeps(s3: S3Server) -> None:
    ref, _ = reference_from_source(
        open_source(str(SAMPLE / "reference.parquet"), role="--reference"),
        Roles(timestamp="ts", label="is_fraud", prediction="score"),
        bin_settings=BinSettings(),
    )
    live = open_source(url("live/"), storage_options=s3.options(), where=WHERE)
    s3.log.clear()
    remote = count_frame(live.lf, ref.specs, ["geo"])
    kept = {f"/{BUCKET}/live/day=2026-09-{d:02d}/part-0.parquet" for d in range(19, 31)}
    assert s3.log.objects_read() == kept  # the 18 earlier partitions are never fetched
    local = count_frame(open_source(str(LIVE_DIR), where=WHERE).lf, ref.specs, ["geo"])
    assert remote.sort(remote.columns).equals(local.sort(local.columns))


def test_a_remote_source_is_downloaded_once(s3: S3Server) -> None:
    """count_frame runs one query for the numeric features and one per categorical; on S3
    each would download the objects again (10 GETs per object on the sample). count_source
    streams a remote source once: one GET per object, the same counts."""
    ref, _ = reference_from_source(
        open_source(str(SAMPLE / "reference.parquet"), role="--reference"),
        Roles(timestamp="ts", label="is_fraud", prediction="score"),
        bin_settings=BinSettings(),
    )
    assert sum(s.kind == "categorical" for s in ref.specs) >= 5
    live = open_source(url("live/"), storage_options=s3.options())
    day = pl.col("ts").dt.date().alias("d")
    s3.log.clear()
    remote = count_source(live, ref.specs, ["geo", day], progress=False)
    gets = s3.log.gets_by_object()
    assert len(gets) == 30 and set(gets.values()) == {1}, gets
    local = count_frame(open_source(str(LIVE_DIR)).lf, ref.specs, ["geo", day])
    assert remote.sort(remote.columns).equals(local.sort(local.columns))
    s3.log.clear()
    count_frame(live.lf, ref.specs, ["geo", day])  # the per-query plan, for the record
    assert max(s3.log.gets_by_object().values()) >= 5


def test_where_prunes_local_hive_directories() -> None:
    src = open_source(str(LIVE_DIR), where=WHERE)
    plan = src.lf.select(pl.col("amount").sum()).explain()
    # 12 of the 30 partition files are left in the scan (2026-09-19 … 2026-09-30)
    assert re.search(r"day=2026-09-19/part-0\.parquet, \.\.\. 11 other sources", plan), plan
    assert src.schema == open_source(str(LIVE_DIR)).schema  # a filter, not a projection


def test_credentials_and_endpoint_from_the_aws_environment(s3: S3Server) -> None:
    """No storage option at all: Polars reads AWS_* itself."""
    env = {
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ENDPOINT_URL": s3.endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }
    r = run(
        "psi", "-r", url("train/reference.parquet"), "-l", url("live/"), *ROLES, "-f", "json",
        env=env,
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    local = psi_json("-r", str(SAMPLE / "reference.parquet"), "-l", str(LIVE_DIR))
    assert numbers(json.loads(r.stdout)) == numbers(local)


def test_storage_options_from_the_config_file_flags_win_per_key(
    s3: S3Server, tmp_path: Path
) -> None:
    opts = s3.options()
    table = "\n".join(f'{k} = "{v}"' for k, v in opts.items())
    cfg = tmp_path / "mlfail.toml"
    cfg.write_text(
        f'reference = "{url("train/reference.parquet")}"\nlive = "{url("live/")}"\n'
        f'timestamp = "ts"\nformat = "json"\nfail_on = "never"\n[storage_options]\n{table}\n'
    )
    args = ["psi"]
    r = runner.invoke(app, args, default_map=build_default_map(args, {}, str(tmp_path)))
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["live"] == url("live/")

    # a flag overrides one key of the file and keeps the others (the credentials)
    dead = f"http://127.0.0.1:{free_port()}"
    args = [
        "psi",
        "--storage-option",
        f"aws_endpoint_url={dead}",
        "--storage-option",
        "max_retries=0",
    ]
    r = runner.invoke(app, args, default_map=build_default_map(args, {}, str(tmp_path)))
    line = one_error_line(r)
    assert f"cannot reach the object store at {dead}" in line
    # the environment variable overrides the file too
    env = {"MLFAIL_STORAGE_OPTION": f"aws_endpoint_url={dead},max_retries=0"}
    r = runner.invoke(app, ["psi"], default_map=build_default_map(["psi"], env, str(tmp_path)))
    assert "cannot reach the object store" in one_error_line(r)


def test_baseline_and_metrics_from_s3(s3: S3Server) -> None:
    local = psi_json("-b", str(SAMPLE / "baseline.json"), "-l", str(LIVE_DIR))
    remote = psi_json("-b", url("baselines/baseline.json"), "-l", url("live/"), *s3.flags())
    assert numbers(remote) == numbers(local)
    with storage_options_scope(s3.options()):
        assert load_metrics(url("metrics/metrics.parquet")).equals(
            load_metrics(SAMPLE / "metrics.parquet")
        )


def test_baseline_show_merge_and_specs_from_read_s3(s3: S3Server, tmp_path: Path) -> None:
    """`baseline show`, `baseline merge` and `--specs-from` take s3:// objects like --baseline."""
    r = run("baseline", "show", url("baselines/baseline.json"), *s3.flags())
    assert r.exit_code == 0, r.stderr
    local = run("baseline", "show", str(SAMPLE / "baseline.json"))
    body = r.stdout.split("\n", 1)[1]  # the first line names the path
    assert body == local.stdout.split("\n", 1)[1] and "amount" in body
    assert r.stdout.startswith(f"Baseline  {url('baselines/baseline.json')}")
    part = tmp_path / "part.json"
    r = run(
        "baseline", "create", "-r", str(SAMPLE / "reference.parquet"),
        "--timestamp", "ts", "--label", "is_fraud", "--prediction", "score",
        "--meta", "pipeline_version", "--meta", "sdk_version",
        "--segment", "geo", "--segment", "channel", "--segment", "user_segment",
        "--specs-from", url("baselines/baseline.json"), "--out", str(part), *s3.flags(),
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    merged = tmp_path / "merged.json"
    r = run(
        "baseline", "merge", url("baselines/baseline.json"), str(part),
        "--out", str(merged), *s3.flags(),
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    doc = json.loads(merged.read_text())
    assert doc["rows"] == 2 * json.loads((SAMPLE / "baseline.json").read_text())["rows"]
    r = run("baseline", "show", url("baselines/missing.json"), *s3.flags())
    assert "baseline" in one_error_line(r)


def test_baseline_create_where_records_the_filter(tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    r = run(
        "baseline", "create", "-r", str(LIVE_DIR), "--out", str(out), "--where", WHERE,
        "--timestamp", "ts", "--features", "amount,geo",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    data = json.loads(out.read_text())
    rows = (
        pl.scan_parquet(LIVE_DIR, hive_partitioning=True)
        .filter(pl.col("day") >= dt.date(2026, 9, 19))
        .select(pl.len())
        .collect()
        .item()
    )
    assert data["rows"] == rows and data["sources"][0]["where"] == WHERE


# ---- errors: one line, exit 2 ------------------------------------------------------------------


def test_missing_bucket(s3: S3Server) -> None:
    r = run("psi", "-r", "s3://no-such-bucket/ref.parquet", "-l", url("live/"), *s3.flags())
    line = one_error_line(r)
    assert "--reference s3://no-such-bucket/ref.parquet" in line
    assert "bucket 'no-such-bucket' does not exist" in line and s3.endpoint in line


def test_missing_prefix_key_and_glob(s3: S3Server) -> None:
    ref = url("train/reference.parquet")
    for live in (url("nothing/"), url("nothing/*.parquet"), url("live/day=2026-09-01/x.parquet")):
        line = one_error_line(run("psi", "-r", ref, "-l", live, *s3.flags()))
        assert line.startswith(f"mlfail: error: --live {live}: no Parquet files at this key")
    line = one_error_line(
        run("psi", "-b", url("baselines/missing.json"), "-l", url("live/"), *s3.flags())
    )
    assert line.startswith(f"mlfail: error: --baseline {url('baselines/missing.json')}: no Parquet")


def test_endpoint_refused(s3: S3Server) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    flags = s3.flags(aws_endpoint_url=dead, max_retries="0")
    line = one_error_line(
        run("psi", "-r", url("train/reference.parquet"), "-l", url("live/"), *flags)
    )
    assert line.startswith(f"mlfail: error: --live {url('live/')}: cannot reach the object store")
    assert dead in line and "aws_endpoint_url" in line


def test_wrong_credentials(s3: S3Server) -> None:
    """moto checks signatures only when IAM authentication is on: switch it on for this test."""
    from moto import settings

    saved = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    try:
        r = run("psi", "-r", url("train/reference.parquet"), "-l", url("live/"), *s3.flags())
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = saved
    line = one_error_line(r)
    assert "access denied by the object store" in line and "AWS_ACCESS_KEY_ID" in line


def test_missing_credentials(s3: S3Server) -> None:
    """No keys anywhere: the credential chain ends at instance metadata, which the hermetic
    environment points at a closed 127.0.0.1 port."""
    flags: list[str] = []
    for k, v in s3.options(max_retries="0").items():
        if "access_key" not in k:
            flags += ["--storage-option", f"{k}={v}"]
    # in a fresh process: run inside the test process, this found credentials once in six CI
    # runs (an earlier test's, most likely, through a per-process cache of Polars)
    env = {**os.environ, "POLARS_CREDENTIAL_PROVIDER_BUILDER_CACHE_SIZE": "0"}
    argv = ["psi", "-r", url("train/reference.parquet"), "-l", url("live/"), *flags]
    out = subprocess.run(
        [sys.executable, "-P", "-m", "mlfail", *argv],
        capture_output=True, text=True, env=env, check=False, cwd=SAMPLE,
    )  # fmt: skip
    r = SimpleNamespace(exit_code=out.returncode, stdout=out.stdout, stderr=out.stderr)
    line = one_error_line(r)
    assert "no credentials found" in line and "AWS_SECRET_ACCESS_KEY" in line


def test_outputs_are_never_written_to_object_storage() -> None:
    r = run(
        "psi", "-r", str(SAMPLE / "reference.parquet"), "-l", str(LIVE_DIR / "day=2026-09-01"),
        "-o", "s3://bucket/report.json",
    )  # fmt: skip
    assert "--output s3://bucket/report.json: mlfail writes outputs to local files only" in (
        one_error_line(r)
    )
    r = run("baseline", "create", "-r", str(SAMPLE / "reference.parquet"), "--out", "s3://b/x.json")
    assert "--out s3://b/x.json: mlfail writes outputs to local files only" in one_error_line(r)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("nope > 1", "--where nope > 1: no column 'nope' in --live"),
        ("day >=", "--where day >=: not a valid SQL condition"),
        ("amount", "--where amount: not a valid SQL condition"),
        ("geo > 5", "--where geo > 5: not a valid SQL condition"),
        ("true LIMIT 3", "--where true LIMIT 3: not a valid SQL condition"),
    ],
)
def test_bad_where_is_one_line(where: str, expected: str) -> None:
    r = run("psi", "-r", str(SAMPLE / "reference.parquet"), "-l", str(LIVE_DIR), "--where", where)
    assert expected in one_error_line(r)


def test_bad_storage_options_are_one_line(tmp_path: Path) -> None:
    ref = str(SAMPLE / "reference.parquet")
    r = run("psi", "-r", ref, "-l", ref, "--storage-option", SECRET)
    assert "--storage-option: expected KEY=VALUE" in one_error_line(r)
    r = run("psi", "-r", ref, "-l", ref, "--storage-option", "max_retries=lots")
    assert "max_retries must be a number" in one_error_line(r)
    (tmp_path / "mlfail.toml").write_text('storage_options = "aws_region=x"\n')
    with pytest.raises(Exception, match="storage_options must be a table"):
        build_default_map(["psi"], {}, str(tmp_path))

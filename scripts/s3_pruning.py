"""What --where saves on object storage, measured on the committed sample.

Starts a local S3-compatible server (moto, 127.0.0.1 only; `pip install -e '.[dev]'`), uploads
sample_data/reference.parquet and the hive tree sample_data/live/, runs `mlfail psi` against it
with and without `--where "day >= '2026-09-19'"` and prints the requests, objects and bytes the
server served, plus what the counting pass alone reads.

    .venv/bin/python scripts/s3_pruning.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from s3server import BUCKET, hermetic_aws_env, start  # noqa: E402

WHERE = "day >= '2026-09-19'"


def main() -> int:
    os.environ.clear()
    os.environ.update(hermetic_aws_env())  # keep every AWS client on 127.0.0.1
    from typer.testing import CliRunner

    from mlfail.audit import reference_from_source
    from mlfail.binning import BinSettings
    from mlfail.cli.app import app
    from mlfail.config import Roles
    from mlfail.counts import count_source
    from mlfail.io import open_source

    sample, live = ROOT / "sample_data", ROOT / "sample_data" / "live"
    uploads = {"train/reference.parquet": sample / "reference.parquet"}
    for f in sorted(live.rglob("*.parquet")):
        uploads[f"live/{f.relative_to(live).as_posix()}"] = f
    server = start(uploads)
    try:
        total = sum(p.stat().st_size for p in live.rglob("*.parquet"))
        print(f"sample live tree: 30 partitions, {total:,} bytes on disk")
        args = ["psi", "-r", f"s3://{BUCKET}/train/reference.parquet"]
        args += ["-l", f"s3://{BUCKET}/live/", *server.flags(), "-f", "json"]
        args += ["--timestamp", "ts", "--label", "is_fraud", "--prediction", "score"]
        print("\nmlfail psi (whole command: schema resolution + reference + live counting)")
        runs = (
            ("without --where", []),
            ('--where "true" (control)', ["--where", "true"]),
            (f'--where "{WHERE}"', ["--where", WHERE]),
        )
        for label, extra in runs:
            server.log.clear()
            r = CliRunner().invoke(app, [*args, *extra])
            if r.exit_code not in (0, 1):
                print(r.stderr)
                return 2
            live_gets = {o: n for o, n in server.log.gets_by_object().items() if "/live/" in o}
            print(
                f"  {label:32s} {len(server.log.requests):3d} requests, "
                f"{len(live_gets):2d} live objects fetched ({sum(live_gets.values())} GETs), "
                f"{server.log.bytes_read():>9,} bytes served"
            )
        ref, _ = reference_from_source(
            open_source(str(sample / "reference.parquet"), role="--reference"),
            Roles(timestamp="ts", label="is_fraud", prediction="score"),
            bin_settings=BinSettings(),
        )
        print("\ncounting pass alone (count_source over the opened live source, as commands count)")
        for label, where in (
            ("without --where", None),
            ('--where "true" (control)', "true"),
            (f'--where "{WHERE}"', WHERE),
        ):
            src = open_source(f"s3://{BUCKET}/live/", storage_options=server.options(), where=where)
            server.log.clear()
            count_source(src, ref.specs, (), progress=False)
            print(
                f"  {label:32s} {len(server.log.objects_read()):2d} objects "
                f"({len(server.log.object_gets()):3d} GETs), "
                f"{server.log.bytes_read():>9,} bytes served"
            )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

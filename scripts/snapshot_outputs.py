"""Save (or compare) the JSON output of every diagnosing command on sample_data/ and on every
scenario in tests/scenarios.py.

A refactor or a speed-up must not change what mlfail says. Run this before the change with
`--save DIR`, after it with `--compare DIR`: it prints each output that differs (exact bytes
first; where bytes differ, values compared to 1e-12 with the differing paths listed) and exits 1
when any does.

    .venv/bin/python scripts/snapshot_outputs.py --save /tmp/before
    .venv/bin/python scripts/snapshot_outputs.py --compare /tmp/before

Volatile fields (elapsed seconds, creation dates, absolute temp paths, the content hash of the
scenario files, which are written anew each run) are masked.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import scenarios as S  # noqa: E402

from mlfail.cli.app import app  # noqa: E402

META = ["pipeline_version", "firmware_version", "sdk_version", "source", "device_model"]
VOLATILE = {
    "content_hash",
    "elapsed_s",
    "elapsed_seconds",
    "created",
    "created_at",
    "generated_at",
    "duration_s",
}


def _meta(cols: list[str]) -> list[str]:
    return [a for c in cols for a in ("--meta", c)]


def _commands(
    p: dict[str, Path], meta: list[str], label: str, pred: str, ts: str, extra_triage: list[str]
) -> dict[str, list[str]]:
    src = ["-r", str(p["reference"]), "-l", str(p["live"])]
    roles = ["--timestamp", ts, "--label", label, "--prediction", pred]
    ctx = ["--changes", str(p["changes"]), "--owners", str(p["owners"])]
    if "metrics" in p:
        ctx += ["--metrics", str(p["metrics"])]
    return {
        "triage": ["triage", *src, *roles, *_meta(meta), *ctx, *extra_triage, "--no-input"],
        "explain": ["explain", *src, *roles, *_meta(meta), *ctx],
        "slices": ["slices", *src, "--label", label, "--prediction", pred, "--timestamp", ts],
        "timeline": [
            "timeline",
            *src,
            *roles,
            *(["--metrics", str(p["metrics"])] if "metrics" in p else []),
        ],
        "psi": ["psi", *src],
        "quality": ["check", "quality", *src],
    }


def _run(args: list[str], out: Path) -> tuple[int, Any]:
    r = CliRunner().invoke(app, [*args, "--format", "json", "--output", str(out), "--force"])
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    data = json.loads(out.read_text()) if out.exists() else {"stderr": r.stderr}
    return r.exit_code, data


def _mask(obj: Any, tmp: str) -> Any:
    if isinstance(obj, dict):
        return {k: ("<masked>" if k in VOLATILE else _mask(v, tmp)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_mask(v, tmp) for v in obj]
    if isinstance(obj, str):
        obj = obj.replace(str(ROOT) + "/", "")  # the checkout's own path: worktrees compare too
        return re.sub(re.escape(tmp) + r"[^\s\"']*", lambda m: Path(m.group(0)).name, obj)
    return obj


def snapshot() -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        worlds: list[tuple[str, dict[str, Path], list[str], str, str, str, list[str]]] = []
        sd = ROOT / "sample_data"
        sample = {
            "reference": sd / "reference.parquet",
            "live": sd / "live",
            "changes": sd / "changes.csv",
            "owners": sd / "owners.toml",
            "metrics": sd / "metrics.parquet",
        }
        worlds.append(
            ("sample", sample, ["pipeline_version", "sdk_version"], "is_fraud", "score", "ts", [])
        )
        for make in S.ALL:
            sc = make()
            worlds.append((sc.name, sc.write(tmp / sc.name), META, "label", "score", "ts", []))
        for name, p, meta, label, pred, ts, extra in worlds:
            for cmd, args in _commands(p, meta, label, pred, ts, extra).items():
                out = tmp / f"{name}-{cmd}.json"
                code, data = _run(args, out)
                outputs[f"{name}/{cmd}"] = {"exit": code, "output": _mask(data, td)}
            out = tmp / f"{name}-baseline.json"
            r = CliRunner().invoke(
                app,
                [
                    "baseline",
                    "create",
                    "--reference",
                    str(p["reference"]),
                    "--out",
                    str(out),
                    "--force",
                    "--timestamp",
                    ts,
                    "--label",
                    label,
                    "--prediction",
                    pred,
                    *_meta(meta),
                    "--segment",
                    "geo",
                ],
                env={"SOURCE_DATE_EPOCH": "1788220800"},
            )
            data = json.loads(out.read_text()) if out.exists() else {"stderr": r.stderr}
            outputs[f"{name}/baseline"] = {"exit": r.exit_code, "output": _mask(data, td)}
    return outputs


def _diff(a: Any, b: Any, path: str, out: list[str], tol: float = 1e-12) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'after' if k in b else 'before'}")
            else:
                _diff(a[k], b[k], f"{path}.{k}", out, tol)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: length {len(a)} -> {len(b)}")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _diff(x, y, f"{path}[{i}]", out, tol)
    elif isinstance(a, float) and isinstance(b, float):
        if not (
            a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol * max(1.0, abs(a))
        ):
            out.append(f"{path}: {a!r} -> {b!r}")
    elif a != b:
        out.append(f"{path}: {str(a)[:80]!r} -> {str(b)[:80]!r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", type=Path)
    g.add_argument("--compare", type=Path)
    a = ap.parse_args()
    now = snapshot()
    if a.save:
        a.save.mkdir(parents=True, exist_ok=True)
        (a.save / "outputs.json").write_text(json.dumps(now, indent=1, sort_keys=True))
        print(f"saved {len(now)} outputs to {a.save / 'outputs.json'}")
        return 0
    before = json.loads((a.compare / "outputs.json").read_text())
    bad = 0
    for key in sorted(set(before) | set(now)):
        if key not in before or key not in now:
            print(f"{key}: only {'after' if key in now else 'before'}")
            bad += 1
            continue
        b, n = before[key], json.loads(json.dumps(now[key]))
        if json.dumps(b, sort_keys=True) == json.dumps(n, sort_keys=True):
            continue
        diffs: list[str] = []
        _diff(b, n, key, diffs)
        if diffs:
            bad += 1
            print(f"{key}: {len(diffs)} difference(s)")
            for d in diffs[:15]:
                print("   ", d)
        else:
            print(f"{key}: same values (floats within 1e-12), bytes differ")
    print(f"{len(now)} outputs compared, {bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlfail.cli.app import app
from mlfail.outputs import write_atomic

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent
SAMPLE_REF = str(REPO / "sample_data" / "reference.parquet")
SAMPLE_BASELINE = str(REPO / "sample_data" / "baseline.json")


def run(*args: str):
    return runner.invoke(app, list(args))


def _err(r) -> str:
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _tmp_leftovers(d: Path) -> list[str]:
    return [p.name for p in d.iterdir() if p.name.endswith(".tmp")]


def test_create_show_and_overwrite_protection(
    drift_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    ref, _ = drift_pair
    out = tmp_path / "b.json"
    r = run("baseline", "create", "-r", str(ref), "--out", str(out), "--label", "label")
    assert r.exit_code == 0, r.stderr
    assert f"wrote {out}" in r.stderr and r.stdout == ""
    data = json.loads(out.read_text())
    assert data["kind"] == "mlfail-baseline" and data["schema_version"] == 1
    assert data["rows"] == 4000 and data["roles"]["label"] == "label"
    assert [s["feature"] for s in data["specs"]] == ["x", "y", "c", "geo"]
    before = out.read_bytes()

    line = _err(run("baseline", "create", "-r", str(ref), "--out", str(out)))
    assert line == f"mlfail: error: --out {out}: file exists; pass --force to overwrite it"
    assert out.read_bytes() == before
    r = run("baseline", "create", "-r", str(ref), "--out", str(out), "--force")
    assert r.exit_code == 0 and json.loads(out.read_text())["roles"]["label"] is None
    assert _tmp_leftovers(tmp_path) == []

    r = run("baseline", "show", str(out))
    assert r.exit_code == 0
    for word in ("Numeric features", "Quantiles", "Categorical features", "x", "geo", "4000"):
        assert word in r.stdout


def test_show_sample_baseline_has_segment_performance() -> None:
    r = run("baseline", "show", SAMPLE_BASELINE)
    assert r.exit_code == 0
    assert "Reference performance by geo" in r.stdout
    assert "Prediction distribution (score)" in r.stdout
    assert "amount" in r.stdout and "p99" in r.stdout


def test_interrupted_write_leaves_no_partial_file(
    drift_pair: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, _ = drift_pair
    out = tmp_path / "b.json"

    def boom(*_a: object, **_k: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    r = run("baseline", "create", "-r", str(ref), "--out", str(out))
    assert r.exit_code == 2 and "No space left on device" in r.stderr
    assert not out.exists() and _tmp_leftovers(tmp_path) == []

    # an existing baseline survives an interrupted --force overwrite untouched
    out.write_text("previous")
    monkeypatch.setattr(os, "fsync", boom)
    r = run("baseline", "create", "-r", str(ref), "--out", str(out), "--force")
    assert r.exit_code == 2
    assert out.read_text() == "previous" and _tmp_leftovers(tmp_path) == []


def test_write_atomic_on_keyboard_interrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "t.json"
    target.write_text("old")

    def stop(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", stop)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new", force=True)
    assert target.read_text() == "old" and _tmp_leftovers(tmp_path) == []


def test_written_files_get_ordinary_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        p = write_atomic(tmp_path / "x.json", "{}")
    finally:
        os.umask(old)
    assert p.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{oops", "not a baseline (invalid JSON at line 1, column 2: "),
        ('{"results": []}', 'not an mlfail baseline (no "kind": "mlfail-baseline")'),
        (
            '{"kind": "mlfail-baseline", "schema_version": 2}',
            "baseline schema_version 2 is newer than this mlfail",
        ),
    ],
)
def test_corrupt_or_foreign_baseline_is_one_line_exit_2(
    drift_pair: tuple[Path, Path], tmp_path: Path, content: str, expected: str
) -> None:
    _, live = drift_pair
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    for args in (
        ("psi", "--baseline", str(bad), "-l", str(live)),
        ("check", "quality", "--baseline", str(bad), "-l", str(live)),
    ):
        line = _err(run(*args))
        assert line.startswith(f"mlfail: error: --baseline {bad}: "), line
        assert expected in line
    line = _err(run("baseline", "show", str(bad)))
    assert line.startswith(f"mlfail: error: baseline {bad}: ") and expected in line
    line = _err(run("psi", "--baseline", str(tmp_path / "none.json"), "-l", str(live)))
    assert line == f"mlfail: error: --baseline {tmp_path / 'none.json'}: no such file"


def test_psi_with_baseline_matches_reference_json(
    drift_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    ref, live = drift_pair
    out = tmp_path / "b.json"
    assert (
        run("baseline", "create", "-r", str(ref), "-o", str(out), "--segment", "geo").exit_code == 0
    )
    a = run("psi", "-r", str(ref), "-l", str(live), "--by", "geo", "-f", "json")
    b = run("psi", "-b", str(out), "-l", str(live), "--by", "geo", "-f", "json")
    assert a.exit_code == b.exit_code == 1
    fa, fb = json.loads(a.stdout)["features"], json.loads(b.stdout)["features"]
    assert [(f["feature"], f["slice"], f["psi"], f["p_value"]) for f in fa] == [
        (f["feature"], f["slice"], f["psi"], f["p_value"]) for f in fb
    ]
    assert json.loads(b.stdout)["reference"] == str(out)
    line = _err(run("psi", "-r", str(ref), "-b", str(out), "-l", str(live)))
    assert line == "mlfail: error: give either --reference or --baseline, not both"


def test_merge_cli(drift_pair: tuple[Path, Path], tmp_path: Path) -> None:
    import polars as pl

    ref, live = drift_pair
    df = pl.read_parquet(ref)
    h1, h2 = tmp_path / "h1.parquet", tmp_path / "h2.parquet"
    df.head(2500).write_parquet(h1)
    df.tail(1500).write_parquet(h2)
    whole, a, b, m = (tmp_path / f"{n}.json" for n in ("whole", "a", "b", "m"))
    assert run("baseline", "create", "-r", str(ref), "-o", str(whole)).exit_code == 0
    for src, dst in ((h1, a), (h2, b)):
        r = run("baseline", "create", "-r", str(src), "-o", str(dst), "--specs-from", str(whole))
        assert r.exit_code == 0, r.stderr
    r = run("baseline", "merge", str(a), str(b), "--out", str(m))
    assert r.exit_code == 0, r.stderr
    assert "approximate: defaults.mean, quantiles" in r.stderr
    merged, full = json.loads(m.read_text()), json.loads(whole.read_text())
    assert merged["rows"] == 4000 and merged["counts"] == full["counts"]
    assert merged["skipped"] == full["skipped"] and merged["schema"] == full["schema"]
    # PSI against the merged baseline is the PSI against the whole reference
    x = run("psi", "-b", str(m), "-l", str(live), "-f", "json")
    y = run("psi", "-r", str(ref), "-l", str(live), "-f", "json")
    assert [f["psi"] for f in json.loads(x.stdout)["features"]] == [
        f["psi"] for f in json.loads(y.stdout)["features"]
    ]
    # different specs: refused with a clear line; existing --out: refused
    c = tmp_path / "c.json"
    assert run("baseline", "create", "-r", str(h2), "-o", str(c)).exit_code == 0
    line = _err(run("baseline", "merge", str(a), str(c), "--out", str(tmp_path / "n.json")))
    assert "cannot merge" in line and "--specs-from" in line
    line = _err(run("baseline", "merge", str(a), str(b), "--out", str(m)))
    assert line == f"mlfail: error: --out {m}: file exists; pass --force to overwrite it"
    line = _err(run("baseline", "merge", str(a), "--out", str(tmp_path / "z.json")))
    assert line == "mlfail: error: baseline merge needs at least two baselines"


def test_create_errors(drift_pair: tuple[Path, Path], tmp_path: Path) -> None:
    ref, _ = drift_pair
    out = str(tmp_path / "b.json")
    line = _err(run("baseline", "create", "-r", str(ref), "-o", out, "--segment", "country"))
    assert line.startswith(f"mlfail: error: --reference {ref}: column 'country' (from --segment)")
    line = _err(run("baseline", "create", "-r", str(ref), "-o", out, "--segment", "x"))
    assert "--segment x: 4000 distinct values" in line
    line = _err(run("baseline", "create", "-o", out))
    assert line == "mlfail: error: --reference is required: the training snapshot to profile"
    line = _err(run("baseline", "create", "-r", str(ref)))
    assert line == "mlfail: error: --out is required: where to write the baseline JSON"
    line = _err(run("baseline", "create", "-r", str(ref), "-o", out, "--task", "regression"))
    assert line == "mlfail: error: --task needs --label and --prediction"

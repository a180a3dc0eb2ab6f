"""The benchmark suite runs end to end at a tiny size (no peers, no timing assertions)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

from generate import DRIFT, generate  # noqa: E402


def test_generator_is_seeded_and_plants_drift(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", 3000, 40)
    b = generate(tmp_path / "b", 3000, 40)
    ref, live = pl.read_parquet(a / "reference.parquet"), pl.read_parquet(a / "live.parquet")
    assert ref.equals(pl.read_parquet(b / "reference.parquet"))
    m = json.loads((a / "manifest.json").read_text())
    assert len(m["numeric"]) == 30 and len(m["categorical"]) == 10
    assert ref.height == live.height == 3000
    assert {"ts", "label", "score", *m["segments"]} <= set(ref.columns)
    assert len(m["segments"]) == 8 and set(DRIFT) <= set(ref.columns)
    assert live["num_03"].null_count() > 5 * ref["num_03"].null_count()  # planted null spike
    assert ref["cat_09"].n_unique() > 100  # a high-cardinality categorical


def test_runner_writes_a_results_table(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(BENCH / "run.py"),
            "--rows",
            "20k",
            "--no-wide",
            "--no-peers",
            "--runs",
            "1",
            "--data",
            str(tmp_path / "data"),
            "--results",
            str(tmp_path / "res"),
            "--date",
            "2000-01-01",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    report = (tmp_path / "res" / "2000-01-01.md").read_text()
    rows = {
        line.split("|")[1].strip(): line for line in report.splitlines() if line.startswith("| ")
    }
    for case in ("limit: scan live", "limit: scan reference+live", "mlfail psi --reference"):
        assert case in rows and "| ok |" in rows[case], report
    psi = rows["mlfail psi --reference"].split("|")
    assert float(psi[2]) >= float(psi[3]) > 0  # median ≥ best run
    assert psi[6].strip().endswith("ref+live")  # × the limit
    for case in ("mlfail psi --baseline", "mlfail slices"):
        assert case in rows  # measured once merged, "not available" until then
    assert "| ok |" in rows["limit: scan reference"], report
    # each row's "× limit" cell ends with the scan it is a ratio to
    for case, side in (
        ("mlfail baseline create", "reference"),
        ("mlfail triage --reference", "live"),
        ("mlfail triage --baseline", "live"),
    ):
        cells = rows[case].split("|")
        assert "| ok |" in rows[case], report
        assert re.fullmatch(rf"\d+\.\d\d×; \d+\.\d\d× {side}", cells[6].strip()), rows[case]
    for target in (
        "`mlfail triage --reference` ≤ 10.0× live scan",
        "`mlfail triage --baseline` ≤ 8.0× live scan",
        "`mlfail baseline create` ≤ 5.0× reference scan",
        "peak RSS of `mlfail triage --reference` ≤ 1.5 GB",
        "peak RSS of `mlfail triage --baseline` ≤ 1.5 GB",
    ):
        line = next((x for x in report.splitlines() if target in x), "")
        assert re.search(r"\| (met|MISSED) \|$", line), (target, report)
    assert "## Scaling: triage and baseline create" in report
    scaling = [r for r in report.splitlines() if r.startswith("| 20,000 |")]
    assert len(scaling) == 1, report
    cells = [c.strip() for c in scaling[0].split("|")[1:-1]]
    assert len(cells) == 15 and "—" not in cells, scaling  # every column measured
    assert [c for c in cells if c.endswith("×")] == [cells[3], cells[7], cells[12]]
    # the same cases in CPU seconds, each with its ratio to its scan's CPU
    after = report.split("CPU time (user + system seconds", 1)[1]
    cpu_rows = [r for r in after.splitlines() if r.startswith("| n20000_c40 |")]
    assert len(cpu_rows) == 1, report
    cpu = [c.strip() for c in cpu_rows[0].split("|")[1:-1]]
    assert len(cpu) == 9 and "—" not in cpu, cpu_rows
    assert [c for c in cpu if c.endswith("×")] == [cpu[3], cpu[5], cpu[8]]
    assert all(float(cpu[i]) > 0 for i in (1, 2, 4, 6, 7)), cpu_rows
    assert "## Targets" in report and "≤ 2.0× ref+live scan" in report
    raw = json.loads((tmp_path / "res" / "2000-01-01.json").read_text())
    assert raw["machine"]["cores"] and raw["versions"]["polars"]
    (row,) = raw["triage_scaling"]
    for case in ("mlfail triage --reference", "mlfail triage --baseline", "mlfail baseline create"):
        c = row[case]
        assert c["ratio"] > 0 and c["peak_mb"] > 0, row
        assert c["cpu_s"] > 0 and c["cpu_ratio"] > 0, row
        assert abs(c["s_per_m_rows"] - c["s"] / 0.02) < 1e-9  # 20k rows = 0.02 M

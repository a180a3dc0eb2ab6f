"""`make report-screenshot`: the HTML triage report of the sample (with --metrics) and of one
scenario without --metrics (tests/scenarios.py: null_spike, the layers come from the log only),
each screenshotted by headless Chromium, to look at what a person sees.

    python scripts/report_screenshots.py [--out out] [--docs]   # --docs: also docs/img/*.png

Needs `chromium` on PATH (Debian: apt-get install chromium). Exit 2 with one line if it is not.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_ARGS = [
    "--reference", "sample_data/reference.parquet", "--live", "sample_data/live",
    "--timestamp", "ts", "--label", "is_fraud", "--prediction", "score",
    "--meta", "pipeline_version", "--meta", "sdk_version",
    "--metrics", "sample_data/metrics.parquet", "--changes", "sample_data/changes.csv",
    "--owners", "sample_data/owners.toml",
    "--candidate-source", "sample_data/candidate.parquet", "--candidate-prediction", "score",
    "--id", "event_id",
]  # fmt: skip
META = ["pipeline_version", "firmware_version", "sdk_version", "source", "device_model"]
WIDTH, HEIGHT = 1200, 1500  # the top of the report: headline, what to do, the layers


def _triage_html(args: list[str], out: Path) -> None:
    cmd = [sys.executable, "-m", "mlfail", "triage", *args, "--no-input"]
    cmd += ["--format", "html", "--output", str(out), "--force"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise SystemExit(f"mlfail triage exited {r.returncode}: {r.stderr.strip()}")


def _scenario_args(root: Path) -> list[str]:
    sys.path.insert(0, str(ROOT / "tests"))
    import scenarios

    p = scenarios.null_spike().write(root)
    args = ["--reference", str(p["reference"]), "--live", str(p["live"])]
    args += ["--timestamp", "ts", "--label", "label", "--prediction", "score"]
    for m in META:
        args += ["--meta", m]
    return [*args, "--changes", str(p["changes"]), "--owners", str(p["owners"])]


def _screenshot(chromium: str, html: Path, png: Path) -> None:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
            f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={png}", html.resolve().as_uri(),
        ]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not png.exists():
        raise SystemExit(f"chromium failed ({r.returncode}): {r.stderr.strip()[-300:]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "out")
    ap.add_argument("--docs", action="store_true", help="also copy the PNGs to docs/img/")
    a = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("error: chromium not found (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    runs = [("triage", SAMPLE_ARGS), ("triage-null-spike", _scenario_args(a.out / "null_spike"))]
    for name, args in runs:
        html, png = a.out / f"{name}.html", a.out / f"{name}.png"
        _triage_html(args, html)
        _screenshot(chromium, html, png)
        print(f"{png} ({png.stat().st_size // 1024} KB) from {html}")
        if a.docs:
            dest = ROOT / "docs" / "img" / png.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(png, dest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

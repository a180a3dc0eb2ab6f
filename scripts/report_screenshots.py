"""`make report-screenshot`: the HTML triage report of the sample (with --metrics) and of one
scenario without --metrics (tests/scenarios.py: null_spike, the layers come from the log only),
each screenshotted by headless Chromium, to look at what a person sees: the top of each report
(headline, what to do, the layers), the sample's top in dark mode, and the sample's root-cause
section (per hypothesis: its feature's bins on its cohort beside its daily PSI).

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


def _section(page: Path, start: str, stop: str, out: Path) -> Path:
    """A page holding only one section of ``page`` (same head and styles), to screenshot it."""
    text = page.read_text(encoding="utf-8")
    a, b = text.index(start), text.index(stop)
    out.write_text(text[: text.index("<h1>")] + text[a:b] + "</body></html>\n", encoding="utf-8")
    return out


def _screenshot(
    chromium: str, html: Path, png: Path, height: int = HEIGHT, dark: bool = False
) -> None:
    # dark: the page's prefers-color-scheme: dark styles (Blink's preferredColorScheme 0)
    flags = ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"] if dark else []
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
            *flags, f"--window-size={WIDTH},{height}", f"--screenshot={png}",
            html.resolve().as_uri(),
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
    shots: list[tuple[Path, Path]] = []
    for name, args in runs:
        html, png = a.out / f"{name}.html", a.out / f"{name}.png"
        _triage_html(args, html)
        _screenshot(chromium, html, png)
        shots.append((html, png))
    sample = a.out / "triage.html"
    dark = a.out / "triage-dark.png"
    _screenshot(chromium, sample, dark, height=1150, dark=True)
    rc_html = _section(
        sample, "<h2 id='root-cause'>", "<h2>Other drifted", a.out / "triage-root-cause.html"
    )
    rc = a.out / "triage-root-cause.png"
    _screenshot(chromium, rc_html, rc, height=640)
    shots += [(sample, dark), (rc_html, rc)]
    for html, png in shots:
        print(f"{png} ({png.stat().st_size // 1024} KB) from {html}")
        if a.docs:
            dest = ROOT / "docs" / "img" / png.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(png, dest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

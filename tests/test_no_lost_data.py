"""No lost data (issue 8): every file mlfail writes goes through ``write_atomic`` (temporary
file in the same directory, fsync, rename); an existing output is never overwritten without
``--force``; a failure or Ctrl-C mid-write leaves the previous file byte-identical and no
temporary file; a bad destination is one line naming the flag, exit 2, before any work.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import mlfail.outputs as outputs
from mlfail.cli.app import app
from mlfail.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
OLD = b"previous report, must survive\n"
runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("nld")
    rng = np.random.default_rng(3)

    def frame(n: int) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "x": rng.normal(0, 1, n),
                "c": rng.choice(["a", "b"], n),
                "y": rng.integers(0, 2, n),
                "score": rng.random(n).round(3),
            }
        )

    frame(2000).write_parquet(d / "ref.parquet")
    frame(1000).write_parquet(d / "live.parquet")
    return {"ref": str(d / "ref.parquet"), "live": str(d / "live.parquet")}


# Every command that writes a file, with the flag that names the file. The data arguments are
# real; the destination is checked before any of it is read.
def commands(data: dict[str, str], dest: str) -> dict[str, tuple[list[str], str]]:
    r, lv = data["ref"], data["live"]
    base = str(SAMPLE / "baseline.json")
    return {
        "psi": (["psi", "-r", r, "-l", lv, "--output", dest], "--output"),
        "psi-csv": (["psi", "-r", r, "-l", lv, "-f", "csv", "--output", dest], "--output"),
        "check-quality": (["check", "quality", "-r", r, "-l", lv, "--output", dest], "--output"),
        "check-quality-junit": (
            ["check", "quality", "-r", r, "-l", lv, "-f", "junit", "--output", dest],
            "--output",
        ),
        "check-owners": (
            ["check", "owners", "--owners", str(SAMPLE / "owners.toml"), "--output", dest],
            "--output",
        ),
        "baseline-create": (["baseline", "create", "-r", r, "--out", dest], "--out"),
        "baseline-show": (["baseline", "show", base, "--output", dest], "--output"),
        "baseline-merge": (["baseline", "merge", base, base, "--out", dest], "--out"),
        "slices": (
            ["slices", "-r", r, "-l", lv, "--label", "y", "--prediction", "score", "-o", dest],
            "--output",
        ),
        "timeline": (["timeline", "-l", lv, "--timestamp", "ts", "--output", dest], "--output"),
        "explain": (["explain", "-r", r, "-l", lv, "--output", dest], "--output"),
        "shadow": (
            [
                "shadow",
                "-l",
                lv,
                "--current-prediction",
                "score",
                "--candidate-prediction",
                "score",
                "--output",
                dest,
            ],
            "--output",
        ),
        "triage-html": (
            [
                "triage",
                "-r",
                r,
                "-l",
                lv,
                "--timestamp",
                "ts",
                "--no-input",
                "-f",
                "html",
                "--output",
                dest,
            ],
            "--output",
        ),
    }


NAMES = list(commands({"ref": "", "live": ""}, "").keys())


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".tmp"))


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("name", NAMES)
def test_existing_output_is_never_overwritten_without_force(
    name: str, data: dict[str, str], tmp_path: Path
) -> None:
    dest = tmp_path / "report.out"
    dest.write_bytes(OLD)
    args, flag = commands(data, str(dest))[name]
    t0 = time.monotonic()
    r = runner.invoke(app, args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    line = one_error_line(r.stderr)
    assert line == f"mlfail: error: {flag} {dest}: file exists; pass --force to overwrite it"
    assert dest.read_bytes() == OLD
    assert leftovers(tmp_path) == []
    assert time.monotonic() - t0 < 30  # (sanity, not a timing assertion: nothing was read)


@pytest.mark.parametrize("name", NAMES)
def test_output_in_a_missing_directory_or_under_a_file(
    name: str, data: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "report.out"
    args, flag = commands(data, str(missing))[name]
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    assert one_error_line(r.stderr) == (
        f"mlfail: error: {flag} {missing}: directory {missing.parent} does not exist"
    )
    afile = tmp_path / "afile"
    afile.write_bytes(OLD)
    under = afile / "report.out"
    args, flag = commands(data, str(under))[name]
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    assert one_error_line(r.stderr) == (
        f"mlfail: error: {flag} {under}: directory {afile} is not a directory"
    )
    assert afile.read_bytes() == OLD


def test_output_that_is_a_directory(data: dict[str, str], tmp_path: Path) -> None:
    args, _ = commands(data, str(tmp_path))["psi"]
    r = runner.invoke(app, [*args, "--force"])
    assert r.exit_code == 2
    assert one_error_line(r.stderr).endswith(
        f"--output {tmp_path}: is a directory; give a file path"
    )


def test_read_only_directory(data: dict[str, str], tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores permission bits; see test_permission_error_is_one_line")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        args, _ = commands(data, str(ro / "r.json"))["psi"]
        r = runner.invoke(app, args)
        assert r.exit_code == 2
        assert re.fullmatch(
            rf"mlfail: error: --output {re.escape(str(ro / 'r.json'))}: cannot write \(.+\)",
            one_error_line(r.stderr),
        )
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_permission_error_is_one_line(
    data: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a read-only directory does (also when running as root): mkstemp is refused."""

    def refuse(*a: object, **k: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(outputs.tempfile, "mkstemp", refuse)
    dest = tmp_path / "b.json"
    args, _ = commands(data, str(dest))["baseline-create"]
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    assert one_error_line(r.stderr) == (
        f"mlfail: error: --out {dest}: cannot write (Permission denied)"
    )
    assert not dest.exists()


# ---------------------------------------------------------------- failures mid-write


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
@pytest.mark.parametrize("name", ["psi", "baseline-create", "check-quality-junit"])
def test_failure_mid_write_keeps_the_previous_file(
    where: str, name: str, data: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "report.out"
    dest.write_bytes(OLD)
    os.chmod(dest, 0o640)

    def disk_full(*a: object, **k: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    if where == "write":
        real_fdopen = os.fdopen

        class Failing:
            def __init__(self, fh: object) -> None:
                self.fh = fh

            def __enter__(self) -> Failing:
                return self

            def __exit__(self, *exc: object) -> None:
                self.fh.close()  # type: ignore[attr-defined]

            def write(self, raw: bytes) -> None:
                self.fh.write(raw[: len(raw) // 2])  # type: ignore[attr-defined]
                self.fh.flush()  # type: ignore[attr-defined]
                disk_full()

        monkeypatch.setattr(outputs.os, "fdopen", lambda fd, mode: Failing(real_fdopen(fd, mode)))
    else:
        monkeypatch.setattr(outputs.os, where, disk_full)
    args, flag = commands(data, str(dest))[name]
    r = runner.invoke(app, [*args, "--force"])
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert one_error_line(r.stderr) == (
        f"mlfail: error: {flag} {dest}: cannot write (No space left on device)"
    )
    assert dest.read_bytes() == OLD
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.out"]
    monkeypatch.undo()
    # and with the disk back, --force replaces it, keeping its mode
    r = runner.invoke(app, [*args, "--force"])
    assert r.exit_code in (0, 1), r.stderr
    assert dest.read_bytes() != OLD
    assert dest.stat().st_mode & 0o777 == 0o640
    assert leftovers(tmp_path) == []


def test_ctrl_c_inside_the_writer_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "r.json"
    dest.write_bytes(OLD)

    def interrupted(*a: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        outputs.write_atomic(dest, "new", force=True)
    assert dest.read_bytes() == OLD
    assert leftovers(tmp_path) == []


def test_write_atomic_refuses_and_replaces(tmp_path: Path) -> None:
    dest = tmp_path / "a.txt"
    outputs.write_atomic(dest, "one")
    with pytest.raises(UsageError, match="file exists; pass --force"):
        outputs.write_atomic(dest, "two")
    assert dest.read_text() == "one"
    outputs.write_atomic(dest, b"two", force=True)
    assert dest.read_text() == "two" and leftovers(tmp_path) == []


def test_step_summary_is_appended_in_one_write(
    data: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    writes: list[int] = []
    real_write = os.write

    def counting(fd: int, b: bytes) -> int:
        writes.append(len(b))
        return real_write(fd, b)

    monkeypatch.setattr(outputs.os, "write", counting)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    r = runner.invoke(
        app, ["check", "quality", "-r", data["ref"], "-l", data["live"], "-f", "github"]
    )
    assert r.exit_code in (0, 1), r.stderr
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and len(text) > len("# earlier step\n")
    assert len(writes) == 1  # one write: never interleaved with another step's lines
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "no" / "summary.md"))
    r = runner.invoke(
        app, ["check", "quality", "-r", data["ref"], "-l", data["live"], "-f", "github"]
    )
    assert r.exit_code == 2
    assert "$GITHUB_STEP_SUMMARY" in one_error_line(r.stderr)


def test_every_file_write_in_mlfail_goes_through_write_atomic() -> None:
    """An audit that cannot drift: no other code in mlfail/ opens a file for writing."""
    pattern = re.compile(
        r"open\([^)]*['\"][wax]b?\+?['\"]|write_text|write_bytes|\.write_parquet|\.write_csv|"
        r"\.write_json|json\.dump\(|shutil\.(?!which)|os\.rename|os\.replace|O_APPEND|mkstemp|"
        r"fdopen"
    )
    hits = []
    for path in sorted((ROOT / "mlfail").rglob("*.py")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line) and not line.lstrip().startswith("#"):
                hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    in_memory = {"mlfail/report/tables.py": "df.write_csv(buf)"}  # into a StringIO
    others = [
        h for h in hits
        if not h.startswith("mlfail/outputs.py:") and in_memory.get(h.split(":")[0]) not in h
    ]  # fmt: skip
    assert hits and others == [], others


# ---------------------------------------------------------------- Ctrl-C mid-scan


def _reading(pid: int, name: str) -> bool:
    """Whether process ``pid`` has ``name`` open or mapped (Linux /proc)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
        if any(name in os.readlink(f"/proc/{pid}/fd/{f}") for f in fds):
            return True
        with open(f"/proc/{pid}/maps") as fh:
            return name in fh.read()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_ctrl_c_mid_scan_exits_130_and_leaves_no_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 4_000_000
    big = pl.DataFrame({f"x{i}": rng.normal(size=n) for i in range(6)})
    big = big.with_columns(c=pl.Series(rng.choice(["a", "b", "c"], n)))
    big.write_parquet(tmp_path / "live_big.parquet")
    big.head(20_000).write_parquet(tmp_path / "ref.parquet")
    del big
    out = tmp_path / "report.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlfail", "psi", "-r", "ref.parquet", "-l", "live_big.parquet",
         "-f", "json", "--output", out.name],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not _reading(proc.pid, "live_big.parquet") and proc.poll() is None:
        assert time.monotonic() < deadline, "mlfail never started reading the live data"
        time.sleep(0.005)
    assert proc.poll() is None, "the scan finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr == "mlfail: error: interrupted\n"
    assert stdout == ""
    assert not out.exists()
    assert leftovers(tmp_path) == []

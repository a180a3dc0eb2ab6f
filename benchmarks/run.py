"""The benchmark runner: ``make bench`` (1M, 2M, 5M × 40, 1M × 160, peers at 5M) and
``make bench-quick`` (one small size, no peers).

Every case is a whole separate process, measured from outside: wall time (``perf_counter``
around the process) and peak RSS (``/usr/bin/time -v`` when present, else
``resource.getrusage(RUSAGE_CHILDREN)`` in a fresh helper process). One warm-up run, then the
median of ``--runs`` runs. The cases:

* the limit: a bare Polars streaming scan of live alone, of the reference alone and of
  reference + live (always run: every ratio is to one of them, in the same run);
* ``mlfail psi --reference``, and — data-driven: a case whose command's ``--help`` fails is
  reported "not available" — ``mlfail baseline create`` (a ratio to the reference scan),
  ``mlfail psi --baseline``, ``mlfail slices``, ``mlfail triage --reference`` and
  ``mlfail triage --baseline`` (``--no-input --format json``, stdout to a file; ratios to the
  live scan). ``--only triage`` runs the limits, ``baseline create`` (the baseline the
  ``--baseline`` cases read: a case's ``needs`` are always pulled in) and the two triage cases;
* a scaling table of the triage cases and ``baseline create`` per 40-feature size: seconds,
  ratio, peak RSS and seconds per million rows;
* peers (Evidently 0.7.23 ``psi_stat_test`` and ``Report``, feature-engine 1.9.4
  ``DropHighPSIFeatures``) from ``benchmarks/.peers-venv``, which the runner creates from
  ``peers-requirements.txt``. A peer run slower than ``--peer-single`` seconds is run once (no
  warm-up); one past ``--timeout`` is killed and recorded as such, as is one whose memory
  passes ``--peer-mem-gb`` (to protect the machine).

Results go to ``benchmarks/results/<date>.md`` (and the raw numbers to ``<date>.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from generate import SEGMENTS, generate, parse_rows  # noqa: E402

PEERS_VENV = HERE / ".peers-venv"
PEERS_REQ = HERE / "peers-requirements.txt"
TIME = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
MLFAIL = [sys.executable, "-m", "mlfail"]

TARGETS = {
    "psi_reference": 2.0,  # × bare scan of reference + live
    "psi_baseline": 1.5,  # × bare scan of live
    "triage": 10.0,  # × bare scan of live: the single "mlfail triage" case of older results
    "triage_reference": 10.0,  # `triage --reference` × bare scan of live, at 5M × 40
    "triage_baseline": 8.0,  # `triage --baseline` × bare scan of live, at 5M × 40
    "baseline_create": 5.0,  # × bare scan of the reference, at 5M × 40
    "slices": 5.0,  # × bare scan of live
    "peer_speedup": 10.0,  # peer time / mlfail time, at 5M × 40
    "psi_rss_gb": 1.5,  # peak RSS of psi and baseline create at 5M × 40
    "triage_rss_gb": 1.5,  # peak RSS of each triage case at 5M × 40
}

# the triage scaling table: (case, its limit case, column label)
TRIAGE_SCALING = (
    ("mlfail triage --reference", "limit: scan live", "triage --reference"),
    ("mlfail triage --baseline", "limit: scan live", "triage --baseline"),
    ("mlfail baseline create", "limit: scan reference", "baseline create"),
)


@dataclass
class Run:
    wall: float
    rss_mb: float
    rc: int
    cpu: float | None = None  # user + system seconds of the process and its children


@dataclass
class Result:
    dataset: str
    case: str
    group: str
    status: str  # ok | not available | failed | timeout | killed (memory)
    runs: list[Run] = field(default_factory=list)
    note: str = ""
    command: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(r.wall for r in self.runs) if self.runs else None

    @property
    def best(self) -> float | None:
        return min(r.wall for r in self.runs) if self.runs else None

    @property
    def peak_mb(self) -> float | None:
        return max(r.rss_mb for r in self.runs) if self.runs else None


@dataclass
class Case:
    name: str
    group: str  # limit | mlfail | peer
    argv: list[str]
    available: Callable[[], str | None] = lambda: None  # reason when not available
    before: Callable[[], None] = lambda: None
    stdout: Path | None = None
    ok_codes: tuple[int, ...] = (0,)
    env: dict[str, str] | None = None
    needs: tuple[str, ...] = ()  # cases that must run before it (their output is its input)


# --------------------------------------------------------------------------- measuring


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and its descendants (Linux /proc), 0 if unreadable."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


_RSS_HELPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[2:], stdout=open(sys.argv[1], 'wb') if sys.argv[1] != '-' "
    "else subprocess.DEVNULL)\n"
    "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(ru.ru_maxrss, rc, ru.ru_utime + ru.ru_stime, file=sys.stderr)\n"
)


def measure(
    argv: list[str],
    stdout: Path | None,
    timeout: float,
    mem_cap_kb: int | None,
    env: dict[str, str] | None = None,
) -> tuple[Run | None, str, str]:
    """Run ``argv`` once as its own process. Returns (run, status, stderr tail)."""
    with tempfile.TemporaryDirectory() as tmp:
        tfile = Path(tmp) / "time.txt"
        if TIME:
            cmd = [TIME, "-v", "-o", str(tfile), *argv]
            out = open(stdout, "wb") if stdout else subprocess.DEVNULL  # noqa: SIM115
        else:
            cmd = [sys.executable, "-c", _RSS_HELPER, str(stdout or "-"), *argv]
            out = subprocess.DEVNULL
        errf = Path(tmp) / "stderr.txt"
        with open(errf, "wb") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=err,
                cwd=tmp,  # not the repository: `python -m mlfail` must not import ./mlfail
                start_new_session=True,
                env={**os.environ, **env} if env else None,
            )
            status = "ok"
            while True:
                try:
                    proc.wait(timeout=0.2)  # returns as soon as the process ends
                    break
                except subprocess.TimeoutExpired:
                    pass
                if time.perf_counter() - t0 > timeout:
                    status = "timeout"
                elif mem_cap_kb and _tree_rss_kb(proc.pid) > mem_cap_kb:
                    status = "killed (memory)"
                if status != "ok":
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    break
            wall = time.perf_counter() - t0
        if out not in (subprocess.DEVNULL, None):
            out.close()  # type: ignore[union-attr]
        text = errf.read_text(errors="replace")
        rc = proc.returncode
        rss_kb = 0
        cpu: float | None = None
        if TIME and tfile.exists():
            timed = tfile.read_text()
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", timed)
            rss_kb = int(m.group(1)) if m else 0
            m = re.search(r"Exit status: (\d+)", timed)
            rc = int(m.group(1)) if m else rc
            user = re.search(r"User time \(seconds\): ([\d.]+)", timed)
            system = re.search(r"System time \(seconds\): ([\d.]+)", timed)
            if user and system:
                cpu = float(user.group(1)) + float(system.group(1))
        elif not TIME:
            last = text.strip().splitlines()[-1:] or ["0 1 0"]
            with contextlib.suppress(ValueError):
                k, code, secs = last[0].split()
                rss_kb, rc, cpu = int(k), int(code), float(secs)
        tail = " ".join(text.strip().splitlines()[-2:])[:300]
        if status != "ok":
            return None, status, tail
        return Run(wall=wall, rss_mb=rss_kb / 1024, rc=rc, cpu=cpu), "ok", tail


def _attempt(case: Case, res: Result, timeout: float, mem_cap_kb: int | None,
             log: Callable[[str], None], label: str = "") -> Run | None:  # fmt: skip
    case.before()
    run, status, tail = measure(case.argv, case.stdout, timeout, mem_cap_kb, case.env)
    if run is None or run.rc not in case.ok_codes:
        res.status = status if run is None else "failed"
        res.note = f"exit {run.rc}: {tail}" if run is not None else (tail or status)
        log(f"  {case.name}: {res.status} — {res.note}")
        return None
    log(f"  {case.name}: {run.wall:.2f} s, {run.rss_mb:.0f} MB{label}")
    return run


def run_cases(
    cases: list[Case],
    dataset: str,
    runs: int,
    *,
    timeout: float,
    log: Callable[[str], None],
) -> list[Result]:
    """Warm each case up once, then ``runs`` rounds that run every case once in turn, so that a
    change of machine load hits the limit and mlfail alike (interleaved, not case after case)."""
    results, live = [], []
    for case in cases:
        res = Result(dataset, case.name, case.group, "ok", command=" ".join(case.argv))
        results.append(res)
        why = case.available()
        if why:
            res.status, res.note = "not available", why
            log(f"  {case.name}: not available ({why})")
        elif _attempt(case, res, timeout, None, log, " (warm-up)") is not None:
            live.append((case, res))
    for _ in range(runs):
        for case, res in live:
            if res.status != "ok":
                continue
            run = _attempt(case, res, timeout, None, log)
            if run is not None:
                res.runs.append(run)
    return results


def run_peer(
    case: Case,
    dataset: str,
    runs: int,
    *,
    timeout: float,
    single_after: float,
    mem_cap_kb: int | None,
    log: Callable[[str], None],
) -> Result:
    """A peer: one warm-up and ``runs`` runs, or a single run when it is slower than
    ``single_after`` seconds."""
    res = Result(dataset, case.name, case.group, "ok", command=" ".join(case.argv))
    first = _attempt(case, res, timeout, mem_cap_kb, log, " (warm-up)")
    if first is None:
        return res
    if first.wall > single_after:
        res.runs.append(first)
        res.note = f"one run (> {single_after:.0f} s per run; no warm-up)"
        return res
    for _ in range(runs):
        run = _attempt(case, res, timeout, mem_cap_kb, log)
        if run is None:
            return res
        res.runs.append(run)
    return res


# --------------------------------------------------------------------------- the cases


def _help_ok(args: list[str]) -> tuple[bool, str]:
    try:
        p = subprocess.run(
            [*MLFAIL, *args, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=tempfile.gettempdir(),
        )
    except subprocess.TimeoutExpired:
        return False, ""
    return p.returncode == 0, p.stdout


def _flags(help_text: str, wanted: list[tuple[str, list[str]]]) -> list[str]:
    """Keep the (flag, values) pairs the command's --help knows."""
    out: list[str] = []
    for flag, values in wanted:
        if re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text):
            if values:
                for v in values:
                    out += [flag, v]
            else:
                out.append(flag)
    return out


def mlfail_cases(d: Path, work: Path, before: Path | None = None) -> list[Case]:
    m = json.loads((d / "manifest.json").read_text())
    ref, live = str(d / "reference.parquet"), str(d / "live.parquet")
    feats = ",".join(m["numeric"] + m["categorical"])
    roles = ["--timestamp", "ts", "--label", "label", "--prediction", "score"]
    roles_flags = [("--timestamp", ["ts"]), ("--label", ["label"]), ("--prediction", ["score"])]
    baseline = work / "baseline.json"
    psi_out = work / "psi.json"
    cases = [
        Case("limit: scan live", "limit", [sys.executable, str(HERE / "cases/limit.py"), live]),
        Case(
            "limit: scan reference+live",
            "limit",
            [sys.executable, str(HERE / "cases/limit.py"), ref, live],
        ),
        Case(
            "limit: scan reference",  # what baseline create is compared with
            "limit",
            [sys.executable, str(HERE / "cases/limit.py"), ref],
        ),
        Case(
            "mlfail psi --reference",
            "mlfail",
            [
                *MLFAIL,
                "psi",
                "--reference",
                ref,
                "--live",
                live,
                "--features",
                feats,
                *roles,
                "--format",
                "json",
            ],
            stdout=psi_out,
            ok_codes=(0, 1),
        ),
    ]

    if before is not None:  # the same command on an older mlfail (an exported source tree)
        label = (
            (before / ".commit").read_text().strip()
            if (before / ".commit").exists()
            else before.name
        )
        cases.append(
            Case(
                f"mlfail psi --reference (before: {label})",
                "before",
                cases[-1].argv,
                ok_codes=(0, 1),
                env={"PYTHONPATH": str(before)},
            )
        )
    ok, text = _help_ok(["baseline", "create"])
    bl_flags = _flags(
        text,
        [("--reference", [ref]), ("--out", [str(baseline)]), ("--output", [str(baseline)]), ("--features", [feats]),
         ("--timestamp", ["ts"]), ("--label", ["label"]), ("--prediction", ["score"]),
         ("--segment", list(SEGMENTS)), ("--force", [])],
    )  # fmt: skip
    cases.append(
        Case(
            "mlfail baseline create",
            "mlfail",
            [*MLFAIL, "baseline", "create", *bl_flags],
            available=lambda ok=ok: None if ok else "`mlfail baseline create --help` fails",
            before=lambda: baseline.unlink(missing_ok=True),
        )
    )

    def have_baseline() -> str | None:
        ok, text = _help_ok(["psi"])
        if not ok or "--baseline" not in text:
            return "`mlfail psi` has no --baseline"
        return None if baseline.exists() else "no baseline file (baseline create not available)"

    cases.append(
        Case(
            "mlfail psi --baseline",
            "mlfail",
            [*MLFAIL, "psi", "--baseline", str(baseline), "--live", live, "--format", "json"],
            available=have_baseline,
            ok_codes=(0, 1),
            needs=("mlfail baseline create",),
        )
    )
    ok, text = _help_ok(["slices"])
    side = [("--baseline", [str(baseline)])] if "--baseline" in text else []
    slices_flags = _flags(
        text,
        [*side, ("--live", [live]), *roles_flags, ("--segment", list(SEGMENTS)),
         ("--format", ["json"])],
    )  # fmt: skip
    if not side:  # no --baseline: use the reference
        slices_flags = ["--reference", ref, *slices_flags]

    def slices_avail(ok: bool = ok, side: list = side) -> str | None:
        if not ok:
            return "`mlfail slices --help` fails"
        if side and not baseline.exists():
            return "no baseline file (baseline create not available)"
        return None

    cases.append(
        Case(
            "mlfail slices",
            "mlfail",
            [*MLFAIL, "slices", *slices_flags],
            available=slices_avail,
            ok_codes=(0, 1),
            needs=("mlfail baseline create",) if side else (),
        )
    )

    # triage against the reference (reads both sides) and against the baseline (live only)
    ok, text = _help_ok(["triage"])
    tail = _flags(text, [("--segment", list(SEGMENTS)), ("--no-input", []), ("--format", ["json"])])
    for side_flag, source in (("--reference", ref), ("--baseline", str(baseline))):
        argv = [*MLFAIL, "triage", side_flag, source, "--live", live, *roles, *tail]

        def triage_avail(ok: bool = ok, text: str = text, side_flag: str = side_flag) -> str | None:
            if not ok:
                return "`mlfail triage --help` fails"
            if side_flag not in text:
                return f"`mlfail triage` has no {side_flag}"
            if side_flag == "--baseline" and not baseline.exists():
                return "no baseline file (baseline create not available)"
            return None

        cases.append(
            Case(
                f"mlfail triage {side_flag}",
                "mlfail",
                argv,
                available=triage_avail,
                stdout=work / f"triage{side_flag.replace('--', '-')}.json",
                ok_codes=(0, 1),
                needs=("mlfail baseline create",) if side_flag == "--baseline" else (),
            )
        )
    return cases


def select_cases(cases: list[Case], only: list[str]) -> list[Case]:
    """The cases ``--only`` asks for (a name containing one of ``only``; all when it is empty),
    plus every limit case (the ratios are to them) and, transitively, the cases they ``need``
    (``triage --baseline`` needs ``baseline create``), in their original order."""
    if not only:
        return list(cases)
    by_name = {c.name: c for c in cases}
    want = {c.name for c in cases if c.group == "limit" or any(o in c.name for o in only)}
    todo = list(want)
    while todo:
        for dep in by_name[todo.pop()].needs:
            if dep in by_name and dep not in want:
                want.add(dep)
                todo.append(dep)
    return [c for c in cases if c.name in want]


def ensure_peers(log: Callable[[str], None]) -> Path:
    """Create/refresh benchmarks/.peers-venv from peers-requirements.txt."""
    py = PEERS_VENV / "bin" / "python"
    stamp = PEERS_VENV / ".requirements.sha256"
    want = hashlib.sha256(PEERS_REQ.read_bytes()).hexdigest()
    if py.exists() and stamp.exists() and stamp.read_text() == want:
        return py
    log(f"installing peers into {PEERS_VENV} (once)")
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(PEERS_REQ)], check=True)
    stamp.write_text(want)
    return py


def peer_cases(d: Path, py: Path, work: Path) -> list[Case]:
    m = json.loads((d / "manifest.json").read_text())
    common = [
        "--reference", str(d / "reference.parquet"), "--live", str(d / "live.parquet"),
        "--numeric", ",".join(m["numeric"]), "--categorical", ",".join(m["categorical"]),
    ]  # fmt: skip
    out = []
    for name, script in (
        ("evidently psi_stat_test (legacy)", "evidently_stattest.py"),
        ("evidently Report (PSI)", "evidently_report.py"),
        ("feature-engine DropHighPSIFeatures", "feature_engine_psi.py"),
    ):
        res = work / f"{script}.json"
        out.append(
            Case(name, "peer", [str(py), str(HERE / "peers" / script), *common, "--out", str(res)])
        )
    return out


# --------------------------------------------------------------------------- reporting


def machine() -> dict[str, str]:
    info = {"cores": str(os.cpu_count()), "platform": platform.platform()}
    with contextlib.suppress(OSError):
        mem = Path("/proc/meminfo").read_text()
        kb = int(re.search(r"MemTotal:\s+(\d+)", mem).group(1))  # type: ignore[union-attr]
        info["ram"] = f"{kb / 1024**2:.1f} GiB"
    with contextlib.suppress(OSError):
        cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        if cpu:
            info["cpu"] = cpu.group(1).strip()
    return info


def load() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def versions(peers_py: Path | None) -> dict[str, str]:
    import numpy
    import polars
    import pyarrow
    import scipy

    import mlfail

    v = {
        "python": platform.python_version(),
        "mlfail": mlfail.__version__,
        "polars": polars.__version__,
        "pyarrow": pyarrow.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
    }
    with contextlib.suppress(Exception):
        v["mlfail commit"] = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    if peers_py:
        code = (
            "import importlib.metadata as m\n"
            "for p in ('evidently','feature-engine','pandas','numpy'):\n"
            "    print(p, m.version(p))"
        )
        with contextlib.suppress(Exception):
            out = subprocess.run([str(peers_py), "-c", code], capture_output=True, text=True)
            for line in out.stdout.splitlines():
                name, ver = line.split()
                v[f"peer {name}"] = ver
    return v


def fe_check(psi_json: Path, fe_json: Path, manifest: dict) -> dict[str, object]:
    """mlfail's global PSI vs feature-engine's on the null-free numeric features."""
    ours = {
        r["feature"]: r["psi"]
        for r in json.loads(psi_json.read_text())["features"]
        if r.get("slice") is None
    }
    theirs = json.loads(fe_json.read_text())
    cols = [c for c in manifest["numeric"] if c in ours and c in theirs and c not in NULLY]
    diffs = {c: abs(ours[c] - theirs[c]) for c in cols}
    worst = max(diffs, key=lambda c: diffs[c]) if diffs else None
    return {
        "features": len(cols),
        "max_abs_diff": max(diffs.values()) if diffs else None,
        "worst": worst,
        "ok": bool(diffs) and max(diffs.values()) <= 1e-9,
    }


# numeric columns with nulls in the generated data (feature-engine drops NaN, mlfail bins it)
NULLY = {f"num_{i:02d}" for i in range(200) if i % 4 == 3} | {"num_03"}


def fmt_s(x: float | None) -> str:
    return "—" if x is None else (f"{x:.2f}" if x < 100 else f"{x:.0f}")


def write_report(path: Path, data: dict) -> None:
    results = [Result(**{**r, "runs": [Run(**x) for x in r["runs"]]}) for r in data["results"]]
    by = {(r.dataset, r.case): r for r in results}
    lines = [f"# mlfail benchmarks — {data['date']}", ""]
    mach = data["machine"]
    lines += [
        "## Machine and versions",
        "",
        f"- machine: {mach.get('cores')} cores, {mach.get('ram', '?')} RAM, "
        f"{mach.get('cpu', '?')}; {mach.get('platform')}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()),
        f"- runs: median of {data['runs']} after one warm-up, each case a separate process, the cases of a dataset interleaved round by round; "
        f"wall time around the process, peak RSS from "
        f"{'`/usr/bin/time -v`' if data['time_tool'] else 'getrusage(RUSAGE_CHILDREN)'}",
        (
            "- load average (1/5/15 min) before → after each dataset: "
            if any("→" in v for v in data["load"].values())
            else "- load average (1/5/15 min) before each dataset: "
        )
        + "; ".join(f"{k}: {v}" for k, v in data["load"].items()),
        "",
    ]
    lines += ["## Targets", "", "| target | measured | status |", "|---|---|---|"]
    for t in data["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {t['status']} |")
    lines.append("")
    for ds in data["datasets"]:
        lines += [f"## {ds}", ""]
        lim_both = by.get((ds, "limit: scan reference+live"))
        lim_live = by.get((ds, "limit: scan live"))
        lim_ref = by.get((ds, "limit: scan reference"))
        psi = by.get((ds, "mlfail psi --reference"))
        lines += [
            "| case | median s | best s | runs s | peak RSS MB | × limit (median; best) | status |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in results:
            if r.dataset != ds:
                continue
            limit, side = lim_live, "live"
            if r.case.startswith("mlfail psi --reference"):
                limit, side = lim_both, "ref+live"
            elif r.case == "mlfail baseline create" and lim_ref is not None:
                limit, side = lim_ref, "reference"  # older results have no reference scan
            ratio = "—"
            if r.group in ("mlfail", "before") and r.median and limit and limit.median:
                best = r.best / limit.best if r.best and limit.best else float("nan")
                ratio = f"{r.median / limit.median:.2f}×; {best:.2f}× {side}"
            if r.group == "peer" and r.median and psi and psi.median:
                ratio = f"{r.median / psi.median:.1f}× mlfail psi"
            runs = ", ".join(fmt_s(x.wall) for x in r.runs)
            status = r.status + (f" — {r.note}" if r.note else "")
            peak = f"{r.peak_mb:.0f}" if r.peak_mb else "—"
            lines.append(
                f"| {r.case} | {fmt_s(r.median)} | {fmt_s(r.best)} | {runs} | {peak} | {ratio} "
                f"| {status} |"
            )
        lines.append("")
        if ds in data.get("fe_check", {}):
            c = data["fe_check"][ds]
            lines += [
                f"PSI vs feature-engine on this data: {c['features']} null-free numeric "
                f"features, max |mlfail − feature-engine| = {c['max_abs_diff']:.3g} "
                f"(worst {c['worst']}): {'OK (≤ 1e-9)' if c['ok'] else 'MISMATCH'}.",
                "",
            ]
    if data.get("scaling"):
        lines += ["## Scaling", "", "| dataset | scan ref+live s | psi --reference s | "
                  "psi s per million rows·40 columns | ratio to the limit |", "|---|---|---|---|---|"]  # fmt: skip
        for s in data["scaling"]:
            lines.append(
                f"| {s['dataset']} | {fmt_s(s['limit'])} | {fmt_s(s['psi'])} | "
                f"{s['per_unit']:.2f} | {s['ratio']:.2f}× |"
            )
        lines.append("")
    if data.get("triage_scaling"):
        lines += triage_scaling_table(data["triage_scaling"])
    lines += ["## Notes", "", *[f"- {n}" for n in data.get("notes", [])], ""]
    if data.get("appendix"):
        lines += [data["appendix"].rstrip(), ""]
    path.write_text("\n".join(lines))


def triage_scaling_table(rows: list[dict]) -> list[str]:
    """Markdown for ``triage_scaling``: read "linear in time" off the s per M rows columns and
    "flat in memory" off the peak MB columns."""

    def num(x: float | None, f: str) -> str:
        return "—" if x is None else format(x, f)

    head = ["rows", "live scan s"]
    for _, lim_case, label in TRIAGE_SCALING:
        if lim_case == "limit: scan reference":
            head.append("reference scan s")
        scan = lim_case.removeprefix("limit: scan ")
        head += [f"{label} s", f"× {scan} scan", "peak MB", "s per M rows"]
    out = [
        "## Scaling: triage and baseline create (40 features)",
        "",
        "Each ratio is to the bare scan of the same dataset in the same run (medians). Linear "
        "in time: the s per M rows columns stay level as rows grow; flat in memory: the peak MB "
        "columns do.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        cells = [f"{r['rows']:,}", fmt_s(r["scan_live"])]
        for case, lim_case, _ in TRIAGE_SCALING:
            if lim_case == "limit: scan reference":
                cells.append(fmt_s(r["scan_reference"]))
            c = r.get(case) or {}
            ratio = c.get("ratio")
            cells += [
                fmt_s(c.get("s")),
                "—" if ratio is None else f"{ratio:.2f}×",
                num(c.get("peak_mb"), ".0f"),
                num(c.get("s_per_m_rows"), ".2f"),
            ]
        out.append("| " + " | ".join(cells) + " |")
    return [*out, "", *_cpu_table(rows)]


def _cpu_table(rows: list[dict]) -> list[str]:
    """The same cases in CPU seconds (user + system of the process): the wall-time ratios move
    with the host (the bare scan is mostly decoding, the walk keeps both cores busy), the CPU
    spent moves less."""
    if not any(
        (r.get(c) or {}).get("cpu_s") is not None for r in rows for c, _, _ in TRIAGE_SCALING
    ):
        return []
    head = ["dataset", "live scan CPU s"]
    for _, lim_case, label in TRIAGE_SCALING:
        if lim_case == "limit: scan reference":
            head.append("reference scan CPU s")
        head += [f"{label} CPU s", f"× {lim_case.removeprefix('limit: scan ')} scan CPU"]
    out = [
        "CPU time (user + system seconds, medians; the process and its children), the same",
        "cases: a steadier measure of the work than wall time on a host whose speed moves.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        cells = [r["dataset"], fmt_s(r.get("scan_live_cpu"))]
        for case, lim_case, _ in TRIAGE_SCALING:
            if lim_case == "limit: scan reference":
                cells.append(fmt_s(r.get("scan_reference_cpu")))
            c = r.get(case) or {}
            ratio = c.get("cpu_ratio")
            cells += [fmt_s(c.get("cpu_s")), "—" if ratio is None else f"{ratio:.2f}×"]
        out.append("| " + " | ".join(cells) + " |")
    return [*out, ""]


def evaluate(data: dict) -> None:
    results = {(r["dataset"], r["case"]): r for r in data["results"]}

    def med(ds: str, case: str) -> float | None:
        r = results.get((ds, case))
        if not r or not r["runs"]:
            return None
        return statistics.median(x["wall"] for x in r["runs"])

    def mn(ds: str, case: str) -> float:
        r = results.get((ds, case))
        return min(x["wall"] for x in r["runs"]) if r and r["runs"] else float("nan")

    def peak(ds: str, case: str) -> float | None:
        r = results.get((ds, case))
        return max(x["rss_mb"] for x in r["runs"]) if r and r["runs"] else None

    def cpu(ds: str, case: str) -> float | None:
        r = results.get((ds, case))
        secs = [x.get("cpu") for x in r["runs"]] if r and r["runs"] else []
        return statistics.median(secs) if secs and None not in secs else None

    targets = []
    big = max(data["datasets"], key=lambda d: (d.endswith("_c40"), parse_ds(d)[0]))
    both, live, ref = "limit: scan reference+live", "limit: scan live", "limit: scan reference"
    for ds in data["datasets"]:
        for case, lim_case, key, name in (
            ("mlfail psi --reference", both, "psi_reference", "ref+live scan"),
            ("mlfail psi --baseline", live, "psi_baseline", "live scan"),
            ("mlfail triage", live, "triage", "live scan"),  # older results: one triage case
            ("mlfail triage --reference", live, "triage_reference", "live scan"),
            ("mlfail triage --baseline", live, "triage_baseline", "live scan"),
            ("mlfail baseline create", ref, "baseline_create", "reference scan"),
            ("mlfail slices", live, "slices", "live scan"),
        ):
            t, limit = med(ds, case), med(ds, lim_case)
            goal = TARGETS[key]
            if ds != big and key != "psi_reference":
                continue
            if key == "triage" and (ds, case) not in results:
                continue
            if t is None or not limit:
                st = results.get((ds, case), {}).get("status", "not run")
                if t is not None:  # measured, but its scan was not (older results)
                    st = f"no `{lim_case}` in this run"
                targets.append(
                    {"target": f"{ds}: `{case}` ≤ {goal}× {name}", "measured": "—", "status": st}
                )
                continue
            ratio = t / limit
            best = mn(ds, case) / mn(ds, lim_case)
            targets.append(
                {
                    "target": f"{ds}: `{case}` ≤ {goal}× {name}",
                    "measured": f"median {t:.2f} s / {limit:.2f} s = {ratio:.2f}× "
                    f"(best runs: {best:.2f}×)",
                    "status": "met" if ratio <= goal else "MISSED",
                }
            )
    psi = med(big, "mlfail psi --reference")
    for r in data["results"]:
        if r["dataset"] != big or r["group"] != "peer":
            continue
        t = med(big, r["case"])
        if t is None:
            targets.append({"target": f"{big}: ≥ 10× faster than {r['case']}",
                            "measured": f"peer {r['status']}: {r['note']}", "status": "met (peer failed)"
                            if r["status"] in ("failed", "timeout", "killed (memory)") else r["status"]})  # fmt: skip
            continue
        sp = t / psi if psi else 0.0
        targets.append(
            {
                "target": f"{big}: ≥ 10× faster than {r['case']}",
                "measured": f"{t:.1f} s / {psi:.2f} s = {sp:.1f}×; peak {peak(big, r['case']) or 0:.0f} MB",
                "status": "met" if sp >= TARGETS["peer_speedup"] else "MISSED",
            }
        )
    for case, key in (
        ("mlfail psi --reference", "psi_rss_gb"),
        ("mlfail baseline create", "psi_rss_gb"),
        ("mlfail triage --reference", "triage_rss_gb"),
        ("mlfail triage --baseline", "triage_rss_gb"),
    ):
        p, goal = peak(big, case), TARGETS[key]
        target = f"{big}: peak RSS of `{case}` ≤ {goal} GB"
        if p is not None:
            targets.append(
                {
                    "target": target,
                    "measured": f"{p / 1024:.2f} GB",
                    "status": "met" if p / 1024 <= goal else "MISSED",
                }
            )
        elif key == "triage_rss_gb":  # the psi rows keep their old behaviour: absent when not run
            st = results.get((big, case), {}).get("status", "not run")
            targets.append({"target": target, "measured": "—", "status": st})
    scaling = []
    base = None
    for ds in sorted(data["datasets"], key=parse_ds):
        rows, cols = parse_ds(ds)
        lim, t = med(ds, "limit: scan reference+live"), med(ds, "mlfail psi --reference")
        if lim is None or t is None:
            continue
        unit = t / (rows / 1e6 * cols / 40)
        base = base or unit
        scaling.append({"dataset": ds, "limit": lim, "psi": t, "per_unit": unit,
                        "ratio": t / lim})  # fmt: skip
    data["targets"] = targets
    data["scaling"] = scaling
    data["triage_scaling"] = triage_scaling(data, med, peak, cpu)


def triage_scaling(
    data: dict,
    med: Callable[[str, str], float | None],
    peak: Callable[[str, str], float | None],
    cpu: Callable[[str, str], float | None] = lambda ds, case: None,
) -> list[dict]:
    """One row per 40-feature dataset (by rows): the triage cases and baseline create, each with
    its seconds, ratio to its bare scan in the same run, peak RSS and seconds per million rows;
    and the CPU seconds (user + system, medians) of each and of its scan, with their ratio."""
    rows_out = []
    for ds in sorted((d for d in data["datasets"] if parse_ds(d)[1] == 40), key=parse_ds):
        rows = parse_ds(ds)[0]
        row: dict = {
            "dataset": ds,
            "rows": rows,
            "scan_live": med(ds, "limit: scan live"),
            "scan_reference": med(ds, "limit: scan reference"),
            "scan_live_cpu": cpu(ds, "limit: scan live"),
            "scan_reference_cpu": cpu(ds, "limit: scan reference"),
        }
        for case, lim_case, _ in TRIAGE_SCALING:
            t, lim = med(ds, case), med(ds, lim_case)
            c, lim_c = cpu(ds, case), cpu(ds, lim_case)
            row[case] = (
                None
                if t is None
                else {
                    "s": t,
                    "ratio": t / lim if lim else None,
                    "peak_mb": peak(ds, case),
                    "s_per_m_rows": t / (rows / 1e6) if rows else None,
                    "cpu_s": c,
                    "cpu_ratio": c / lim_c if c is not None and lim_c else None,
                }
            )
        if any(row[c] for c, _, _ in TRIAGE_SCALING):
            rows_out.append(row)
    return rows_out


def parse_ds(name: str) -> tuple[int, int]:
    m = re.match(r"n(\d+)_c(\d+)", name)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", default="1M,2M,5M", help="comma-separated sizes (40 features)")
    ap.add_argument("--wide", action=argparse.BooleanOptionalAction, default=True,
                    help="also 1M rows × 160 features")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="one small size, no peers")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per case after a warm-up")
    ap.add_argument("--peers", action=argparse.BooleanOptionalAction, default=None)
    ap.add_argument("--peer-rows", default="5M", help="sizes at which the peers run")
    ap.add_argument("--peer-single", type=float, default=60.0,
                    help="a peer slower than this (s) is run once")  # fmt: skip
    ap.add_argument("--peer-mem-gb", type=float, default=20.0)
    ap.add_argument("--timeout", type=float, default=1800.0, help="per run, seconds")
    ap.add_argument(
        "--peers-from",
        type=Path,
        help="reuse the peer rows (and the feature-engine check) of an earlier raw results JSON "
        "instead of running the peers again",
    )
    ap.add_argument("--only", default="", help="run only cases whose name contains one of these")
    ap.add_argument(
        "--before",
        type=Path,
        help="also time `psi --reference` with the mlfail package found in this directory "
        "(e.g. `git archive <commit> mlfail | tar -x -C DIR`; a .commit file names it)",
    )
    ap.add_argument(
        "--appendix", type=Path, help="a markdown file appended to the results (e.g. profiles)"
    )
    ap.add_argument("--data", type=Path, default=HERE / "data")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    ap.add_argument("--date", default=dt.date.today().isoformat())
    ap.add_argument(
        "--render",
        type=Path,
        help="only re-render the markdown from this raw results JSON (with --appendix)",
    )
    a = ap.parse_args(argv)
    if a.render:
        data = json.loads(a.render.read_text())
        if a.appendix:
            data["appendix"] = a.appendix.read_text()
        evaluate(data)
        a.render.write_text(json.dumps(data, indent=1, default=str) + "\n")
        write_report(a.render.with_suffix(".md"), data)
        print(a.render.with_suffix(".md"))
        return 0
    if a.quick:
        a.rows, a.wide = "200k", False
        a.peers = False if a.peers is None else a.peers
    peers = True if a.peers is None else a.peers
    sizes = [(parse_rows(r), 40) for r in a.rows.split(",") if r]
    if a.wide:
        sizes.append((1_000_000, 160))
    peer_sizes = {parse_rows(r) for r in a.peer_rows.split(",") if r}
    only = [s.strip() for s in a.only.split(",") if s.strip()]

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    peers_py = ensure_peers(log) if peers and any(r in peer_sizes for r, _ in sizes) else None
    data: dict = {
        "date": a.date,
        "machine": machine(),
        "versions": versions(peers_py),
        "runs": a.runs,
        "time_tool": TIME,
        "load": {},
        "datasets": [],
        "results": [],
        "fe_check": {},
        "notes": [
            "limit = `pl.scan_parquet(files).select(pl.all().null_count())"
            '.collect(engine="streaming")` (all columns), as a separate process.',
            "mlfail runs with `--timestamp ts --label label --prediction score`, `--format json`; "
            "psi and baseline create with `--features` (the 40 or 160 features), triage and "
            "slices with `--segment` (the 8 segment columns), triage with `--no-input`.",
            "peers load the same files with pandas and get the same features; a peer slower "
            "than 60 s per run is run once (its margin to the target is far larger than "
            "run-to-run noise).",
        ],
    }
    a.results.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mlfail-bench-") as tmp:
        for rows, cols in sizes:
            d = generate(a.data, rows, cols)
            ds = d.name
            work = Path(tmp) / ds
            work.mkdir()
            data["datasets"].append(ds)
            data["load"][ds] = load()
            log(f"{ds} (load {data['load'][ds]})")
            cases = mlfail_cases(d, work, a.before)
            if peers_py and rows in peer_sizes and cols == 40 and not a.peers_from:
                cases += peer_cases(d, peers_py, work)
            chosen = select_cases(cases, only)
            local = [c for c in chosen if c.group != "peer"]
            for res in run_cases(local, ds, a.runs, timeout=a.timeout, log=log):
                data["results"].append(asdict(res))
            for case in (c for c in chosen if c.group == "peer"):
                res = run_peer(
                    case,
                    ds,
                    a.runs,
                    timeout=a.timeout,
                    single_after=a.peer_single,
                    mem_cap_kb=int(a.peer_mem_gb * 1024**2),
                    log=log,
                )
                data["results"].append(asdict(res))
            data["load"][ds] += f" → {load()} after"
            fe = work / "feature_engine_psi.py.json"
            if fe.exists() and (work / "psi.json").exists():
                manifest = json.loads((d / "manifest.json").read_text())
                data["fe_check"][ds] = fe_check(work / "psi.json", fe, manifest)
    if a.peers_from:
        old = json.loads(a.peers_from.read_text())
        for r in old["results"]:
            if r["group"] == "peer" and r["dataset"] in data["datasets"]:
                data["results"].append(r)
        for ds, c in old.get("fe_check", {}).items():
            data["fe_check"].setdefault(ds, c)
        for k, v in old["versions"].items():
            if k.startswith("peer "):
                data["versions"].setdefault(k, v)
        data["notes"].append(
            f"peer rows (and the feature-engine check) from the run of {old['date']} "
            f"(`{a.peers_from.name}`, load before it: {old['load']}); mlfail's output is "
            "byte-identical between the two runs' versions."
        )
    evaluate(data)
    if a.appendix:
        data["appendix"] = a.appendix.read_text()
    out = a.results / f"{a.date}{'-quick' if a.quick else ''}.md"
    (out.with_suffix(".json")).write_text(json.dumps(data, indent=1, default=str) + "\n")
    write_report(out, data)
    log(f"wrote {out}")
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Regenerate (--write) or verify (--check) the generated parts of README.md:

* between ``<!-- demo:start -->`` and ``<!-- demo:end -->``: the output of the demo triage run
  (the same flags as ``make demo``), captured at 100 columns without colour;
* between ``<!-- cli:start -->`` and ``<!-- cli:end -->``: ``--help`` of every command.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
WIDTH = 100
DEMO_ARGS = [
    "triage",
    "--reference",
    "sample_data/reference.parquet",
    "--live",
    "sample_data/live",
    "--timestamp",
    "ts",
    "--label",
    "is_fraud",
    "--prediction",
    "score",
    "--meta",
    "pipeline_version",
    "--meta",
    "sdk_version",
    "--metrics",
    "sample_data/metrics.parquet",
    "--changes",
    "sample_data/changes.csv",
    "--owners",
    "sample_data/owners.toml",
    "--candidate-source",
    "sample_data/candidate.parquet",
    "--candidate-prediction",
    "score",
    "--id",
    "event_id",
    "--offline",
    "sample_data/offline.parquet",
    "--no-input",
]


def _invoke(args: list[str]) -> str:
    from typer.testing import CliRunner

    from mlfail.cli.app import app

    env = {"COLUMNS": str(WIDTH), "NO_COLOR": "1", "TERM": "dumb"}
    r = CliRunner().invoke(app, args, env=env, color=False)
    if r.exit_code not in (0, 1):
        raise SystemExit(f"mlfail {' '.join(args)} exited {r.exit_code}: {r.stderr}")
    return r.stdout


def commands() -> list[list[str]]:
    import typer

    from mlfail.cli.app import app

    out: list[list[str]] = [[]]
    root = typer.main.get_command(app)
    for name, cmd in root.commands.items():  # type: ignore[attr-defined]
        out.append([name])
        for sub in getattr(cmd, "commands", {}) or {}:
            out.append([name, sub])
    return out


def demo_block() -> str:
    return "```text\n" + _invoke(DEMO_ARGS).rstrip() + "\n```"


def cli_block() -> str:
    parts = []
    for cmd in commands():
        title = "mlfail " + " ".join(cmd) if cmd else "mlfail"
        text = _invoke([*cmd, "--help"]).rstrip()
        parts.append(f"### `{title}`\n\n```text\n{text}\n```")
    return "\n\n".join(parts)


def render(readme: str) -> str:
    for tag, block in (("demo", demo_block()), ("cli", cli_block())):
        pat = re.compile(rf"(<!-- {tag}:start -->\n).*?(<!-- {tag}:end -->)", re.S)
        if not pat.search(readme):
            raise SystemExit(f"README.md: markers <!-- {tag}:start/end --> not found")
        readme = pat.sub(lambda m, b=block: m.group(1) + b + "\n" + m.group(2), readme)
    return readme


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite README.md")
    args = ap.parse_args()
    os.chdir(ROOT)
    current = README.read_text(encoding="utf-8")
    fresh = render(current)
    if args.write:
        README.write_text(fresh, encoding="utf-8")
        return 0
    if fresh != current:
        print("README.md is stale: run `make readme`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

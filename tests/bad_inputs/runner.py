"""Run one (case, command) pair on a fresh world and describe what happened."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from bad_inputs.cases import Case
from bad_inputs.commands import Command
from bad_inputs.world import World, make_world
from mlfail.cli.app import app


@dataclass
class Outcome:
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None
    world: World


def applies(case: Case, command: Command) -> bool:
    if case.only and command.name not in case.only:
        return False
    if command.name in case.skip:
        return False
    if case.target == "both":
        return bool({"live", "reference"} & command.reads)
    if case.target == "args":
        return True
    return case.target in command.reads


def argv_for(case: Case, command: Command, w: World) -> list[str]:
    argv = command.build(w)
    if "output" in w.extra and command.name != "baseline create":
        argv += ["--output", w.extra["output"][0]]
    return argv


def run_case(case: Case, command: Command, root: Path) -> Outcome:
    w = make_world(root)
    case.build(w)
    argv = argv_for(case, command, w)
    r = CliRunner().invoke(app, argv, env={"CI": "true", "COLUMNS": "120"})
    exc = r.exception if not isinstance(r.exception, SystemExit) else None
    return Outcome(argv, r.exit_code, r.stdout, r.stderr, exc, w)


def payload(out: Outcome, command: Command) -> Any:
    if command.json and not out.world.extra.get("output"):
        return json.loads(out.stdout)
    return None

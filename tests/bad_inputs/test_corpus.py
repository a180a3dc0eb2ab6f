"""Every bad-input case through every command that reads the broken input (issue 8).

Each (case, command) pair must end in either a correct report (exit 0 or 1, JSON that parses,
the case's own assertions, and — for harmless variants — the same findings as on the unbroken
world) or exactly one clear error line on stderr with exit 2. Never a traceback, never an
error reported as exit 1, never a partial or clobbered output file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from bad_inputs.cases import CASES, Case
from bad_inputs.commands import COMMANDS, Command, fingerprint
from bad_inputs.runner import applies, payload, run_case

PAIRS = [
    pytest.param(case, cmd, id=f"{case.id}::{cmd.name.replace(' ', '-')}")
    for case in CASES
    for cmd in COMMANDS.values()
    if applies(case, cmd)
]

_CLEAN: dict[str, Any] = {}


def _clean(command: Command, tmp: Path) -> Any:
    """The command's findings on the unbroken world (computed once per command)."""
    if command.name not in _CLEAN:
        noop = Case(id="clean", what="", target="args", build=lambda w: None, expect="report")
        out = run_case(noop, command, tmp)
        assert out.exit_code in (0, 1), out.stderr
        _CLEAN[command.name] = fingerprint(command.name, payload(out, command))
    return _CLEAN[command.name]


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    for cmd in COMMANDS.values():  # every command meets a good share of the corpus
        assert sum(applies(c, cmd) for c in CASES) >= 15, cmd.name


@pytest.mark.parametrize(("case", "command"), PAIRS)
def test_bad_input(case: Case, command: Command, tmp_path: Path) -> None:
    if case.id == "output-read-only-directory" and os.geteuid() == 0:
        pytest.skip(
            "root writes into read-only directories; see test_outputs_* for the injected case"
        )
    out = run_case(case, command, tmp_path / "world")
    expect, says = case.expectation(command.name)
    shown = f"argv={out.argv}\nexit={out.exit_code}\nstderr={out.stderr}\nstdout={out.stdout[:500]}"
    assert out.exception is None, f"uncaught {out.exception!r}\n{shown}"
    assert "Traceback" not in out.stderr + out.stdout, shown
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("mlfail: error:")]
    if expect == "error":
        assert out.exit_code == 2, shown
        assert len(errors) == 1 and len([ln for ln in lines if "error" in ln]) == 1, shown
        assert re.search(says, errors[0]), f"error line does not match {says!r}\n{shown}"
        assert "internal error" not in errors[0], shown
        assert out.stdout == "", shown
    else:
        assert out.exit_code in (0, 1), shown
        assert not errors, shown
        data = payload(out, command)
        if command.json:
            assert data["schema_version"] == 1
        else:  # baseline create writes its file
            written = Path(out.argv[out.argv.index("--out") + 1])
            assert json.loads(written.read_text())["kind"] == "mlfail-baseline"
        if case.check is not None:
            case.check(out.world, command.name, data)
        if "all" in case.same_as_clean or command.name in case.same_as_clean:
            assert command.json
            clean = _clean(command, tmp_path / "clean")
            assert fingerprint(command.name, data) == clean, shown
    for kept in out.world.extra.get("keep", []):
        assert Path(kept).read_text() == "keep me\n", "an existing output was overwritten"
    leftovers = [p for p in out.world.root.rglob(".*.tmp")]
    assert not leftovers, f"temporary files left behind: {leftovers}"

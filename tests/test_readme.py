"""The README's captured demo run and command reference are generated; they must be current."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _sync():
    spec = importlib.util.spec_from_file_location(
        "sync_readme", ROOT / "scripts" / "sync_readme.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_generated_parts_are_current() -> None:
    mod = _sync()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        current = (ROOT / "README.md").read_text(encoding="utf-8")
        assert mod.render(current) == current, "README.md is stale: run `make readme`"
    finally:
        os.chdir(cwd)


def test_readme_quick_start_and_every_command_documented() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text
    for cmd in _sync().commands():
        title = "mlfail " + " ".join(cmd) if cmd else "mlfail"
        assert f"### `{title}`" in text
    assert "Model incident: amount (pipeline drift) broke on pipeline_version=1.5" in text

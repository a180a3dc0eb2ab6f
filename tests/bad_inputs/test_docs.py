"""docs/reliability.md is generated from the corpus: fail when it is stale."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_reliability_doc_matches_the_corpus() -> None:
    spec = importlib.util.spec_from_file_location(
        "reliability_table", ROOT / "scripts/reliability_table.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    committed = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    assert committed == mod.render(), "docs/reliability.md is stale: run `make reliability`"
    assert committed.count("| `") >= 40  # one table row per case

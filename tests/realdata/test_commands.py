"""Every command on every real dataset, run as a new user would (issue 14, §9): only
--reference/--live, --label/--prediction (--timestamp on the timed copies, --task regression
for the regression dataset, --model-output for the one output no rule can infer). No id,
output, decision or one-sided column may be a PSI feature, a slice key, a hypothesis feature
or cohort, or in the headline; the planted / documented shift must be the top PSI feature."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from mlfail.cli.app import app
from realdata.datasets import ALL, Pair, timed

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    assert res.exit_code in (0, 1), res.output
    return res.exit_code, res.stdout


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Pair, Pair]]:
    root: Path = tmp_path_factory.mktemp("realdata_cmds")
    out = {}
    for name, build in ALL.items():
        pair = build(root)
        out[name] = (pair, timed(pair, root))
    return out


def never(p: Pair) -> set[str]:
    return {p.id_col, *p.outputs, *p.given_outputs, "year", p.label, p.prediction}


def role_flags(p: Pair) -> list[str]:
    out = ["--label", p.label, "--prediction", p.prediction]
    for o in p.given_outputs:
        out += ["--model-output", o]
    return out


def task_flags(p: Pair) -> list[str]:
    return ["--task", "regression"] if p.name == "diabetes" else []


def explain_flags(p: Pair) -> list[str]:
    """``explain`` has no --task (yet): on the regression dataset it runs without --label."""
    flags = [*sides(p), "--timestamp", "ts", *role_flags(p)]
    return flags[:-4] + flags[-2:] if p.name == "diabetes" and not p.given_outputs else flags


def sides(p: Pair) -> list[str]:
    return ["-r", str(p.reference), "-l", str(p.live)]


def roles_of(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["column"]: c for c in d["inputs"]["roles"]["columns"]}


def mentions(text: str, col: str) -> bool:
    return re.search(rf"(?<![\w ]){re.escape(col)}(?![\w])", text) is not None


@pytest.mark.parametrize("name", sorted(ALL))
def test_psi_profiles_no_id_output_or_one_sided_column(name: str, corpus: dict) -> None:
    p, _ = corpus[name]
    _, out = run("psi", *sides(p), *role_flags(p), "-f", "json")
    d = json.loads(out)
    glob = [f for f in d["features"] if f["slice"] is None]
    assert never(p).isdisjoint(f["feature"] for f in glob)
    top = max(glob, key=lambda f: f["psi"] or 0.0)
    assert top["feature"] in p.shifted, top["feature"]
    roles = roles_of(d)
    assert roles[p.id_col]["role"] == "identifier" and roles[p.id_col]["source"] == "inferred"
    assert roles["year"]["role"] == "time_key" and roles["year"]["present"] == "live"
    assert d["inputs"]["roles"]["features"] == list(p.features)


@pytest.mark.parametrize("name", sorted(ALL))
def test_slices_never_key_on_an_id_or_output(name: str, corpus: dict) -> None:
    p, _ = corpus[name]
    _, out = run("slices", *sides(p), *role_flags(p), *task_flags(p), "-f", "json")
    d = json.loads(out)
    keys = {k for s in d["slices"] for k in s["slice"]}
    assert never(p).isdisjoint(keys), keys & never(p)
    assert never(p).isdisjoint(c.get("column") for c in d.get("candidates", []))
    assert roles_of(d)[p.id_col]["role"] == "identifier"


@pytest.mark.parametrize("name", sorted(ALL))
def test_quality_reports_the_live_only_key_as_a_new_column(name: str, corpus: dict) -> None:
    p, _ = corpus[name]
    _, out = run("check", "quality", *sides(p), *role_flags(p), "-f", "json")
    d = json.loads(out)
    rules = {(f["feature"], f["rule"]) for f in d["findings"]}
    assert ("year", "schema_new_column") in rules
    # the one-sided key is a schema finding only, and no id or output is checked as a feature
    assert all(r == "schema_new_column" for f, r in rules if f == "year")
    assert (never(p) - {"year"}).isdisjoint(f for f, _ in rules)
    assert roles_of(d)["year"]["present"] == "live"


@pytest.mark.parametrize("name", sorted(ALL))
def test_explain_and_triage_never_blame_an_id_or_output(name: str, corpus: dict) -> None:
    _, t = corpus[name]
    flags = [*sides(t), "--timestamp", "ts", *role_flags(t), *task_flags(t)]
    _, out = run("explain", *explain_flags(t), "-f", "json")
    ex = json.loads(out)
    assert ex["hypotheses"], "the planted shift is a hypothesis"
    nv = never(t) - ({t.label} if "--label" not in explain_flags(t) else set())
    named = {h["feature"] for h in ex["hypotheses"] if h["feature"]}
    assert nv.isdisjoint(named)
    cohorts = {k for h in ex["hypotheses"] for k in (h.get("slice") or {})}
    assert nv.isdisjoint(cohorts), cohorts
    assert set(t.shifted) & named, (t.shifted, named)

    _, out = run("triage", *flags, "--no-input", "-f", "json")
    tr = json.loads(out)
    for col in never(t) - {"ts"}:
        assert not mentions(tr["headline"], col), (col, tr["headline"])
    assert never(t).isdisjoint(k for s in tr["slices"] for k in s["slice"])
    assert never(t).isdisjoint(h["feature"] for h in tr["root_causes"] if h["feature"])
    assert never(t).isdisjoint(f["feature"] for f in tr["features"])
    assert roles_of(tr)[t.id_col]["role"] == "identifier"


@pytest.mark.parametrize("name", sorted(ALL))
def test_timeline_series_leave_out_ids_and_outputs(name: str, corpus: dict) -> None:
    _, t = corpus[name]
    flags = [*sides(t), "--timestamp", "ts", *role_flags(t), *task_flags(t)]
    _, out = run("timeline", *flags, "-f", "json")
    d = json.loads(out)
    feats = {s["feature"] for s in d["series"] if s["feature"]}
    assert {t.id_col, *t.outputs, *t.given_outputs, "year"}.isdisjoint(feats), feats
    assert set(t.shifted) <= feats
    assert roles_of(d)[t.id_col]["role"] == "identifier"


def test_baseline_stores_the_roles_and_a_baseline_run_keeps_them(
    corpus: dict, tmp_path: Path
) -> None:
    p, _ = corpus["phishing"]
    b = tmp_path / "b.json"
    run("baseline", "create", "-r", str(p.reference), "--out", str(b), *role_flags(p))
    stored = json.loads(b.read_text())["roles"]["assignment"]
    cols = {c["column"]: c for c in stored["columns"]}
    assert cols[p.id_col]["role"] == "identifier"
    assert p.id_col not in stored["features"]
    _, out = run("psi", "-b", str(b), "-l", str(p.live), "-f", "json")
    d = json.loads(out)
    roles = roles_of(d)
    assert roles[p.id_col]["role"] == "identifier"
    assert roles["year"]["role"] == "time_key"  # live-only, checked against the live schema
    assert never(p).isdisjoint(f["feature"] for f in d["features"])


# ---- seeded: an id inference cannot see, --exclude, the block in every format -----------


@pytest.fixture(scope="module")
def coded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``ref_code``: sparse integers drawn from 0…10⁷ on both sides (no id-like name, not
    dense, live not above the reference): inference calls it a feature; it is an id. ``x``
    drifts; ``geo`` is a plain segment; ``score``/``label`` the model."""
    rng = np.random.default_rng(3)
    d = tmp_path_factory.mktemp("coded")

    def side(n: int, shift: float) -> pl.DataFrame:
        x = rng.normal(shift, 1, n)
        score = 1 / (1 + np.exp(-x))
        return pl.DataFrame(
            {
                "ref_code": rng.choice(10_000_000, n, replace=False),
                "x": x,
                "geo": rng.choice(["US", "BR", "DE"], n),
                "score": score,
                "label": (rng.random(n) < score).astype(int),
            }
        )

    ref, live = side(3000, 0.0), side(3000, 1.0)
    ref.write_parquet(d / "ref.parquet")
    live.write_parquet(d / "live.parquet")
    return d / "ref.parquet", d / "live.parquet"


def test_an_id_only_the_flag_names_is_never_a_feature(coded: tuple[Path, Path]) -> None:
    ref, live = (str(x) for x in coded)
    model = ["--label", "label", "--prediction", "score"]
    _, out = run("psi", "-r", ref, "-l", live, *model, "-f", "json")
    assert "ref_code" in {f["feature"] for f in json.loads(out)["features"]}  # inference misses it
    _, out = run("psi", "-r", ref, "-l", live, *model, "--id", "ref_code", "-f", "json")
    d = json.loads(out)
    assert "ref_code" not in {f["feature"] for f in d["features"]}
    assert roles_of(d)["ref_code"] == {
        "column": "ref_code",
        "role": "identifier",
        "source": "flag",
        "reason": "given by --id",
        "flag": "--id",
        "present": "both",
    }
    _, out = run("slices", "-r", ref, "-l", live, *model, "--id", "ref_code", "-f", "json")
    keys = {k for s in json.loads(out)["slices"] for k in s["slice"]}
    assert "ref_code" not in keys and "x" in keys


def test_exclude_removes_a_column_everywhere(coded: tuple[Path, Path]) -> None:
    ref, live = (str(x) for x in coded)
    flags = ["-r", ref, "-l", live, "--label", "label", "--prediction", "score"]
    flags += ["--id", "ref_code", "--exclude", "x", "-f", "json"]
    _, out = run("psi", *flags)
    d = json.loads(out)
    assert {f["feature"] for f in d["features"]} == {"geo"}
    assert roles_of(d)["x"]["role"] == "excluded"
    _, out = run("slices", *flags)
    assert all("x" not in s["slice"] for s in json.loads(out)["slices"])
    _, out = run("check", "quality", *flags)
    assert all(f["feature"] != "x" for f in json.loads(out)["findings"])


def test_assumed_roles_block_in_every_format(corpus: dict) -> None:
    p, t = corpus["diabetes"]
    flags = [*sides(p), *role_flags(p)]
    _, human = run("psi", *flags)
    lines = human.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("assumed roles"))
    block = lines[start : next(i for i, x in enumerate(lines) if "features (" in x) + 1]
    assert len(block) <= 6, block  # short: the findings stay on the first screen
    line = next(x for x in block if x.strip().startswith("row_id"))
    assert "identifier" in line and "→ --features row_id" in line
    _, md = run("psi", *flags, "-f", "markdown")
    assert "### Assumed roles" in md
    assert re.search(r"\| row_id \| identifier \| id-like name, integer", md), md
    _, md = run("check", "quality", *flags, "-f", "markdown")
    assert "| year | time_key |" in md
    tflags = [*sides(t), "--timestamp", "ts", *role_flags(t), *task_flags(t), "--no-input"]
    _, html = run("triage", *tflags, "-f", "html")
    assert "Assumed roles" in html and "<td>row_id</td><td>identifier</td>" in html
    _, md = run("triage", *tflags, "-f", "markdown")
    assert "| row_id | identifier |" in md
    _, md = run("explain", *explain_flags(t), "-f", "markdown")
    assert "| row_id | identifier |" in md

"""Skew evidence in the walk (issue 16, "Into the walk"): ``explain``/``triage --offline
--id`` join the drifted features row by row, and the join decides the failure mode
(rootcause/modes.py docstring)."""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import worlds_skewwalk as W
from test_rootcause import ROLES
from typer.testing import CliRunner

from mlfail.audit import load_reference
from mlfail.cli.app import app
from mlfail.config import Roles
from mlfail.io import open_source
from mlfail.report.jsonout import dumps
from mlfail.report.triage_render import triage_html, triage_markdown
from mlfail.rootcause import Explanation, Hypothesis, explain
from mlfail.rootcause.evidence import SkewEvidence
from mlfail.rootcause.modes import _skew_mode
from mlfail.triage import triage, triage_data

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
SAMPLE_ARGS = [
    "--reference",
    str(SAMPLE / "reference.parquet"),
    "--live",
    str(SAMPLE / "live"),
    "--timestamp",
    "ts",
    "--label",
    "is_fraud",
    "--prediction",
    "score",
    "--meta",
    "pipeline_version",
    "--changes",
    str(SAMPLE / "changes.csv"),
]
OFFLINE = ["--offline", str(SAMPLE / "offline.parquet"), "--id", "event_id"]
runner = CliRunner()


def _hyp(ex: Explanation, feature: str) -> Hypothesis:
    return next(h for h in ex.hypotheses if h.feature == feature)


def _explain(p: dict[str, Path], *, offline: bool = True) -> Explanation:
    ref, _ = load_reference(str(p["reference"]), None, ROLES)
    return explain(
        ref,
        open_source(str(p["live"])),
        ROLES,
        offline=open_source(str(p["offline"]), role="--offline") if offline else None,
        ids=["event_id"],
    )


# ---- the sample: amount ×100 on the BR pipeline-1.5 rows ---------------------------------


@pytest.fixture(scope="module")
def sample_truth() -> tuple[int, int]:
    """Matched rows and mismatched amounts, by hand: an inner join in Polars, numpy compare."""
    live = pl.read_parquet(SAMPLE / "live" / "**" / "*.parquet").select("event_id", "amount")
    off = pl.read_parquet(SAMPLE / "offline.parquet").select("event_id", "amount")
    j = live.join(off, on="event_id", how="inner", suffix="_o")
    a, b = j["amount"].to_numpy(), j["amount_o"].to_numpy()
    return j.height, int((np.abs(a - b) > 1e-9 + 1e-6 * np.abs(b)).sum())


@pytest.fixture(scope="module")
def sample_explain() -> dict:
    r = runner.invoke(app, ["explain", *SAMPLE_ARGS, *OFFLINE, "--format", "json"])
    assert r.exit_code == 1, r.output
    return json.loads(r.stdout)


def test_sample_amount_carries_the_x100_pattern(sample_explain: dict, sample_truth) -> None:
    matched, wrong = sample_truth
    h = next(h for h in sample_explain["hypotheses"] if h["feature"] == "amount")
    sk = h["skew"]
    assert sk["pattern"]["kind"] == "scale" and sk["pattern"]["factor"] == 100.0
    assert sk["compared"] == matched
    assert abs(sk["rate"] - wrong / matched) < 0.005
    assert sk["concentrated_in"][0]["slice"] == {"pipeline_version": "1.5"}
    # starts inside the window and lives in a pipeline cohort → pipeline drift
    assert sk["onset"] > sample_explain["window"]["first_day"] and not sk["from_first_day"]
    assert h["failure_mode"] == "pipeline_drift"
    assert "row-by-row join on event_id: amount served ×100" in h["summary"]
    assert "all in pipeline_version=1.5" in h["summary"]
    assert any(e["kind"] == "skew" for e in h["evidence"])


def test_sample_explain_and_triage_agree(sample_explain: dict) -> None:
    """One triage run (the library, as the CLI calls it): its JSON carries the same skew
    record as explain's, and step 6 says it in JSON, Markdown and HTML."""
    roles = Roles(timestamp="ts", label="is_fraud", prediction="score", meta=("pipeline_version",))
    rep = triage(
        open_source(str(SAMPLE / "live"), role="--live"),
        roles=roles,
        reference=str(SAMPLE / "reference.parquet"),
        changes=SAMPLE / "changes.csv",
        offline=open_source(OFFLINE[1], role="--offline"),
        ids=["event_id"],
    )
    tri = json.loads(dumps(triage_data(rep)))
    t = next(h for h in tri["root_causes"] if h["feature"] == "amount")
    e = next(h for h in sample_explain["hypotheses"] if h["feature"] == "amount")
    assert t["skew"] == e["skew"] and t["failure_mode"] == e["failure_mode"]
    assert tri["inputs"]["offline"] == OFFLINE[1]
    step6 = next(s for s in tri["steps"] if s["step"] == 6)
    words = "row-by-row join on event_id: amount served ×100"
    assert words in step6["found"]
    assert words in triage_markdown(rep) and words in html.unescape(triage_html(rep))


def test_sample_human_and_markdown_show_the_join() -> None:
    for fmt in ("human", "markdown"):
        r = runner.invoke(
            app, ["explain", *SAMPLE_ARGS, *OFFLINE, "--format", fmt], env={"COLUMNS": "200"}
        )
        assert r.exit_code == 1
        text = " ".join(r.stdout.split())
        assert "row-by-row join on event_id" in text and "4,245" in text


# ---- seeded worlds: both sides of the rule ------------------------------------------------


def test_drift_in_the_data_is_not_skew(tmp_path: Path) -> None:
    p = W.data_drift_same_offline(tmp_path)
    without = _hyp(_explain(p, offline=False), "session_len")
    assert without.failure_mode == "training_serving_skew"  # day-one drift alone says skew
    h = _hyp(_explain(p), "session_len")
    assert h.skew is not None and h.skew.mismatches == 0 and h.skew.compared == 12_000
    assert h.failure_mode != "training_serving_skew"
    assert "identical on all 12,000 matched rows" in h.summary
    assert "the drift is in the data" in h.summary


def test_day_one_mismatch_is_training_serving_skew(tmp_path: Path) -> None:
    h = _hyp(_explain(W.day_one_skew(tmp_path)), "session_len")
    assert h.skew is not None and h.skew.rate == 1.0 and h.skew.from_first_day
    assert h.skew.pattern is not None and h.skew.pattern.kind == "affine"
    assert h.failure_mode == "training_serving_skew"


def test_mismatch_in_pipeline_cohort_is_pipeline_drift(tmp_path: Path) -> None:
    h = _hyp(_explain(W.pipeline_cohort_skew(tmp_path)), "amount")
    assert h.skew is not None and h.skew.pattern is not None
    assert h.skew.pattern.factor == 100.0
    assert h.skew.onset == dt.date(2026, 9, 13) and not h.skew.from_first_day
    assert h.skew.mismatches == 18 * 400
    assert h.failure_mode == "pipeline_drift"


def _ev(**kw) -> SkewEvidence:
    base = dict(
        kind="skew", feature="x", ids=["id"], compared=100, mismatches=50, rate=0.5,
        status="skewed", pattern=None, segments_top=[], concentrated_in=[],
        onset=dt.date(2026, 9, 1), from_first_day=True, serving_null_only=0,
        offline_null_only=0, text="",
    )  # fmt: skip
    return SkewEvidence(**{**base, **kw})  # type: ignore[arg-type]


def test_skew_mode_rule_each_side() -> None:
    assert _skew_mode(_ev()) == "training_serving_skew"
    assert _skew_mode(_ev(from_first_day=False, onset=dt.date(2026, 9, 9))) == "pipeline_drift"
    conc = [{"slice": {"transform_version": "2"}, "share": 1.0, "segment_rate": 1.0}]
    assert _skew_mode(_ev(concentrated_in=conc)) == "pipeline_drift"
    other = [{"slice": {"geo": "BR"}, "share": 1.0, "segment_rate": 1.0}]
    assert _skew_mode(_ev(concentrated_in=other)) == "training_serving_skew"


# ---- errors: one line, exit 2 ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--offline", str(SAMPLE / "offline.parquet")], "--offline needs --id"),
        (["--offline", str(SAMPLE / "offline.parquet"), "--id", "nope"], "nope"),
    ],
)
@pytest.mark.parametrize("cmd", ["explain", "triage"])
def test_offline_errors_are_one_line(cmd: str, extra: list[str], needle: str) -> None:
    prompt = ["--no-input"] if cmd == "triage" else []
    r = runner.invoke(app, [cmd, *SAMPLE_ARGS, *extra, *prompt])
    assert r.exit_code == 2
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.output

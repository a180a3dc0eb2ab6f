"""Root cause on seeded scenarios — one per failure mode — plus its statistics by hand."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scenarios as S
from scipy import stats

from mlfail.audit import load_reference
from mlfail.config import Roles
from mlfail.events import load_changes, load_metrics
from mlfail.io import open_source
from mlfail.owners import load_owners
from mlfail.psi import psi_value
from mlfail.rootcause import (
    Explanation,
    explain,
    name_factor,
    noisy_or,
    shapley_mix_conditional,
    two_proportion_p,
)

ROLES = Roles(
    timestamp="ts",
    label="label",
    prediction="score",
    meta=("pipeline_version", "firmware_version", "sdk_version", "source", "device_model"),
)


def run(sc: S.Scenario, tmp: Path, roles: Roles = ROLES) -> Explanation:
    p = sc.write(tmp)
    ref, _ = load_reference(str(p["reference"]), None, roles)
    return explain(
        ref,
        open_source(str(p["live"])),
        roles,
        changes=load_changes(p["changes"]),
        owners=load_owners(p["owners"]),
        metrics=load_metrics(p["metrics"]) if "metrics" in p else None,
    )


CAUSAL = [
    S.pipeline_x100,
    S.pipeline_x2,
    S.null_spike,
    S.serving_skew,
    S.default_fill,
    S.sdk_recasing,
    S.concept_drift,
    S.firmware_rollout,
    S.infrastructure,
]


@pytest.mark.parametrize("make", CAUSAL, ids=lambda f: f.__name__)
def test_top_hypothesis_names_the_cause(make: Any, tmp_path: Path) -> None:
    sc = make()
    e = sc.expected
    ex = run(sc, tmp_path)
    assert ex.verdict == e["verdict"]
    top = ex.hypotheses[0]
    assert (top.feature, top.failure_mode) == (e["feature"], e["mode"])
    assert top.owner == e["owner"]
    assert top.onset is not None and abs((top.onset - e["onset"]).days) <= 1
    events = [x.id for x in top.evidence if x.kind == "change_event"]
    if e.get("event"):
        assert events[0] == e["event"]
    else:
        assert events == []
    distractors = {"CHG-900", "CHG-901", "CHG-902"}
    for h in ex.hypotheses:  # no distractor is ever named as a cause
        assert not distractors & {x.id for x in h.evidence if x.kind == "change_event"}
    if "cohort" in e:
        col, val = e["cohort"]
        assert top.slice == {col: val}
        coh = next(x for x in top.evidence if x.kind == "cohort")
        assert (coh.column, coh.value) == (col, val)
        assert coh.explained_fraction >= 0.8
    if "signature" in e:
        assert e["signature"] in [x.signature for x in top.evidence if x.kind == "signature"]
    assert 0.5 <= top.confidence <= 1.0
    assert top.summary and top.next_action


def test_scale_factor_is_named(tmp_path: Path) -> None:
    top = run(S.pipeline_x100(), tmp_path).hypotheses[0]
    sig = next(x for x in top.evidence if x.kind == "signature")
    assert sig.signature == "scale_change" and sig.factor == pytest.approx(100, rel=0.05)
    assert "×100" in sig.text


def test_recasing_suggests_the_mapping(tmp_path: Path) -> None:
    top = run(S.sdk_recasing(), tmp_path).hypotheses[0]
    sig = next(x for x in top.evidence if x.kind == "signature")
    assert sig.mapping == {"WEB": "web", "APP": "app", "POS": "pos"}


def test_day_one_skew_has_no_event_and_says_so(tmp_path: Path) -> None:
    top = run(S.serving_skew(), tmp_path).hypotheses[0]
    onset = next(x for x in top.evidence if x.kind == "onset")
    assert onset.day_one and onset.flat_after


def test_population_mix_is_data_drift_not_an_incident(tmp_path: Path) -> None:
    ex = run(S.population_mix(), tmp_path)
    assert ex.verdict == "no_model_incident"
    top = ex.hypotheses[0]
    assert (top.feature, top.failure_mode) == ("geo", "data_drift")
    # amount/avg_amount shift only because the geo mix changed: never above the cause
    for h in ex.hypotheses[1:]:
        assert h.confidence < top.confidence
        if h.feature in ("amount", "avg_amount"):
            assert h.consequence_of == "geo"


def test_no_labels_verdict_comes_from_predictions(tmp_path: Path) -> None:
    ex = run(S.pipeline_x100(labels=False), tmp_path)
    assert ex.performance is None
    assert ex.prediction is not None and ex.prediction["drifted"]
    assert ex.verdict == "model_incident"
    top = ex.hypotheses[0]
    assert (top.feature, top.failure_mode) == ("amount", "pipeline_drift")
    assert next(x.id for x in top.evidence if x.kind == "change_event") == "CHG-104"


def test_quiet_control_has_no_hypothesis(tmp_path: Path) -> None:
    ex = run(S.quiet(), tmp_path)
    assert ex.verdict == "no_model_incident"
    assert ex.hypotheses == []


def test_unowned_feature_is_reported_and_model_owner_paged(tmp_path: Path) -> None:
    sc = S.pipeline_x100()
    p = sc.write(tmp_path)
    p["owners"].write_text(
        S.OWNERS.replace(
            'features = ["amount", "avg_amount", "session_len"]',
            'features = ["avg_amount", "session_len"]',
        )
    )
    ref, _ = load_reference(str(p["reference"]), None, ROLES)
    ex = explain(
        ref,
        open_source(str(p["live"])),
        ROLES,
        changes=load_changes(p["changes"]),
        owners=load_owners(p["owners"]),
    )
    top = ex.hypotheses[0]
    assert top.feature == "amount" and top.owner == "ml-team"
    assert any(x.kind == "ownership_gap" for x in top.evidence)


# ---- statistics by hand ---------------------------------------------------------------


def test_two_proportion_p_matches_z_formula() -> None:
    x1, n1, x2, n2 = 45, 300, 30, 400
    p = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    assert two_proportion_p(x1, n1, x2, n2) == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert two_proportion_p(1, 0, 1, 1) is None


def test_shapley_split_sums_to_total_and_separates_mix_from_conditional() -> None:
    g = np.array([50.0, 30.0, 20.0])
    h = np.array([10.0, 30.0, 60.0])
    ref_by = {"a": g * 8, "b": h * 2}  # 80/20 mix of two stable conditionals
    ref_total = ref_by["a"] + ref_by["b"]
    # only the mix moves: 20/80
    live_mix = {"a": g * 2, "b": h * 8}
    total, mix, cond = shapley_mix_conditional(ref_by, live_mix, ref_total, 1e-4)
    assert mix + cond == pytest.approx(total, abs=1e-12)
    assert total == pytest.approx(psi_value(ref_total, live_mix["a"] + live_mix["b"]))
    assert mix / total > 0.95
    # only the conditional moves within "b"; shares unchanged
    live_cond = {"a": g * 8, "b": np.array([60.0, 30.0, 10.0]) * 2}
    total, mix, cond = shapley_mix_conditional(ref_by, live_cond, ref_total, 1e-4)
    assert cond / total > 0.95 and mix + cond == pytest.approx(total, abs=1e-12)


def test_new_cohort_without_reference_is_all_conditional() -> None:
    g = np.array([50.0, 30.0, 20.0])
    live = {"1.4": g * 5, "1.5": np.array([0.0, 10.0, 90.0])}
    total, mix, cond = shapley_mix_conditional(None, live, g * 10, 1e-4)
    assert mix == pytest.approx(0.0, abs=1e-12) and cond == pytest.approx(total)


def test_noisy_or_and_factor_names() -> None:
    assert noisy_or([0.5, 0.5]) == pytest.approx(0.75)
    assert noisy_or([]) == 0.0
    assert name_factor(100.4) is not None and "×100" in name_factor(100.4)  # type: ignore[operator]
    assert name_factor(1000) is not None and "×1000" in name_factor(1000)  # type: ignore[operator]
    assert name_factor(2.0) is None


@pytest.mark.parametrize("make", [S.pipeline_x100, S.default_fill], ids=lambda f: f.__name__)
def test_baseline_gives_the_same_explanation(make: Any, tmp_path: Path) -> None:
    from mlfail.baseline import build_baseline

    sc = make()
    p = sc.write(tmp_path)
    bpath = tmp_path / "baseline.json"
    build_baseline(str(p["reference"]), ROLES, segments=["geo", "source"]).save(bpath)
    with_ref = run(sc, tmp_path / "again")
    base_ref, _ = load_reference(None, str(bpath), ROLES)
    with_base = explain(
        base_ref,
        open_source(str(p["live"])),
        ROLES,
        changes=load_changes(p["changes"]),
        owners=load_owners(p["owners"]),
    )
    a, b = with_ref.hypotheses[0], with_base.hypotheses[0]
    assert (a.feature, a.failure_mode, a.onset, a.slice, a.owner) == (
        b.feature,
        b.failure_mode,
        b.onset,
        b.slice,
        b.owner,
    )
    ida = [x.id for x in a.evidence if x.kind == "change_event"]
    assert ida == [x.id for x in b.evidence if x.kind == "change_event"]
    psi_a = next(x for x in a.evidence if x.kind == "psi")
    psi_b = next(x for x in b.evidence if x.kind == "psi")
    assert psi_a.psi == pytest.approx(psi_b.psi, abs=1e-12)
    assert with_ref.verdict == with_base.verdict
    sig_b = {x.signature for x in b.evidence if x.kind == "signature"}
    assert sig_b  # signatures come from the baseline's stored statistics


def test_an_accuracy_step_must_hold_on_the_counts() -> None:
    """A step in daily accuracy is an onset only when the errors before and after differ by a
    two-proportion test at α: 0 then 2 errors in 35 labelled rows is noise; 0 then 100 errors
    in 3,500 rows is a step. The p-values by hand: scipy's chi-square on the 2×2 tables."""
    import datetime as dt

    import polars as pl

    from mlfail.performance import TaskSpec
    from mlfail.rootcause.common import DAY
    from mlfail.rootcause.evidence import ExplainSettings
    from mlfail.rootcause.model_health import _onset_confirmed

    dates = [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(10)]
    task = TaskSpec("classification", "y", "p")

    def perf(n: int, after: list[int]) -> pl.DataFrame:
        return pl.DataFrame({DAY: dates, "labelled": [n] * 10, "errors": [0] * 5 + after})

    cfg = ExplainSettings()
    assert not _onset_confirmed(perf(7, [1, 0, 1, 0, 0]), task, dates, 5, cfg)
    assert _onset_confirmed(perf(700, [20] * 5), task, dates, 5, cfg)
    p_small = stats.chi2_contingency([[2, 33], [0, 35]], correction=False)[1]
    p_big = stats.chi2_contingency([[100, 3400], [0, 3500]], correction=False)[1]
    assert p_small > cfg.psi.alpha > p_big


@pytest.mark.parametrize(
    ("factor", "share", "expect"),
    [(100.0, 0.5, 100.0), (1000.0, 0.1, 1000.0), (0.01, 0.3, 0.01), (1.0, 0.5, None)],
)
def test_partial_scale_signature(factor: float, share: float, expect: float | None) -> None:
    """A unit bug on part of the rows (×100 on half, ×1000 on a tenth, ÷100 on 30%): the
    out-of-range values that the factor maps back into the reference's range are counted by
    hand with numpy; no change (factor 1) finds nothing."""
    import polars as pl

    from mlfail.binning import BinSpec
    from mlfail.io import Source
    from mlfail.rootcause.signatures import _partial_scale, _Rows

    rng = np.random.default_rng(11)
    ref = rng.uniform(10, 40, 5000)
    live = rng.uniform(10, 40, 4000)
    hit = rng.random(4000) < share
    live = np.where(hit, live * factor, live)
    lf = pl.LazyFrame({"x": live})
    src = Source(spec="live", role="--live", files=[], lf=lf, schema=lf.collect_schema())
    spec = BinSpec(feature="x", kind="numeric", edges=(20.0, 30.0))
    r = {"min": float(ref.min()), "max": float(ref.max())}
    rows = _Rows(spec, r, {"max": float(live.max())}, 5000, 4000, src, pl.lit(True))
    ev = _partial_scale(rows, [])
    if expect is None:
        assert ev is None
        return
    assert ev is not None and ev.signature == "scale_change" and ev.factor == expect
    lo, hi = r["min"], r["max"]
    out = (live > hi * 1.5) | ((live < lo / 1.5) & (live > 0))
    back = out & (live / expect >= lo) & (live / expect <= hi)
    assert ev.live == pytest.approx(back.sum() / 4000)
    assert abs(ev.live - share) < 0.03


def test_categorical_signature_summary_matches_a_row_by_row_count() -> None:
    """The categorical summary is computed from one value-count table; every number equals a
    plain count over the rows (nulls, unseen values, defaults written with case and spaces)."""
    import polars as pl

    from mlfail.binning import build_specs
    from mlfail.rootcause.signatures import DEFAULT_FILLS_CAT, _query

    rng = np.random.default_rng(7)
    vals = ["a", "b", "c", " Unknown", "NONE", "", "n/a ", "zz", None]
    col = rng.choice(len(vals), 5000, p=[0.3, 0.2, 0.2, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05])
    df = pl.DataFrame({"k": [vals[i] for i in col], "g": rng.integers(0, 2, 5000)})
    spec = build_specs(pl.DataFrame({"k": ["a", "b", "c"] * 10}).lazy(), ["k"], categorical=["k"])
    got = _query(spec[0], [])(df.lazy(), pl.col("g") == 1)
    rows = [vals[i] for i, g in zip(col, df["g"], strict=True) if g == 1]
    assert got["n"] == len(rows)
    assert got["missing"] == sum(v is None for v in rows)
    assert got["unseen"] == sum(v is not None and v not in ("a", "b", "c") for v in rows)
    assert got["distinct"] == len(set(rows))  # a null counts as one value
    for i, fill in enumerate(DEFAULT_FILLS_CAT):
        want = sum(v is not None and v.strip().lower() == fill for v in rows)
        assert got[f"fill_{i}"] == want
    assert got["fill_1"] > 0 and got["fill_2"] > 0  # " Unknown" and "NONE" were normalised

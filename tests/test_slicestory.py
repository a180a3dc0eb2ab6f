"""The slice table tells one story (issue 14, items 6–8): step 4 drills into row 1, overlapping
slices are grouped under the one that explains them, a drifted feature's bin is a symptom."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from worlds_slicestory import symptom_vs_cause, two_problems

from mlfail.config import Roles
from mlfail.report.slices_model import SliceReport, slices_json
from mlfail.report.slices_render import render_slices
from mlfail.slices import find_slices
from mlfail.slices.model import NO_KEY
from mlfail.slices.story import EXPLAINED_SHARE, group, overlap_cell
from mlfail.triage_steps import _slices_step

ROLES = Roles(timestamp="ts", label="y", prediction="score")
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
SAMPLE_ROLES = Roles(
    timestamp="ts", label="is_fraud", prediction="score", meta=["pipeline_version", "sdk_version"]
)


def _at(rep: SliceReport, sl: dict[str, Any]) -> int:
    return next(i for i, r in enumerate(rep.slices) if r.slice == sl)


def _heads_are_shown(rep: SliceReport) -> None:
    shown = [r.slice for r in rep.distinct()]
    for r in rep.overlapping():
        assert r.explained_by in shown and r.explained_by != r.slice


# ---- (a) symptom vs cause ----------------------------------------------------------------


@pytest.fixture(scope="module")
def symptom(tmp_path_factory: pytest.TempPathFactory) -> SliceReport:
    r, lv = symptom_vs_cause(tmp_path_factory.mktemp("symptom"))
    return find_slices(r, lv, roles=ROLES)


def test_the_segment_carrying_the_damage_is_row_one_and_chosen(symptom: SliceReport) -> None:
    rep = symptom
    cause = {"geo": "X", "channel": "Y"}
    assert rep.slices[0].slice == cause and rep.slices[0].kind == "segment"
    bins = [r for r in rep.slices if list(r.slice) == ["distance_km"]]
    assert bins, "the damaged bin is listed"
    b = bins[0]
    assert b.kind == "symptom" and b.symptom_of == "distance_km" and b.degraded
    # the rule bites: by excess errors alone the symptom would have been row 1
    assert (b.excess_errors or 0) > (rep.slices[0].excess_errors or 0)
    assert _at(rep, b.slice) > 0
    ranked = rep.degraded()
    step = _slices_step(rep, ranked, ranked[0])
    assert step.decision == "drill into row 1, geo=X, channel=Y"
    assert "symptom" not in step.found.split(":", 1)[1].split(",")[0]


def test_an_operator_pick_other_than_row_one_is_said(symptom: SliceReport) -> None:
    ranked = symptom.degraded()
    step = _slices_step(symptom, ranked, ranked[1])
    assert "picked by the operator; row 1 is geo=X, channel=Y" in step.decision


def test_symptoms_are_in_the_json(symptom: SliceReport) -> None:
    data = json.loads(slices_json(symptom))
    kinds = {r["kind"] for r in data["slices"]}
    assert kinds == {"segment", "symptom"}
    assert all((r["kind"] == "symptom") == (r["symptom_of"] is not None) for r in data["slices"])
    assert data["settings"]["explained_share"] == EXPLAINED_SHARE


def test_without_labels_the_table_follows_the_same_order(tmp_path: Path) -> None:
    r, lv = symptom_vs_cause(tmp_path)
    pl.read_parquet(lv).drop("y").write_parquet(lv)  # no labels live
    rep = find_slices(r, lv, roles=Roles(timestamp="ts", prediction="score"))
    tiers = [(not s.degraded, s.kind == "symptom") for s in rep.distinct()]
    assert tiers == sorted(tiers)
    _heads_are_shown(rep)


# ---- (b) overlaps on the sample -----------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> SliceReport:
    return find_slices(str(SAMPLE / "reference.parquet"), str(SAMPLE / "live"), roles=SAMPLE_ROLES)


def test_sample_table_is_short_and_grouped(sample: SliceReport) -> None:
    rep = sample
    assert rep.slices[0].slice == {"pipeline_version": "1.5"}
    distinct_degraded = [r for r in rep.distinct() if r.degraded]
    assert 1 <= len(distinct_degraded) <= 4
    assert len(rep.overlapping()) >= 10  # geo=BR and its children, under pipeline 1.5
    _heads_are_shown(rep)
    br = rep.slices[_at(rep, {"geo": "BR"})]
    assert br.explained_by == {"pipeline_version": "1.5"}


def test_sample_human_table_shows_distinct_rows_then_one_overlap_line(
    sample: SliceReport,
) -> None:
    buf = io.StringIO()
    render_slices(sample, Console(file=buf, width=200, color_system=None))
    out = buf.getvalue()
    n = len(sample.overlapping())
    assert f"+{n} overlapping (explained by #1 pipeline_version=1.5" in out
    assert "geo=BR" not in out.split("Slices, worst first")[1].split("overlapping")[0]


# ---- (c) two separate problems ------------------------------------------------------------


def test_two_separate_problems_stay_two_rows(tmp_path: Path) -> None:
    r, lv = two_problems(tmp_path)
    rep = find_slices(r, lv, roles=ROLES)
    top = [r.slice for r in rep.distinct() if r.degraded]
    assert {"geo": "MX"} in top and {"segment": "vip"} in top
    for sl in ({"geo": "MX"}, {"segment": "vip"}):
        assert rep.slices[_at(rep, sl)].explained_by is None
    _heads_are_shown(rep)


# ---- the grouping itself ------------------------------------------------------------------


def test_overlap_cells() -> None:
    keys = [
        ("g", "a", NO_KEY, NO_KEY),
        ("c", "x", NO_KEY, NO_KEY),
        ("g", "a", "c", "x"),
        ("g", "b", NO_KEY, NO_KEY),
        ("g", "a", "d", "y"),
    ]
    cell = {k: i for i, k in enumerate(keys)}
    assert overlap_cell(keys[2], keys[0], cell) == 2  # a child inside its parent
    assert overlap_cell(keys[0], keys[2], cell) == 2  # the parent's part in the child
    assert overlap_cell(keys[1], keys[0], cell) == 2  # two unrelated slices: the pair cell
    assert overlap_cell(keys[0], keys[3], cell) == -1  # another value of the same key
    assert overlap_cell(keys[2], keys[4], cell) is None  # 3 predicates: not counted


def test_a_parent_whose_excess_lives_in_one_child_is_explained_by_it() -> None:
    keys = [("g", "a", NO_KEY, NO_KEY), ("g", "a", "c", "x"), ("c", "x", NO_KEY, NO_KEY)]
    n, e, base = np.array([1000.0, 200.0, 400.0]), np.array([190.0, 150.0, 170.0]), np.full(3, 0.1)
    from mlfail.slices.story import excess_share

    lift = e / n - base
    order, explained = group([0, 1, 2], keys, excess_share(n, e, base), lift, lambda i: 0)
    # the parent's excess (90) is mostly in the child (130 − … ≥ 80%): the child leads
    assert order[0] == 1 and explained == {0: 1, 2: 1}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.sampled_from("xy"), st.booleans()),
        min_size=1,
        max_size=12,
        unique=True,
    ),
    st.integers(0, 2**31 - 1),
)
def test_explained_by_never_points_to_itself_nor_cycles(
    preds: list[tuple[str, str, bool]], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    keys: list[tuple[Any, ...]] = []
    for col, val, two in preds:
        k = (col, val, "d", "z") if two and col != "d" else (col, val, NO_KEY, NO_KEY)
        if k not in keys:
            keys.append(k)
    m = len(keys)
    shares = rng.uniform(0, 1.2, (m, m))
    lift = rng.uniform(0, 1, m)

    def share(i: int, c: int | None) -> float | None:
        return None if c is None else float(shares[i, c])

    order, explained = group(list(range(m)), keys, share, lift, lambda i: i % 2)
    assert sorted(order) == list(range(m))
    for i, h in explained.items():
        assert i != h
        assert h not in explained  # points to a distinct slice: no chain, so no cycle


def test_triage_drills_into_row_one_or_says_whose_pick(tmp_path: Path) -> None:
    from mlfail.triage import triage

    r, lv = symptom_vs_cause(tmp_path)
    rep = triage(lv, roles=ROLES, reference=r)
    assert rep.slices is not None and rep.chosen_slice is not None
    assert rep.chosen_slice.slice == rep.slices.slices[0].slice == {"geo": "X", "channel": "Y"}
    step4 = next(s for s in rep.steps if s.name == "slices")
    assert step4.decision.startswith("drill into row 1")
    picked = triage(lv, roles=ROLES, reference=r, choose_slice=lambda ranked: 1)
    assert picked.chosen_slice is not None and picked.chosen_slice.slice != {
        "geo": "X",
        "channel": "Y",
    }
    step4 = next(s for s in picked.steps if s.name == "slices")
    assert "picked by the operator; row 1 is geo=X, channel=Y" in step4.decision


def test_a_day_lies_inside_its_week() -> None:
    weeks = {"day(ts)": "week(ts)"}
    day = ("day(ts)", "2026-09-24", NO_KEY, NO_KEY)  # a Thursday of ISO week 39
    w39, w40 = ("week(ts)", "2026-W39", NO_KEY, NO_KEY), ("week(ts)", "2026-W40", NO_KEY, NO_KEY)
    day_geo = ("day(ts)", "2026-09-24", "geo", "BR")
    cell = {k: i for i, k in enumerate([day, w39, w40, day_geo])}
    assert overlap_cell(day, w39, cell, weeks) == 0
    assert overlap_cell(w39, day, cell, weeks) == 0
    assert overlap_cell(day, w40, cell, weeks) == -1
    assert overlap_cell(day_geo, w39, cell, weeks) == 3
    assert overlap_cell(day, w39, cell) is None  # without the nesting: not counted

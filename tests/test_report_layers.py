"""The layered timeline picture (issue 17): view model in mlfail/report/layers.py, drawing in
mlfail/report/svg.py, text in the terminal and Markdown, and the HTML report around it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from mlfail.config import Roles
from mlfail.report.layers import (
    ChangeEventInput,
    EventMark,
    LayeredTimeline,
    LayerView,
    SeriesView,
    Tick,
    build_layers,
    build_slice_bars,
    change_events_of,
)
from mlfail.report.model import ChangeEvent
from mlfail.report.slices_model import SliceRecord
from mlfail.report.svg import layers_svg, slice_bars_svg
from mlfail.report.timeline_model import InfraCheck, Series, TimelineReport, WindowStats
from mlfail.report.timeline_render import layer_sparklines
from mlfail.report.triage_render import (
    layered_view,
    render_triage,
    triage_html,
    triage_markdown,
)
from mlfail.rootcause import CohortEvidence
from mlfail.triage import TriageReport, triage, triage_data

ROOT = Path(__file__).resolve().parents[1]
D0 = dt.date(2026, 9, 1)
DAYS = [D0 + dt.timedelta(days=i) for i in range(20)]


def _series(layer: str, metric: str, *, onset: int | None, source: str = "metrics") -> Series:
    vals: list[float | None] = [
        1.0 + (2.0 if onset is not None and i >= onset else 0.0) for i in range(20)
    ]
    return Series(
        layer=layer,
        metric=metric,
        source=source,
        segment=None,
        dates=list(DAYS),
        values=vals,
        onset=DAYS[onset] if onset is not None else None,
        statistic=5.0 if onset is not None else None,
        feature=metric.split(":")[1] if ":" in metric else None,
        counts_for_first_fired=source == "metrics",
    )


def _timeline(series: list[Series], first: list[str]) -> TimelineReport:
    onsets: dict[str, Any] = {}
    for s in series:
        if s.onset is not None and s.counts_for_first_fired:
            onsets[s.layer] = min(onsets.get(s.layer, s.onset), s.onset)
    return TimelineReport(
        live="live.parquet",
        reference="ref.parquet",
        metrics="metrics.csv",
        timestamp="ts",
        window="1d",
        metric="accuracy",
        windows=[WindowStats(d, d + dt.timedelta(days=1), 100) for d in DAYS],
        series=series,
        first_fired=first[0] if len(first) == 1 else "tie",
        first_fired_layers=first,
        layer_onsets=onsets,
        verdict="pipeline moved first",
        infra=InfraCheck("green", "infra green"),
    )


@pytest.fixture
def tl() -> TimelineReport:
    return _timeline(
        [
            _series("infra", "p99_latency_ms", onset=None),
            _series("infra", "cpu_util_pct", onset=None),
            _series("pipeline", "feature_null_rate", onset=8),
            _series("model", "accuracy", onset=10),
            _series("model", "psi:amount", onset=None, source="live"),  # left out: no onset
        ],
        ["pipeline"],
    )


EVENTS = [
    ChangeEventInput("CHG-1", dt.datetime(2026, 9, 8, 2), "deploy 1.5", top=True),
    ChangeEventInput("CHG-2", dt.datetime(2026, 9, 3, 9), "config", top=False),
    ChangeEventInput("CHG-OLD", dt.datetime(2026, 7, 1), "long before the axis", top=False),
]


def _count(svg: str, cls: str) -> int:
    return len(re.findall(f'class="{cls}"', svg))


def test_one_layer_per_series_kind_present_in_order(tl: TimelineReport) -> None:
    view = build_layers(tl, EVENTS)
    assert [lay.layer for lay in view.layers] == ["infra", "pipeline", "model"]  # no business
    svg = layers_svg(view)
    assert re.findall(r'data-layer="(\w+)"', svg) == ["infra", "pipeline", "model"]
    # the live per-feature series without an onset is not drawn
    assert [s.label for s in view.series()] == [
        "p99_latency_ms",
        "cpu_util_pct",
        "feature_null_rate",
        "accuracy",
    ]


def test_an_onset_marker_on_each_series_with_an_onset(tl: TimelineReport) -> None:
    view = build_layers(tl, EVENTS)
    with_onset = [s for s in view.series() if s.onset is not None]
    assert [s.label for s in with_onset] == ["feature_null_rate", "accuracy"]
    svg = layers_svg(view)
    assert _count(svg, "onset") == 2
    # the marker sits on the onset day's point of the line, on the shared axis
    acc = with_onset[1]
    assert acc.onset_xy == acc.points[0][10]
    assert acc.onset_index == 10
    # and the layers' shared axis: the same day has the same x in every layer
    null = with_onset[0]
    assert null.points[0][10][0] == acc.points[0][10][0]


def test_one_event_line_per_change_event_in_range(tl: TimelineReport) -> None:
    view = build_layers(tl, EVENTS)
    # in time order; CHG-OLD is before the axis
    assert [e.id for e in view.events] == ["CHG-2", "CHG-1"]
    svg = layers_svg(view)
    assert re.findall(r'data-event="([\w-]+)"', svg) == ["CHG-2", "CHG-1"]
    assert "★ CHG-1" in svg and "★ CHG-2" not in svg  # the top hypothesis's event is starred
    # x is on the same axis as the series (day 7 + 2h lies between day 7 and day 8)
    pts = view.layers[1].series[0].points[0]
    assert pts[7][0] < view.events[1].x < pts[8][0]


def test_first_fired_layer_is_boxed_and_named(tl: TimelineReport) -> None:
    view = build_layers(tl, EVENTS)
    assert [lay.layer for lay in view.layers if lay.first_fired] == ["pipeline"]
    svg = layers_svg(view)
    groups = re.findall(r'<g class="layer" data-layer="(\w+)">(.*?)</g></g>?', svg)
    boxed = [name for name, body in groups if 'class="first-fired"' in body]
    assert boxed == ["pipeline"]
    assert svg.count("FIRED FIRST") == 1


def test_svg_draws_the_view_model_and_computes_nothing() -> None:
    """A hand-made view model: every coordinate in the SVG is one the model gave."""
    s = SeriesView(
        label="made_up",
        unit="ms",
        source="metrics",
        counts=True,
        low="1",
        high="9",
        y0=50.0,
        y1=80.0,
        points=[[(300.0, 77.0), (400.0, 53.0)], [(500.0, 60.0)]],
        onset=D0,
        onset_xy=(400.0, 53.0),
        values=[1.0, 9.0, None, 5.0],
        onset_index=1,
    )
    view = LayeredTimeline(
        title="hand made",
        width=900,
        height=200,
        plot_x0=230.0,
        plot_x1=880.0,
        axis_y=150.0,
        x_label="day",
        start=None,
        end=None,
        layers=[LayerView("model", "Model", D0, True, 34.0, 90.0, [s])],
        events=[EventMark("E-9", dt.datetime(2026, 9, 1), "E-9: x", 333.3, False)],
        ticks=[Tick(230.0, "start", "start"), Tick(880.0, "end", "end")],
        first_fired=["model"],
    )
    svg = layers_svg(view)
    assert 'd="M300.0,77.0 L400.0,53.0"' in svg and 'd="M500.0,60.0"' in svg  # the gap breaks
    assert 'x1="333.3"' in svg and 'x1="400.0" y1="50.0" x2="400.0" y2="80.0"' in svg
    assert "made_up [ms]" in svg and "1 – 9" in svg
    text = layer_sparklines(view).plain
    assert "model" in text and "┃" in text and "◆ fired first" in text
    assert text.index("┃") < text.index("█")  # the bar before the onset window (value 9)


def test_change_event_description_is_escaped(tl: TimelineReport) -> None:
    evil = [
        ChangeEventInput("<b>id</b>", dt.datetime(2026, 9, 5), "<script>alert(1)</script>", True)
    ]
    svg = layers_svg(build_layers(tl, evil))
    assert "<script>" not in svg and "<b>id" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg


def test_slice_bars_are_proportional_and_marked() -> None:
    def rec(geo: str, live: float, degraded: bool) -> SliceRecord:
        return SliceRecord(
            slice={"geo": geo},
            predicates=1,
            rows=100,
            labelled_rows=100,
            metric="accuracy",
            live=live,
            complement=0.9,
            reference=0.9,
            reference_rows=100,
            reference_slice={"geo": geo},
            shrunken=live,
            baseline=0.9,
            baseline_source="reference",
            delta=0.9 - live,
            p_value=None,
            degraded=degraded,
        )

    recs = [rec("BR", 0.5, True), rec("US", 0.88, False)]
    bars = build_slice_bars(recs, "accuracy")
    br, us = bars.bars
    assert br.live_w / br.base_w == pytest.approx(0.5 / 0.9)
    assert us.live_w / us.base_w == pytest.approx(0.88 / 0.9)
    assert (br.live_text, br.base_text) == ("50.0%", "90.0%")
    svg = slice_bars_svg(bars)
    assert "geo=BR ▲" in svg and "geo=US ▲" not in svg


# ---- the triage report around the picture ---------------------------------------------


@pytest.fixture(scope="module")
def sample() -> TriageReport:
    sd = ROOT / "sample_data"
    return triage(
        str(sd / "live"),
        roles=Roles(
            timestamp="ts",
            label="is_fraud",
            prediction="score",
            meta=("pipeline_version", "sdk_version"),
        ),
        reference=str(sd / "reference.parquet"),
        metrics=sd / "metrics.parquet",
        changes=sd / "changes.csv",
        owners=sd / "owners.toml",
    )


def test_html_opens_with_headline_todo_then_layers_then_steps(sample: TriageReport) -> None:
    page = triage_html(sample)
    order = [
        page.index("class='verdict"),
        page.index("What to do now"),
        page.index('class="layers"'),
        page.index("The seven steps"),
    ]
    assert order == sorted(order)
    top = sample.root_causes[0]
    assert top.owner and top.owner in page[order[1] : order[2]]
    assert "mlfail shadow" in page[order[1] : order[2]]
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    # the sample's layers: infra, pipeline, model and business from --metrics; model first
    view = build_layers(sample.timeline, change_events_of(sample.root_causes))
    assert [lay.layer for lay in view.layers] == ["infra", "pipeline", "model", "business"]
    assert [lay.layer for lay in view.layers if lay.first_fired] == ["model"]
    assert [e.id for e in view.events if e.emphasised] == ["CHG-104"]


def test_evidence_with_script_shows_as_text(sample: TriageReport) -> None:
    h = sample.root_causes[0]
    ev = h.change_events()[0]
    bad = dataclasses.replace(ev, id="CHG-<x>", description="<script>alert('x')</script>")
    h2 = dataclasses.replace(h, evidence=[bad, *[e for e in h.evidence if e is not ev]])
    r = dataclasses.replace(  # no --changes list: the layers draw the hypotheses' events
        sample,
        explanation=dataclasses.replace(sample.explanation, hypotheses=[h2]),
        change_events=[],
    )
    assert r.root_causes[0].change_events()[0].description.startswith("<script>")
    page = triage_html(r)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    md = triage_markdown(r)
    assert "<script" not in md


def test_markdown_and_terminal_show_the_layers(sample: TriageReport) -> None:
    md = triage_markdown(sample)
    block = md.split("## Which layer fired first", 1)[1].split("## The seven steps", 1)[0]
    rows = [ln.split(" | ") for ln in block.splitlines() if ln.startswith("| ") and "`" in ln]
    assert [r[0] for r in rows] == ["| infra", "| pipeline", "| model", "| business"]
    model = next(r for r in rows if r[0] == "| model")
    assert model[3] == "onset 2026-09-19" and "◆ fired first" in model[4]
    assert "┃" in model[2] and "★ CHG-104" in block
    con = Console(width=140, record=True, color_system=None)
    render_triage(sample, con)
    out = con.export_text()
    step1 = out.split("Step 1/7", 1)[1].split("Step 2/7", 1)[0]
    assert "business" in step1 and "┃" in step1 and "onset 2026-09-19" in step1


def _big(sample: TriageReport) -> TriageReport:
    """A large report: 90 hourly-days of 24 windows, 400 series over all layers, 300 drifted
    features, 500 slices, 40 hypotheses with change events."""
    n = 90 * 24
    t0 = dt.datetime(2026, 6, 1)
    whens = [t0 + dt.timedelta(hours=i) for i in range(n)]
    series = []
    for k in range(400):
        layer = ("infra", "pipeline", "model", "business")[k % 4]
        series.append(
            Series(
                layer=layer,
                metric=f"m{k}",
                source="metrics",
                segment=None,
                dates=whens,
                values=[float((i * 7 + k) % 13) for i in range(n)],
                onset=whens[n // 2 + k],
                statistic=float(k),
            )
        )
    tl = dataclasses.replace(
        sample.timeline,
        windows=[WindowStats(w, w + dt.timedelta(hours=1), 10) for w in whens],
        series=series,
    )
    hyps = []
    h0 = sample.root_causes[0]
    ev = h0.change_events()[0]
    for k in range(40):
        evs = [dataclasses.replace(ev, id=f"CHG-{k}-{j}", ts=whens[k * 40 + j]) for j in range(5)]
        hyps.append(dataclasses.replace(h0, evidence=[*evs, *h0.evidence]))
    feats = [
        dataclasses.replace(f, feature=f"{f.feature}_{k}")
        for k in range(60)
        for f in sample.features
    ]
    assert sample.slices is not None
    sl = dataclasses.replace(sample.slices, slices=sample.slices.slices * 30)
    ex = dataclasses.replace(sample.explanation, hypotheses=hyps)
    events = [
        ChangeEvent(f"EV-{k}", whens[k * 4], "deploy", "svc", "x" * 80, "team") for k in range(500)
    ]
    return dataclasses.replace(
        sample, timeline=tl, explanation=ex, features=feats, slices=sl, change_events=events
    )


def test_html_stays_under_one_megabyte_on_a_large_report(sample: TriageReport) -> None:
    big = _big(sample)
    assert len(big.timeline.series) == 400 and len(big.features) >= 300
    page = triage_html(big).encode()
    assert len(page) < 1_000_000, len(page)
    view = build_layers(big.timeline, change_events_of(big.root_causes))
    assert sum(len(lay.series) for lay in view.layers) == 16  # 4 per layer, not 400
    assert len(view.events) == 200
    assert len(layered_view(big).events) == 500  # every --changes event is drawn, and fits


# ---- change events of --changes, cohort bins, the streaming step 1 ------------------------


def test_every_change_event_is_in_the_model_and_the_json(sample: TriageReport) -> None:
    csv = (ROOT / "sample_data" / "changes.csv").read_text().splitlines()[1:]
    ids = sorted(line.split(",", 1)[0] for line in csv if line.strip())
    assert sorted(e.id for e in sample.change_events) == ids
    by_id = {e.id: e for e in sample.change_events}
    assert (by_id["CHG-104"].kind, by_id["CHG-104"].component) == ("deploy", "feature-pipeline")
    assert by_id["CHG-104"].owner == "data-eng"  # from owners.toml's component
    assert by_id["CHG-107"].owner is None  # risk-policy is not listed there
    data = triage_data(sample)["change_events"]
    assert [d["id"] for d in data] == [e.id for e in sample.change_events]
    assert data[0]["ts"] == sample.change_events[0].ts.isoformat()


def test_layers_draw_every_event_in_range_only_and_escape_it(sample: TriageReport) -> None:
    hyp_ids = {e.id for h in sample.root_causes for e in h.change_events()}
    assert len(hyp_ids) < len(sample.change_events)  # some events explain nothing
    extra = [
        ChangeEvent("OLD-1", dt.datetime(2025, 1, 1), "deploy", "svc", "long before", None),
        ChangeEvent("NEW-1", dt.datetime(2027, 1, 1), "deploy", "svc", "long after", None),
        ChangeEvent("EVIL-1", dt.datetime(2026, 9, 10), "config", "x", "<script>alert(1)</script>"),
    ]
    r = dataclasses.replace(sample, change_events=[*sample.change_events, *extra])
    in_range = sorted([*sample.change_events, extra[2]], key=lambda e: e.ts)
    svg = layers_svg(layered_view(r))
    assert re.findall(r'data-event="([\w-]+)"', svg) == [e.id for e in in_range]
    assert "★ CHG-104" in svg and svg.count("★") == 1  # the top hypothesis's event
    assert [e.id for e in layered_view(r).events if e.emphasised] == ["CHG-104"]
    page = triage_html(r)
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_hypothesis_draws_its_feature_bins_on_its_cohort(sample: TriageReport) -> None:
    h = sample.root_causes[0]
    cohort = next(e for e in h.evidence if isinstance(e, CohortEvidence))
    assert (cohort.column, cohort.value) == ("pipeline_version", "1.5")
    # the within-cohort counts the root cause tested: they add up to the cohort's rows
    assert sum(b.live_count for b in cohort.bins) == cohort.rows
    glob = next(f for f in sample.features if f.feature == h.feature and f.slice is None)
    assert [b.live_share for b in glob.bins] != [b.live_share for b in cohort.bins]
    page = triage_html(sample)
    pair = page.split("<div class='pair'>", 1)[1].split("</div></div>", 1)[0]
    assert "on its cohort pipeline_version=1.5" in pair
    for b in cohort.bins:
        assert f"live {100 * b.live_share:.1f}%" in pair
    assert f"live {100 * glob.bins[-1].live_share:.1f}%" not in pair
    data = triage_data(sample)["root_causes"][0]["evidence"]
    assert len(next(e for e in data if e["kind"] == "cohort")["bins"]) == len(cohort.bins)


def test_streaming_step_one_draws_the_layers_sparklines(
    sample: TriageReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlfail.cli.triage import Walk

    con = Console(width=140, record=True, color_system=None)
    walk = Walk(con)
    monkeypatch.setattr(walk, "pause", lambda: None)
    step1 = sample.steps[0]
    assert step1.timeline is sample.timeline and step1.events == sample.change_events
    walk.on_step(step1)
    out = con.export_text()
    assert "business" in out and "┃" in out and "onset 2026-09-19" in out
    assert "CHG-104" in out and "★" not in out  # no hypothesis yet: nothing emphasised
    walk.on_step(dataclasses.replace(step1, timeline=None))
    assert con.export_text().count("┃") == 0  # the sparklines come from what the step carries

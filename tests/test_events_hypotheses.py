"""Change events for every kind of hypothesis, and several problems at once (issue 14 item 5):
seeded worlds in tests/worlds_events.py, plus the ranking and grouping rules by hand."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
import worlds_events as W
from rich.console import Console
from test_rootcause import ROLES

from mlfail.audit import load_reference
from mlfail.errors import InputError
from mlfail.events import load_changes, load_metrics
from mlfail.io import open_source
from mlfail.owners import load_owners
from mlfail.report.explain_render import explain_json, explain_markdown, render_explain
from mlfail.rootcause import ExplainSettings, Explanation, Hypothesis, explain
from mlfail.rootcause.events import (
    NO_EVENT_NOTE,
    _rank_concept_events,
    _rank_serving_events,
    is_serving_name,
)
from mlfail.rootcause.evidence import ChangeEventEvidence
from mlfail.rootcause.hypotheses import annotate_problems
from mlfail.triage_steps import _rootcause_step


def _run(sc: W.EventWorld, tmp: Path) -> Explanation:
    p = sc.write(tmp)
    ref, _ = load_reference(str(p["reference"]), None, ROLES)
    return explain(
        ref,
        open_source(str(p["live"])),
        ROLES,
        changes=load_changes(p["changes"]),
        owners=load_owners(p["owners"]) if "owners" in p else None,
        metrics=load_metrics(p["metrics"]) if "metrics" in p else None,
    )


@pytest.fixture(scope="module")
def infra_ex(tmp_path_factory: pytest.TempPathFactory) -> Explanation:
    return _run(W.infra_serving_deploy(), tmp_path_factory.mktemp("infra"))


@pytest.fixture(scope="module")
def three_ex(tmp_path_factory: pytest.TempPathFactory) -> Explanation:
    return _run(W.three_problems(), tmp_path_factory.mktemp("three"))


@pytest.fixture(scope="module")
def no_event_ex(tmp_path_factory: pytest.TempPathFactory) -> Explanation:
    return _run(W.no_event(), tmp_path_factory.mktemp("noevent"))


# (a) infrastructure: the serving deploy before the onset, owner sre


def test_infra_hypothesis_names_the_serving_deploy_first(infra_ex: Explanation) -> None:
    h = infra_ex.hypotheses[0]
    assert h.failure_mode == "infrastructure"
    events = h.change_events()
    assert [e.id for e in events][:1] == ["CHG-700"]
    assert events[0].on_owning_component
    assert h.owner == "sre"
    assert h.component == "serving-api"
    assert h.event_note is None
    ids = {e.id for e in events}
    assert "CHG-702" not in ids  # same component, after the onset
    assert "CHG-701" not in ids  # nearer, but on an unrelated component
    assert "CHG-703" not in ids  # nearer, on a platform component owners.toml does not mark
    assert "CHG-700" in h.summary


def test_infra_without_owners_recognises_serving_by_name(tmp_path: Path) -> None:
    ex = _run(W.infra_serving_deploy(owners=False), tmp_path)
    h = next(x for x in ex.hypotheses if x.failure_mode == "infrastructure")
    assert [e.id for e in h.change_events()] == ["CHG-700"]


def _changes(rows: list[tuple[str, dt.datetime, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(i, ts, k, c, "d") for i, ts, k, c in rows],
        schema=["id", "ts", "kind", "component", "description"],
        orient="row",
    )


ONSET = dt.date(2026, 9, 10)


def test_serving_ranking_declared_components_nearest_first(tmp_path: Path) -> None:
    owners_path = tmp_path / "owners.toml"
    owners_path.write_text(
        '[components.scorer]\nowner = "sre"\nlayer = "infra"\n'
        '[components.api-gateway]\nowner = "web"\n'
    )
    owners = load_owners(owners_path)
    ch = _changes(
        [
            ("far", dt.datetime(2026, 9, 2), "deploy", "scorer"),
            ("near", dt.datetime(2026, 9, 6), "deploy", "scorer"),
            ("gw", dt.datetime(2026, 9, 9), "deploy", "api-gateway"),  # not declared
            ("late", dt.datetime(2026, 9, 11), "deploy", "scorer"),
        ]
    )
    got = _rank_serving_events(ch, ONSET, owners, ExplainSettings())
    assert [e.id for e in got] == ["near", "far"]
    # without owners: named like a serving component, and of a deploy/infra/config kind
    got = _rank_serving_events(ch, ONSET, None, ExplainSettings())
    assert [e.id for e in got] == ["gw"]


def test_serving_names_and_kinds() -> None:
    assert is_serving_name("serving-api") and is_serving_name("api-gateway")
    assert is_serving_name("ml_infra") and is_serving_name("inference-svc")
    assert not is_serving_name("rapid-feed") and not is_serving_name("feature-pipeline")
    ch = _changes(
        [
            ("lib", dt.datetime(2026, 9, 9), "library_upgrade", "serving-api"),
            ("cfg", dt.datetime(2026, 9, 8), "config", "serving-api"),
        ]
    )
    assert [e.id for e in _rank_serving_events(ch, ONSET, None, ExplainSettings())] == ["cfg"]


def test_owners_layer_is_optional_and_validated(tmp_path: Path) -> None:
    p = tmp_path / "o.toml"
    p.write_text('[components.a]\nowner = "x"\n[components.b]\nlayer = "infra"\n')
    o = load_owners(p)
    assert o.components["a"].layer is None
    assert list(o.components_in("infra")) == ["b"]
    p.write_text('[components.b]\nlayer = "serving"\n')
    with pytest.raises(InputError, match=r"components\.b\.layer: unknown layer"):
        load_owners(p)


# (b) concept drift: the policy change before the onset


def test_concept_hypothesis_names_the_policy_change(tmp_path: Path) -> None:
    ex = _run(W.concept_policy(), tmp_path)
    h = ex.hypotheses[0]
    assert h.failure_mode == "concept_drift"
    assert [e.id for e in h.change_events()] == ["CHG-800"]  # CHG-801 is after the onset
    assert "CHG-800" in h.summary and h.event_note is None


def test_concept_ranking_only_policy_like_kinds() -> None:
    ch = _changes(
        [
            ("dep", dt.datetime(2026, 9, 9, 12), "deploy", "risk-policy"),
            ("mkt", dt.datetime(2026, 9, 3), "market", "pricing"),
            ("pol", dt.datetime(2026, 9, 9), "policy", "risk-policy"),
        ]
    )
    got = _rank_concept_events(ch, ONSET, None, ExplainSettings())
    assert [e.id for e in got] == ["pol", "mkt"]


# (c) three simultaneous problems


def test_three_problems_are_three_hypotheses_each_with_its_event(three_ex: Explanation) -> None:
    firsts = {
        h.feature: (h.change_events()[0].id if h.change_events() else None)
        for h in three_ex.hypotheses
    }
    assert firsts == {"ratio": "CHG-330", "account_age": "CHG-450", "amount": "CHG-104"}
    cohorts = {h.feature: h.slice for h in three_ex.hypotheses}
    assert cohorts["ratio"] == {"source": "b"}
    assert cohorts["account_age"] == {"geo": "BR"}
    assert cohorts["amount"] == {"pipeline_version": "1.5"}
    assert three_ex.problem_count() == 3
    assert sorted(h.problem or 0 for h in three_ex.hypotheses) == [1, 2, 3]


def test_step6_says_how_many_independent_problems(three_ex: Explanation) -> None:
    step = _rootcause_step(three_ex, True, True)
    assert step.found.startswith("3 independent problems: ")
    for ev in ("CHG-330", "CHG-450", "CHG-104"):
        assert ev in step.found
    data = json.loads(explain_json(three_ex))
    assert data["problems"] == 3


def _hyp(feature: str, slice_: dict | None, onset: dt.date, event: str | None) -> Hypothesis:
    evs = (
        [ChangeEventEvidence("change_event", event, None, "deploy", "c", "", 0.0, True, 1.0, "")]
        if event
        else []
    )
    return Hypothesis(feature, "data_quality", 0.9, onset, slice_, None, None, None, "", "", evs)


def test_independence_rule_by_hand() -> None:
    d = dt.date(2026, 9, 5)
    hyps = [
        _hyp("a", {"v": "1"}, d, "E1"),
        _hyp("b", {"v": "1"}, d + dt.timedelta(days=1), "E1"),  # same cohort, onset, event
        _hyp("c", {"v": "1"}, d, "E2"),  # another event
        _hyp("d", {"v": "2"}, d, "E1"),  # another cohort
        _hyp("e", {"v": "1"}, d + dt.timedelta(days=5), "E1"),  # another onset
    ]
    assert annotate_problems(hyps, True) == 4
    assert [h.problem for h in hyps] == [1, 1, 2, 3, 4]
    assert hyps[0].event_note is None


# (d) no aligned event: the note in every format


def test_no_event_note_in_human_json_markdown(no_event_ex: Explanation) -> None:
    h = no_event_ex.hypotheses[0]
    assert h.feature == "ratio" and not h.change_events()
    assert h.event_note == NO_EVENT_NOTE
    data = json.loads(explain_json(no_event_ex))
    assert data["hypotheses"][0]["event_note"] == "no change event on record before the onset"
    assert NO_EVENT_NOTE in explain_markdown(no_event_ex)
    con = Console(width=140, record=True, color_system=None)
    render_explain(no_event_ex, con)
    assert NO_EVENT_NOTE in con.export_text()
    assert NO_EVENT_NOTE in _rootcause_step(no_event_ex, True, True).found


def test_note_says_when_no_change_log_was_given() -> None:
    hyps = [_hyp("a", None, dt.date(2026, 9, 5), None)]
    annotate_problems(hyps, False)
    assert hyps[0].event_note == NO_EVENT_NOTE + " (no --changes given)"

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from mlfail.errors import InputError
from mlfail.events import load_changes, load_metrics
from mlfail.owners import load_owners

OWNERS = """
[components.feature-pipeline]
owner = "data-eng"
pager = "pd:data-eng"
features = ["amount", "avg_amount_30d"]

[components.device-sdk]
owner = "mobile"
features = ["channel"]

[layers]
infra = { owner = "sre", pager = "pd:sre" }
model = "ml-team"
"""


def test_owners_parse_and_lookup(tmp_path: Path) -> None:
    p = tmp_path / "owners.toml"
    p.write_text(OWNERS)
    o = load_owners(p)
    comp = o.component_for("amount")
    assert comp is not None and (comp.name, comp.owner, comp.pager) == (
        "feature-pipeline",
        "data-eng",
        "pd:data-eng",
    )
    assert o.component_for("nope") is None
    assert o.layers["infra"].pager == "pd:sre" and o.layers["model"].owner == "ml-team"
    assert o.owned_features() == {"amount", "avg_amount_30d", "channel"}


def test_owners_bad_toml_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "owners.toml"
    p.write_text('[components.a]\nowner = "x"\nfeatures = [1, \n')
    with pytest.raises(InputError) as e:
        load_owners(p)
    assert str(e.value).startswith(f"--owners {p}:")
    assert "invalid TOML" in str(e.value)
    p.write_text('[layers]\nfinance = "cfo"\n')
    with pytest.raises(InputError, match=r"layers\.finance: unknown layer"):
        load_owners(p)


def test_changes_csv_and_json(tmp_path: Path) -> None:
    csv = tmp_path / "changes.csv"
    csv.write_text(
        "id,ts,kind,component,description\n"
        "CHG-2,2026-09-19T02:00:00,Deploy,feature-pipeline,amount normalisation rewrite\n"
        "CHG-1,2026-09-05,library_upgrade,model-serving,bump numpy\n"
    )
    df = load_changes(csv)
    assert df["id"].to_list() == ["CHG-1", "CHG-2"]
    assert df["kind"].to_list() == ["library_upgrade", "deploy"]
    assert df["ts"].dtype == pl.Datetime("us")
    js = tmp_path / "changes.json"
    js.write_text('[{"id": "A", "ts": "2026-09-01", "kind": "policy"}]')
    assert load_changes(js)["component"].to_list() == [None]


def test_changes_errors(tmp_path: Path) -> None:
    bad = tmp_path / "changes.csv"
    bad.write_text("id,when,kind\n1,2026-01-01,deploy\n")
    with pytest.raises(InputError, match=r"missing column\(s\) ts"):
        load_changes(bad)
    bad.write_text("id,ts,kind\n1,yesterday,deploy\n")
    with pytest.raises(InputError, match="cannot parse 'yesterday'"):
        load_changes(bad)
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(InputError, match=r"unsupported file type \.txt"):
        load_changes(tmp_path / "x.txt")


def test_metrics(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_text(
        "ts,layer,metric,value\n2026-09-01,infra,p99_latency_ms,120\n"
        "2026-09-01,Business,approval_rate,0.91\n"
    )
    df = load_metrics(p)
    assert df["layer"].to_list() == ["infra", "business"]
    assert df["segment"].to_list() == [None, None]
    p.write_text("ts,layer,metric,value\n2026-09-01,finance,x,1\n")
    with pytest.raises(InputError, match="unknown layer 'finance'"):
        load_metrics(p)

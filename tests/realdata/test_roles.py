"""Roles on real datasets, run as a new user would: only --label and --prediction (and, for
wine, --model-output for the probability column). No id, output or one-sided column may be a feature;
every real measurement is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlfail.io import open_source
from mlfail.roles import RoleAssignment, RoleFlags, infer_roles
from realdata.datasets import ALL, Pair


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Pair, RoleAssignment]]:
    root: Path = tmp_path_factory.mktemp("realdata")
    out = {}
    for name, build in ALL.items():
        pair = build(root)
        ref = open_source(str(pair.reference), role="--reference")
        live = open_source(str(pair.live), role="--live")
        flags = RoleFlags(label=pair.label, prediction=pair.prediction, outputs=pair.given_outputs)
        out[name] = (pair, infer_roles(ref, live, flags))
    return out


@pytest.mark.parametrize("name", sorted(ALL))
def test_id_output_partition_and_label_are_not_features(name: str, corpus: dict) -> None:
    pair, roles = corpus[name]
    assert roles.get(pair.id_col).role == "identifier"
    for out in pair.outputs:
        assert roles.get(out).role == "output", (out, roles.get(out))
        assert roles.get(out).source == "inferred"
    for out in pair.given_outputs:
        assert roles.get(out).role == "output" and roles.get(out).source == "flag"
    year = roles.get("year")
    assert year.role == "time_key" and year.present == "live"
    assert roles.get(pair.label).role == "label"
    assert roles.get(pair.prediction).role == "prediction"
    never = {pair.id_col, *pair.outputs, *pair.given_outputs, "year", pair.label, pair.prediction}
    assert never.isdisjoint(roles.features())
    assert never <= set(roles.never_slice_keys())


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_real_measurement_is_a_feature(name: str, corpus: dict) -> None:
    pair, roles = corpus[name]
    assert roles.features() == list(pair.features)
    assert set(pair.shifted) <= set(roles.features())


def test_many_valued_real_features_stay_features(corpus: dict) -> None:
    """Real columns with many distinct values (floats; integer-valued proline-like counts) are
    measured, not identifiers: the corpus has such columns and none is called an id."""
    _, roles = corpus["breast_cancer"]
    c = roles.get("mean area")
    assert c is not None and c.role == "feature"  # 539 distinct values in 569 rows
    _, roles = corpus["diabetes"]
    assert roles.get("s1").role == "feature"  # integer cholesterol, 100+ distinct values


def test_roles_json_shape(corpus: dict) -> None:
    pair, roles = corpus["phishing"]
    d = roles.to_dict()
    assert d["features"] == list(pair.features)
    row = next(c for c in d["columns"] if c["column"] == "request_id")
    assert row["role"] == "identifier" and row["source"] == "inferred"
    assert row["flag"] == "--features request_id"
    assert d["counts"]["output"] == 1 and d["counts"]["time_key"] == 1
    assert RoleAssignment.from_dict(d) == roles
    block = "\n".join(roles.note_lines())
    assert re.search(r"request_id +identifier: id-like name", block)
    assert re.search(r"y_pred +output: decision: score ≥", block)


@pytest.mark.parametrize("name", ["breast_cancer", "diabetes", "phishing"])
def test_without_label_flag_the_label_is_not_taken_for_an_output(
    name: str, corpus: dict, tmp_path: Path
) -> None:
    """breast_cancer's model agrees with the diagnosis on 99.4% of the reference rows; only
    the live rows tell a label from a decision. (wine is left out: its planted shift makes the
    model predict one class on every live row, so live cannot tell; pass --label.)"""
    pair, _ = corpus[name]
    ref = open_source(str(pair.reference), role="--reference")
    live = open_source(str(pair.live), role="--live")
    roles = infer_roles(ref, live, RoleFlags(prediction=pair.prediction))
    assert roles.get(pair.label).role == "feature"
    assert all(roles.get(o).role == "output" for o in pair.outputs)

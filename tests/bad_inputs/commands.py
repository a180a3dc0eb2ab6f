"""How each command is invoked on a :class:`World` (the valid command line a case then breaks)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bad_inputs.world import ROLES, World


@dataclass(frozen=True)
class Command:
    name: str
    reads: frozenset[str]  # which World inputs it takes: live, reference, metrics, …
    build: Callable[[World], list[str]]
    json: bool = True  # prints a JSON report on stdout (else writes a file)


def _roles(w: World) -> list[str]:
    return w.extra.get("roles", ROLES) + w.extra.get("args", [])


def _ref(w: World) -> list[str]:
    if w.extra.get("use_baseline"):
        return ["--baseline", w.baseline]
    return ["--reference", w.reference]


def _psi(w: World) -> list[str]:
    return ["psi", *_ref(w), "--live", w.live, *_roles(w), "--format", "json"]


def _baseline_create(w: World) -> list[str]:
    out = w.extra.get("output", [w.out + "/b.json"])[0]
    return ["baseline", "create", "--reference", w.reference, *_roles(w), "--out", out]


def _quality(w: World) -> list[str]:
    return ["check", "quality", *_ref(w), "--live", w.live, *_roles(w), "--format", "json"]


def _slices(w: World) -> list[str]:
    return ["slices", *_ref(w), "--live", w.live, *_roles(w), "--format", "json", "--top", "0"]


def _timeline(w: World) -> list[str]:
    return [
        "timeline",
        *_ref(w),
        "--live",
        w.live,
        *_roles(w),
        "--metrics",
        w.metrics,
        "--format",
        "json",
    ]


def _explain(w: World) -> list[str]:
    return [
        "explain",
        *_ref(w),
        "--live",
        w.live,
        *_roles(w),
        "--changes",
        w.changes,
        "--owners",
        w.owners,
        "--metrics",
        w.metrics,
        "--format",
        "json",
    ]


def _triage(w: World) -> list[str]:
    return [
        "triage",
        *_ref(w),
        "--live",
        w.live,
        *_roles(w),
        "--changes",
        w.changes,
        "--owners",
        w.owners,
        "--metrics",
        w.metrics,
        "--candidate-source",
        w.candidate,
        "--candidate-prediction",
        "score",
        "--id",
        "event_id",
        "--no-input",
        "--format",
        "json",
    ]


def _shadow(w: World) -> list[str]:
    return [
        "shadow",
        "--live",
        w.live,
        "--current-prediction",
        "score",
        "--candidate-source",
        w.candidate,
        "--candidate-prediction",
        "score",
        "--id",
        "event_id",
        "--label",
        "is_fraud",
        "--format",
        "json",
    ]


def _owners(w: World) -> list[str]:
    return ["check", "owners", "--owners", w.owners, *_ref(w), *_roles(w), "--format", "json"]


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("psi", frozenset({"live", "reference", "baseline", "output"}), _psi),
        Command(
            "baseline create", frozenset({"reference", "output"}), _baseline_create, json=False
        ),
        Command("check quality", frozenset({"live", "reference", "baseline", "output"}), _quality),
        Command("slices", frozenset({"live", "reference", "baseline", "output"}), _slices),
        Command(
            "timeline",
            frozenset({"live", "reference", "baseline", "metrics", "output"}),
            _timeline,
        ),
        Command(
            "explain",
            frozenset({"live", "reference", "baseline", "metrics", "changes", "owners", "output"}),
            _explain,
        ),
        Command(
            "triage",
            frozenset(
                {
                    "live",
                    "reference",
                    "baseline",
                    "metrics",
                    "changes",
                    "owners",
                    "candidate",
                    "output",
                }
            ),
            _triage,
        ),
        Command("shadow", frozenset({"live", "candidate", "output"}), _shadow),
        Command("check owners", frozenset({"owners", "reference", "baseline", "output"}), _owners),
    )
}


def _slice_key(s: dict[str, Any]) -> str:
    return json.dumps(s["slice"], sort_keys=True)


def fingerprint(command: str, payload: Any) -> Any:
    """What a command found, without paths or timings: equal fingerprints mean the same
    findings (used to show that a harmless input variant changes nothing)."""
    p = payload
    if command == "psi":
        return sorted((f["feature"], f["status"], round(f["psi"], 9)) for f in p["features"])
    if command == "check quality":
        return sorted((f["feature"], f["rule"], f["severity"]) for f in p["findings"])
    if command == "slices":
        return [(_slice_key(s), s["rows"]) for s in p["slices"][:5]], p["global"]["live"]
    if command == "timeline":
        return [(w["start"], w["rows"]) for w in p["windows"]], p["layer_onsets"]
    if command == "explain":
        tops = [(h["feature"], h["failure_mode"], h["onset"], h["owner"]) for h in p["hypotheses"]]
        return p["verdict"], tops
    if command == "triage":
        return p["verdict"], p["headline"]
    if command == "shadow":
        o = p["overall"]
        return p["verdict"], o["current"], o["candidate"], o["rows"]
    if command == "check owners":
        return sorted(g["subject"] for g in p["gaps"])
    raise KeyError(command)

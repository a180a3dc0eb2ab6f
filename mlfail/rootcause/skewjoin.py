"""The walk's join evidence (``explain``/``triage --offline``, design §10): ONE call of
:func:`mlfail.skew.compare` restricted to the drifted features, segmented by the cohort
columns and the live day, turned into a :class:`SkewEvidence` per feature."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

import polars as pl

from mlfail.errors import UsageError
from mlfail.io import Source, open_source
from mlfail.rootcause.evidence import SkewEvidence
from mlfail.skew import FeatureSkew, SkewSettings, compare
from mlfail.skew.join import check_keys

SKEW_DAY = "__mlfail_skew_day"
TOP_SEGMENTS = 5


def open_offline(spec: str | None, ids: Sequence[str] | None) -> Source | None:
    """The ``--offline`` source (None without the flag); ``--offline`` needs ``--id``."""
    if spec is None:
        return None
    if not ids:
        raise UsageError(
            "--offline needs --id COL: the join key of --live and --offline "
            "(repeat --id for a composite key)"
        )
    return open_source(spec, role="--offline")


def check_offline(live: Source, offline: Source, ids: Sequence[str]) -> None:
    """One-line errors before any work: no --id, an id missing on a side, id dtypes no
    lossless cast reconciles."""
    check_keys(live, offline, list(ids))


def join_evidence(
    live: Source,
    offline: Source,
    ids: Sequence[str],
    features: Sequence[str],
    segments: Sequence[str],
    day: pl.Expr,
    dates: list[dt.date],
    settings: SkewSettings | None = None,
) -> tuple[dict[str, SkewEvidence], list[str]]:
    """Evidence per feature of ``features`` present on both sides (one join), and warnings
    for the features the offline table lacks."""
    have = set(offline.columns)
    feats = [f for f in features if f in have and f in live.schema and f not in ids]
    lacking = [f for f in features if f not in have]
    warnings = (
        [f"no row-by-row evidence for {', '.join(lacking)}: not in --offline {offline.spec}"]
        if lacking
        else []
    )
    if not feats:
        return {}, warnings
    segs = [c for c in dict.fromkeys(segments) if c not in ids and c not in feats]
    segs = [c for c in segs if c in live.schema or c in offline.schema]
    lf = live.lf.with_columns(day.alias(SKEW_DAY))
    served = replace(live, lf=lf, schema=lf.collect_schema(), _per_file=[])
    base = settings or SkewSettings()
    s = replace(base, max_segment_values=max(base.max_segment_values, len(dates) + 1))
    report = compare(
        served, offline, list(ids), features=feats, segments=[*segs, SKEW_DAY], settings=s
    )
    out = {f.feature: _evidence(f, list(ids), dates, s) for f in report.features}
    return out, warnings + report.warnings


def _evidence(
    f: FeatureSkew, ids: list[str], dates: list[dt.date], s: SkewSettings
) -> SkewEvidence:
    by_day = sorted(
        (r for r in f.segments if SKEW_DAY in r.slice and r.slice[SKEW_DAY] is not None),
        key=lambda r: r.slice[SKEW_DAY],
    )
    onset = next((r.slice[SKEW_DAY] for r in by_day if r.mismatch_rate >= s.max_mismatch), None)
    top = [
        {"slice": r.slice, "rows": r.rows, "mismatches": r.mismatches, "rate": r.mismatch_rate}
        for r in f.segments
        if SKEW_DAY not in r.slice and r.mismatches
    ][:TOP_SEGMENTS]
    rows = {tuple(r.slice.items()): r.rows for r in f.segments}
    # a cohort, not a constant: the value holding the mismatches leaves some matched rows out
    conc = [
        d
        for d in f.concentrated_in
        if SKEW_DAY not in d["slice"] and rows.get(tuple(d["slice"].items()), 0) < f.compared
    ]
    ev = SkewEvidence(
        kind="skew",
        feature=f.feature,
        ids=ids,
        compared=f.compared,
        mismatches=f.mismatches,
        rate=f.mismatch_rate,
        status=f.status,
        pattern=f.pattern,
        segments_top=top,
        concentrated_in=conc,
        onset=onset,
        from_first_day=bool(dates) and onset == dates[0],
        serving_null_only=f.serving_null_only,
        offline_null_only=f.offline_null_only,
        text="",
    )
    ev.text = _text(ev, s)
    return ev


def _text(ev: SkewEvidence, s: SkewSettings) -> str:
    head = f"row-by-row join on {', '.join(ev.ids)}: {ev.feature}"
    if ev.mismatches == 0:
        return (
            f"{head} identical on all {ev.compared:,} matched rows — the offline pipeline "
            "computes the same values, so the drift is in the data, not training-serving skew"
        )
    share = f"{ev.mismatches:,} of {ev.compared:,} matched rows ({ev.rate:.1%})"
    if not ev.systematic:
        return (
            f"{head} differs on {share}, below --max-mismatch {s.max_mismatch:g} — no "
            "systematic skew: the offline pipeline computes the same values"
        )
    p = ev.pattern
    how = f"served {p.description}" if p and p.kind not in ("other", "none") else "served wrong"
    text = f"{head} {how} on {share}"
    if ev.concentrated_in:
        d = ev.concentrated_in[0]
        where = ", ".join(f"{k}={v}" for k, v in d["slice"].items())
        text += (", all in " if d["share"] >= 0.9995 else f", {d['share']:.0%} in ") + where
    if ev.onset is not None:
        text += (
            f", from the first live day ({ev.onset})"
            if ev.from_first_day
            else f", starting {ev.onset}"
        )
    return text

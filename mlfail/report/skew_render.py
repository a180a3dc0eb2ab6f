"""Renderings of a skew comparison (``mlfail skew``): JSON, a Rich table, markdown. They only
format what :func:`mlfail.skew.compare` computed."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlfail._version import __version__
from mlfail.report.jsonout import dumps
from mlfail.skew import FeatureSkew, JoinReport, SkewReport

STYLE = {"skewed": "bold red", "mismatch": "yellow", "ok": "green"}


def skew_data(r: SkewReport) -> dict[str, Any]:
    return {
        "schema_version": r.schema_version,
        "mlfail_version": __version__,
        "serving": r.serving,
        "offline": r.offline,
        "ids": r.ids,
        "settings": r.settings,
        "summary": {
            "features": len(r.features),
            "skewed": len(r.skewed),
            "with_mismatches": sum(1 for f in r.features if f.mismatches),
        },
        "join": r.join,
        "features": r.features,
        "warnings": r.warnings,
    }


def skew_json(r: SkewReport) -> str:
    return dumps(skew_data(r))


def _join_lines(j: JoinReport, ids: list[str]) -> list[str]:
    key = ", ".join(ids)
    lines = [
        f"join on ({key}): {j.serving_rows} serving rows, {j.offline_rows} offline rows; "
        f"{j.matched} ids matched, {j.serving_only} serving-only, {j.offline_only} offline-only",
    ]
    for side, n, extra, ex in (
        (
            "serving",
            j.duplicate_ids_serving,
            j.duplicate_rows_serving,
            j.duplicate_examples_serving,
        ),
        (
            "offline",
            j.duplicate_ids_offline,
            j.duplicate_rows_offline,
            j.duplicate_examples_offline,
        ),
    ):
        if n:
            shown = ", ".join(
                f"{'/'.join(str(v) for v in e['id'].values())} ×{e['rows']}" for e in ex
            )
            lines.append(f"{n} duplicated ids on {side} ({extra} extra rows), e.g. {shown}")
    if j.null_ids_serving or j.null_ids_offline:
        lines.append(
            f"rows with a null id (joined nothing): {j.null_ids_serving} serving, "
            f"{j.null_ids_offline} offline"
        )
    if j.duplicate_ids_serving or j.duplicate_ids_offline:
        lines.append(
            "compared: the first row of each id on each side"
            if j.compared_duplicates == "first"
            else f"compared: every serving × offline pair of an id ({j.pairs} pairs)"
        )
    return lines


def _row(f: FeatureSkew) -> list[str | Text]:
    return [
        f.feature,
        f.kind,
        str(f.compared),
        str(f.mismatches),
        f"{f.mismatch_rate:.2%}",
        str(f.serving_null_only),
        str(f.offline_null_only),
        Text(f.status, style=STYLE[f.status]),
        f.summary,
    ]


def render_skew(r: SkewReport, console: Console, *, max_rows: int = 40) -> None:
    console.print(
        Text.assemble(
            ("Skew  ", "bold"), ("serving ", "dim"), r.serving, ("  vs  offline ", "dim"), r.offline
        )
    )
    for line in _join_lines(r.join, r.ids):
        console.print(Text(line, style="dim"))
    t = Table(header_style="bold")
    heads = ("feature", "kind", "compared", "mismatch", "rate", "null srv", "null off")
    for col in (*heads, "status", "pattern"):
        left = col in ("feature", "kind", "status", "pattern")
        t.add_column(col, justify="left" if left else "right", no_wrap=col != "pattern")
    for f in r.features[:max_rows]:
        t.add_row(*_row(f))
    console.print(t)
    if len(r.features) > max_rows:
        console.print(Text(f"… {len(r.features) - max_rows} more features (--format json)"))
    for f in r.skewed:
        if f.pattern and f.pattern.kind == "other" and f.examples:
            ex = "; ".join(
                f"{_id(e.id)}: served {e.serving!r}, offline {e.offline!r}" for e in f.examples
            )
            console.print(Text.assemble((f"{f.feature} e.g. ", "bold"), ex))
    verdict = (
        f"{len(r.skewed)} feature(s) skewed (mismatch rate ≥ {r.settings['max_mismatch']:g})"
        if r.skewed
        else "no feature skewed"
    )
    console.print(Text(verdict, style="bold red" if r.skewed else "bold green"))
    for w in r.warnings:
        console.print(Text(f"warning: {w}", style="yellow"))


def _id(d: dict[str, Any]) -> str:
    return "/".join(str(v) for v in d.values())


def skew_markdown(r: SkewReport) -> str:
    lines = [
        f"## Training-serving skew: {len(r.skewed)} feature(s) skewed",
        "",
        f"Serving `{r.serving}` joined to offline `{r.offline}` on `{', '.join(r.ids)}`.",
        "",
    ]
    lines += [f"- {x}" for x in _join_lines(r.join, r.ids)]
    lines += [
        "",
        "| feature | compared | mismatches | rate | null serving | null offline | status | "
        "pattern |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for f in r.features:
        lines.append(
            f"| `{f.feature}` | {f.compared} | {f.mismatches} | {f.mismatch_rate:.2%} | "
            f"{f.serving_null_only} | {f.offline_null_only} | {f.status} | {f.summary} |"
        )
    for f in r.skewed:
        if f.segments:
            worst = ", ".join(
                f"{_id(s.slice)} {s.mismatch_rate:.1%} ({s.mismatches}/{s.rows})"
                for s in f.segments[:5]
            )
            lines += ["", f"`{f.feature}` by segment, worst first: {worst}"]
    lines += [""] + [f"> warning: {w}" for w in r.warnings]
    return "\n".join(lines).rstrip() + "\n"

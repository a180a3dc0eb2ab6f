"""Flat renderings of the PSI report: CSV and Markdown."""

from __future__ import annotations

import io
from typing import Any

import polars as pl

from mlfail.psi import FeaturePsi
from mlfail.report.model import PsiReport
from mlfail.report.roles_render import roles_markdown
from mlfail.report.text import csv_text
from mlfail.report.text import md as _md_escape


def slice_label(s: dict[str, Any] | None) -> str:
    if not s:
        return "(all)"
    return ", ".join(f"{k}={v}" for k, v in s.items())


def _num(x: float | None, fmt: str = ".4f") -> str:
    return "" if x is None else format(x, fmt)


def _p(x: float | None) -> str:
    if x is None:
        return ""
    if x < 1e-300:
        return "<1e-300"
    return f"{x:.1e}" if x < 0.001 else f"{x:.4f}"


def _rate(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def psi_rows(records: list[FeaturePsi]) -> list[dict[str, Any]]:
    return [
        {
            "feature": r.feature,
            "kind": r.kind,
            "slice": slice_label(r.slice),
            "psi": r.psi,
            "p_value": r.p_value,
            "q_value": r.q_value,
            "critical_psi": r.critical_psi,
            "status": r.status,
            "reference_rows": r.reference_rows,
            "live_rows": r.live_rows,
            "reference_null_rate": r.reference_null_rate,
            "live_null_rate": r.live_null_rate,
            "reference_scope": r.reference_scope,
        }
        for r in records
    ]


def psi_csv(report: PsiReport) -> str:
    schema = {
        "feature": pl.String,
        "kind": pl.String,
        "slice": pl.String,
        "psi": pl.Float64,
        "p_value": pl.Float64,
        "q_value": pl.Float64,
        "critical_psi": pl.Float64,
        "status": pl.String,
        "reference_rows": pl.Int64,
        "live_rows": pl.Int64,
        "reference_null_rate": pl.Float64,
        "live_null_rate": pl.Float64,
        "reference_scope": pl.String,
    }
    df = pl.DataFrame(psi_rows(report.features), schema=schema).with_columns(
        pl.col(c).map_elements(csv_text, return_dtype=pl.String) for c in ("feature", "slice")
    )
    buf = io.StringIO()
    df.write_csv(buf)
    return buf.getvalue()


def psi_markdown(report: PsiReport) -> str:
    s = report.settings
    lines = [
        "## PSI audit",
        "",
        f"Live `{_md_escape(report.live)}` vs reference `{_md_escape(report.reference)}` — "
        f"{report.count('drifted')} drifted, {report.count('watch')} watch, "
        f"{report.count('ok')} ok, {report.count('too_few_rows')} too few rows "
        f"(threshold {s['threshold']}, BH α={s['alpha']} across {len(report.features)} tests).",
        "",
        "| feature | slice | kind | PSI | p | critical PSI | status | null ref → live |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for r in report.features:
        lines.append(
            f"| {_md_escape(r.feature)} | {_md_escape(slice_label(r.slice))} | {r.kind} | "
            f"{_num(r.psi)} | {_p(r.p_value)} | {_num(r.critical_psi)} | {r.status} | "
            f"{_rate(r.reference_null_rate)} → {_rate(r.live_null_rate)} |"
        )
    for w in report.warnings:
        lines.append("")
        lines.append(f"> warning: {_md_escape(w)}")
    lines += roles_markdown(report.roles)
    return "\n".join(lines) + "\n"

"""Renderings of a shadow comparison (``mlfail shadow``)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlfail._version import __version__
from mlfail.report.jsonout import dumps
from mlfail.shadow import ModelComparison, ShadowReport


def _s(sl: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sl.items()) if sl else "all rows"


def _f(x: float | None, fmt: str = ".4f") -> str:
    return "" if x is None else format(x, fmt)


def shadow_data(r: ShadowReport) -> dict[str, Any]:
    return {
        "schema_version": r.schema_version,
        "mlfail_version": __version__,
        "live": r.live,
        "current": r.current,
        "candidate": r.candidate,
        "verdict": r.verdict,
        "reasons": r.reasons,
        "settings": r.settings,
        "overall": r.overall,
        "slices": r.slices,
        "warnings": r.warnings,
    }


def shadow_json(r: ShadowReport) -> str:
    return dumps(shadow_data(r))


def _row(c: ModelComparison) -> list[str | Text]:
    style = "red" if c.significant_worse else ("green" if c.significant_better else "")
    return [
        _s(c.slice),
        str(c.rows),
        str(c.labelled_rows),
        _f(c.agreement, ".1%"),
        _f(c.output_psi, ".3f"),
        _f(c.mean_current),
        _f(c.mean_candidate),
        _f(c.current),
        _f(c.candidate),
        Text(_f(c.delta, "+.4f"), style=style),
        _f(c.q_value, ".2g"),
    ]


def render_shadow(r: ShadowReport, console: Console, *, max_rows: int = 25) -> None:
    style = "bold green" if r.verdict == "promote" else "bold red"
    console.print(
        Text.assemble(
            ("Shadow  ", "bold"),
            ("current ", "dim"),
            r.current,
            ("  vs  candidate ", "dim"),
            r.candidate,
            ("  on ", "dim"),
            r.live,
        )
    )
    console.print(Text.assemble(("verdict: ", "bold"), (r.verdict.upper(), style)))
    for reason in r.reasons:
        console.print(Text.assemble(("  • ", "dim"), reason))
    metric = r.overall.metric or "metric"
    t = Table(header_style="bold")
    for col in (
        "slice",
        "rows",
        "labelled",
        "agree",
        "out PSI",
        "mean cur",
        "mean cand",
        f"cur {metric}",
        f"cand {metric}",
        "Δ",
        "q",
    ):
        t.add_column(col, justify="left" if col == "slice" else "right", no_wrap=True)
    t.add_row(*_row(r.overall))
    for c in r.slices[:max_rows]:
        t.add_row(*_row(c))
    console.print(t)
    if r.overall.current_auc is not None:
        console.print(
            f"AUC current {r.overall.current_auc:.4f} → candidate "
            f"{r.overall.candidate_auc or 0:.4f}"
        )


def shadow_markdown(r: ShadowReport) -> str:
    lines = [
        f"## Shadow test: **{r.verdict.upper()}**",
        "",
        f"Current `{r.current}` vs candidate `{r.candidate}` on `{r.live}`.",
        "",
    ]
    lines += [f"- {x}" for x in r.reasons]
    lines += [
        "",
        "| slice | rows | agreement | output PSI | current | candidate | Δ | q |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in [r.overall, *r.slices]:
        lines.append(
            f"| {_s(c.slice)} | {c.rows} | {_f(c.agreement, '.1%')} | "
            f"{_f(c.output_psi, '.3f')} | {_f(c.current)} | {_f(c.candidate)} | "
            f"{_f(c.delta, '+.4f')} | {_f(c.q_value, '.2g')} |"
        )
    return "\n".join(lines) + "\n"

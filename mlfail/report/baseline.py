"""``mlfail baseline show``: a saved baseline, readably (Rich)."""

from __future__ import annotations

import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mlfail.baseline import QUANTILE_LEVELS, Baseline, level_key
from mlfail.counts import dense
from mlfail.report.roles_render import roles_human


def _g(x: float | None) -> str:
    return "" if x is None else f"{x:.4g}".replace("e+0", "e").replace("e-0", "e-")


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def render_baseline(b: Baseline, console: Console, *, top_categories: int = 4) -> None:
    _header(b, console)
    _numeric_tables(b, console)
    _categorical_table(b, console, top_categories)
    _prediction_table(b, console)
    if b.task is not None:
        for keys in [(), *((s,) for s in b.segments)]:
            perf = b.performance(keys)
            if perf is None:
                continue
            _perf_table(perf, list(keys), b, console)


def _header(b: Baseline, console: Console) -> None:
    """Where the baseline came from and how it was built."""
    src = ", ".join(f"{s['spec']} ({s['files']} file(s), {s['bytes']} bytes)" for s in b.sources)
    console.print(Text("Baseline  ", style="bold") + Text(b.path or ""))
    info = Table.grid(padding=(0, 2))
    info.add_column(style="dim")
    info.add_column()
    r = b.roles
    for k, v in (
        ("source", src),
        ("rows", str(b.rows)),
        ("created", f"{b.created_at} by mlfail {b.mlfail_version}"),
        ("content hash", b.content_hash),
        (
            "roles",
            ", ".join(
                f"{name}={val}"
                for name, val in (
                    ("timestamp", r.timestamp),
                    ("label", r.label),
                    ("prediction", r.prediction),
                    ("meta", ",".join(r.meta)),
                )
                if val
            )
            or "none",
        ),
        ("segments", ", ".join(b.segments) or "none"),
        ("bins", ", ".join(f"{k}={v}" for k, v in b.bin_settings.items())),
        ("approximate", ", ".join(b.approximate) or "nothing (built from data)"),
        ("not profiled", "; ".join(b.skipped) or "nothing"),
    ):
        info.add_row(k, escape(v))
    console.print(info)
    roles_human(b.roles.assignment, console)


def _numeric_tables(b: Baseline, console: Console) -> None:
    """Numeric features' moments, then their quantiles (marked when estimated)."""
    num = [s for s in b.specs if b.stats[s.feature].numeric]
    if num:
        t = Table(title="Numeric features", title_justify="left", header_style="bold")
        t.add_column("feature", no_wrap=True)
        for col in ("kind", "dtype", "null", "min", "mean", "std", "max"):
            t.add_column(col, justify="left" if col in ("kind", "dtype") else "right", no_wrap=True)
        q = Table(
            title="Quantiles (linear interpolation)", title_justify="left", header_style="bold"
        )
        q.add_column("feature", no_wrap=True)
        for lv in QUANTILE_LEVELS:
            q.add_column(f"p{round(100 * lv)}", justify="right", no_wrap=True)
        for s in num:
            st = b.stats[s.feature]
            t.add_row(
                Text(s.feature, style="bold"),
                s.kind,
                st.dtype,
                _pct(st.null_rate),
                _g(st.min),
                _g(st.mean),
                _g(st.std),
                _g(st.max),
            )
            mark = "" if st.quantiles_exact else "≈"
            qs = [_g(st.quantiles.get(level_key(lv))) for lv in QUANTILE_LEVELS]
            q.add_row(Text(s.feature, style="bold"), *(mark + x if x else x for x in qs))
        console.print(t)
        console.print(q)
        if any(not b.stats[s.feature].quantiles_exact for s in num):
            console.print(
                "[dim]≈ estimated from merged bin counts; each lies within the "
                "quantile_bounds stored in the file[/dim]"
            )


def _categorical_table(b: Baseline, console: Console, top_categories: int) -> None:
    cat = [s for s in b.specs if not b.stats[s.feature].numeric]
    if cat:
        t = Table(title="Categorical features", title_justify="left", header_style="bold")
        for c in ("feature", "dtype", "null", "distinct", "top categories (share)"):
            t.add_column(c, no_wrap=c != "top categories (share)")
        for s in cat:
            st = b.stats[s.feature]
            nonnull = max(st.rows - st.nulls, 1)
            top = sorted(st.frequencies.items(), key=lambda kv: (-kv[1], kv[0]))[:top_categories]
            shown = ", ".join(f"{k} {100 * v / nonnull:.0f}%" for k, v in top)
            t.add_row(
                Text(s.feature, style="bold"),
                st.dtype,
                _pct(st.null_rate),
                str(st.distinct) if st.distinct is not None else f">{len(st.frequencies)}",
                escape(shown),
            )
        console.print(t)


def _prediction_table(b: Baseline, console: Console) -> None:
    if b.prediction_spec is not None:
        ps = b.prediction_spec
        counts = dense(b.tables[()], ps)
        total = max(int(counts.sum()), 1)
        t = Table(
            title=f"Prediction distribution ({ps.feature})",
            title_justify="left",
            header_style="bold",
        )
        t.add_column("bin", no_wrap=True)
        t.add_column("share", justify="right")
        for label, n in zip(ps.labels(), counts.tolist(), strict=True):
            if n:
                t.add_row(label, f"{100 * n / total:.1f}%")
        console.print(t)


def _perf_table(perf: pl.DataFrame, keys: list[str], b: Baseline, console: Console) -> None:
    assert b.task is not None
    title = "Reference performance" + (f" by {', '.join(keys)}" if keys else " (all rows)")
    t = Table(title=title, title_justify="left", header_style="bold")
    metrics = [
        c
        for c in ("accuracy", "auc", "mae", "mean_score")
        if c in perf.columns and perf[c].null_count() < perf.height
    ]
    for c in [*keys, "rows", "labelled", *metrics]:
        t.add_column(c, justify="left" if c in keys else "right", no_wrap=True)
    for row in perf.iter_rows(named=True):
        cells = [str(row[k]) for k in keys]
        cells += [str(row["rows"]), str(row["labelled"])]
        cells += [_g(row[m]) for m in metrics]
        t.add_row(*cells)
    console.print(t)

"""Step 7 — shadow scoring (``mlfail shadow``): compare the current model's outputs with a
candidate's on the same live rows before promoting the candidate.

* Output-distribution PSI, candidate vs current, with bins frozen on the current model's
  outputs (quantile bins, as for any numeric feature) — counted in one pass with the slices.
* Agreement: share of rows where both models decide the same (scores thresholded at
  ``threshold``; classes compared as-is).
* With labels: each model's metric (accuracy + AUC, or MAE), and a **paired** test of the
  difference — McNemar's exact test on the discordant pairs for accuracy (SciPy ``binomtest``),
  a paired t-test of absolute errors for MAE — globally and per segment value, BH across all.
* Verdict: ``hold`` when the candidate is significantly worse globally or on any segment with
  enough labelled rows, or — with no labels — when its outputs moved more than the PSI threshold
  (nothing can vouch for such a change); ``promote`` otherwise, with the reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import polars as pl

from mlfail.binning import BinSettings, BinSpec, build_specs
from mlfail.counts import count_frame, dense
from mlfail.errors import InputError, UsageError
from mlfail.io import Source
from mlfail.performance import TaskSpec, infer_task
from mlfail.psi import PsiSettings, assess_feature, bh_adjust

SHADOW_SCHEMA_VERSION = 1
CAND = "__mlfail_candidate"


@dataclass
class ModelComparison:
    slice: dict[str, Any] | None
    rows: int
    labelled_rows: int
    agreement: float | None
    output_psi: float | None
    mean_current: float | None
    mean_candidate: float | None
    metric: str | None
    current: float | None
    candidate: float | None
    delta: float | None  # candidate − current, in "better is positive" terms
    p_value: float | None
    q_value: float | None = None
    significant_worse: bool = False
    significant_better: bool = False
    current_auc: float | None = None
    candidate_auc: float | None = None


@dataclass
class ShadowReport:
    live: str
    current: str
    candidate: str
    verdict: Literal["promote", "hold"]
    reasons: list[str]
    overall: ModelComparison
    slices: list[ModelComparison]
    settings: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    schema_version: int = SHADOW_SCHEMA_VERSION


def _auc(y: np.ndarray, s: np.ndarray) -> float | None:
    from scipy import stats  # lazy: scipy.stats costs ~0.8 s to import

    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return None
    u = stats.mannwhitneyu(pos, neg).statistic
    return float(u / (len(pos) * len(neg)))


def shadow(
    live: Source,
    current: str,
    candidate: str,
    *,
    label: str | None = None,
    segments: Sequence[str] = (),
    candidate_source: Source | None = None,
    id_column: str | None = None,
    task: Literal["classification", "regression"] | None = None,
    threshold: float = 0.5,
    psi: PsiSettings | None = None,
    min_rows: int = 30,
) -> ShadowReport:
    """Compare ``candidate`` outputs with ``current`` outputs on the live rows."""
    ps = psi or PsiSettings()
    live.require([current], "--current-prediction")
    live.require(segments, "--segment")
    if label:
        live.require([label], "--label")
    origin = f"--live {live.spec}"
    lf, cand_name = _paired_rows(live, current, candidate, candidate_source, id_column)
    schema = lf.collect_schema()
    if schema[current].is_numeric() != schema[CAND].is_numeric():
        raise UsageError(
            f"--current-prediction {current} ({schema[current]}) and --candidate-prediction "
            f"{candidate} ({schema[CAND]}) must both be scores or both be classes"
        )

    # output distribution: bins frozen on the current model's outputs, one pass for all keys
    spec_cur = build_specs(
        lf,
        [current],
        settings=BinSettings(),
        explicit=True,
        numeric=[current] if schema[current].is_numeric() else (),
    )[0]
    spec_cand = replace(spec_cur, feature=CAND, _labels=())
    seg = list(segments)
    table = count_frame(lf, [spec_cur, spec_cand], seg)

    # paired per-row quantities, aggregated by segment (no row loop in Python)
    tspec: TaskSpec | None = None
    if label:
        tspec = infer_task(
            schema, label, current, task=task, threshold=threshold, data=lf, origin=origin
        )
    aggs = _paired_aggregates(schema, current, tspec, threshold)
    groups: list[list[str]] = [[]] + [[s] for s in seg]
    comps: list[ModelComparison] = []
    for keys in groups:
        agg = (lf.group_by(keys).agg(aggs) if keys else lf.select(aggs)).collect(engine="streaming")
        for row in agg.iter_rows(named=True):
            sl = {k: row[k] for k in keys} or None
            comps.append(_compare(row, sl, table, spec_cur, spec_cand, keys, tspec, ps))
    if tspec is not None and tspec.has_auc:
        _add_auc(lf, label or "", current, comps[0])
    _paired_tests(comps, ps, min_rows)
    overall, slices = comps[0], comps[1:]
    slices.sort(key=lambda c: (c.delta if c.delta is not None else 0.0, -(c.output_psi or 0)))
    verdict, reasons = _verdict(overall, slices, tspec, ps)
    return ShadowReport(
        live=live.spec,
        current=current,
        candidate=cand_name,
        verdict=verdict,
        reasons=reasons,
        overall=overall,
        slices=slices,
        settings={
            "threshold": threshold,
            "psi_threshold": ps.threshold,
            "alpha": ps.alpha,
            "min_rows": min_rows,
            "task": tspec.task if tspec else None,
        },
    )


def _paired_rows(
    live: Source,
    current: str,
    candidate: str,
    candidate_source: Source | None,
    id_column: str | None,
) -> tuple[pl.LazyFrame, str]:
    """The live rows with the candidate's output as column ``CAND`` (joined on ``id_column``
    from ``candidate_source`` when given: each id must appear once there), and its name."""
    lf = live.lf
    cand_name = candidate
    if candidate_source is not None:
        if not id_column:
            raise UsageError("--candidate-source needs --id: the column that joins the two files")
        live.require([id_column], "--id")
        candidate_source.require([id_column], "--id")
        candidate_source.require([candidate], "--candidate-prediction")
        dup = (
            candidate_source.lf.group_by(id_column)
            .agg(pl.len().alias("n"))
            .filter(pl.col("n") > 1)
            .head(1)
            .collect()
        )
        if dup.height:
            raise InputError(
                f"--candidate-source {candidate_source.spec}: duplicate {id_column} "
                f"{dup[id_column][0]!r} ({dup['n'][0]} rows); each --id must appear once, or "
                "the join would count live rows twice"
            )
        right = candidate_source.lf.select(pl.col(id_column), pl.col(candidate).alias(CAND))
        lf = lf.join(right, on=id_column, how="inner")
        cand_name = f"{candidate} ({candidate_source.spec})"
    else:
        live.require([candidate], "--candidate-prediction")
        if candidate == current:
            raise UsageError("--candidate-prediction names the same column as --current-prediction")
        lf = lf.with_columns(pl.col(candidate).alias(CAND))
    return lf, cand_name


def _paired_aggregates(
    schema: pl.Schema, current: str, tspec: TaskSpec | None, threshold: float
) -> list[pl.Expr]:
    """Per group: rows, agreement, mean outputs and — with labels — each model's hits and the
    discordant pairs (classification) or absolute errors and their paired difference (MAE)."""
    score = schema[current].is_numeric() and (tspec is None or tspec.task == "classification")
    if score and not schema[current].is_float() and tspec is None:
        score = False
    if tspec is not None and tspec.task == "regression":
        decide_cur, decide_cand = pl.col(current), pl.col(CAND)
    elif score:
        decide_cur = pl.col(current) >= threshold
        decide_cand = pl.col(CAND) >= threshold
    else:
        decide_cur, decide_cand = pl.col(current).cast(pl.String), pl.col(CAND).cast(pl.String)
    aggs = [
        pl.len().alias("rows"),
        (decide_cur == decide_cand).sum().alias("agree"),
        (
            pl.col(current).cast(pl.Float64, strict=False).mean()
            if score or tspec
            else pl.lit(None, dtype=pl.Float64)
        ).alias("mean_cur"),
        (
            pl.col(CAND).cast(pl.Float64, strict=False).mean()
            if score or tspec
            else pl.lit(None, dtype=pl.Float64)
        ).alias("mean_cand"),
    ]
    if tspec is not None:
        y = pl.col(tspec.label)
        lab = y.is_not_null()
        aggs.append(lab.sum().alias("labelled"))
        if tspec.task == "classification":
            truth = (y.cast(pl.Float64) >= 0.5) if score else y.cast(pl.String)
            ok_cur = (decide_cur == truth) & lab
            ok_cand = (decide_cand == truth) & lab
            aggs += [
                ok_cur.sum().alias("ok_cur"),
                ok_cand.sum().alias("ok_cand"),
                (ok_cur & ~ok_cand).sum().alias("only_cur"),
                (ok_cand & ~ok_cur).sum().alias("only_cand"),
            ]
        else:
            e_cur = (y.cast(pl.Float64) - pl.col(current).cast(pl.Float64)).abs()
            e_cand = (y.cast(pl.Float64) - pl.col(CAND).cast(pl.Float64)).abs()
            d = (e_cand - e_cur).filter(lab)
            aggs += [
                e_cur.filter(lab).mean().alias("mae_cur"),
                e_cand.filter(lab).mean().alias("mae_cand"),
                d.mean().alias("d_mean"),
                d.std().alias("d_std"),
            ]
    return aggs


def _paired_tests(comps: list[ModelComparison], ps: PsiSettings, min_rows: int) -> None:
    """BH across the paired tests — the global one and each segment value with at least
    ``min_rows`` labelled rows — and which comparisons are significantly worse or better."""
    tested = [
        c
        for c in comps
        if c.p_value is not None and (c.slice is None or c.labelled_rows >= min_rows)
    ]
    q = bh_adjust([c.p_value for c in tested if c.p_value is not None])
    for c, qv in zip(tested, q, strict=True):
        c.q_value = float(qv)
        c.significant_worse = bool(qv <= ps.alpha and (c.delta or 0) < 0)
        c.significant_better = bool(qv <= ps.alpha and (c.delta or 0) > 0)


def _compare(
    row: dict[str, Any],
    sl: dict[str, Any] | None,
    table: pl.DataFrame,
    spec_cur: BinSpec,
    spec_cand: BinSpec,
    keys: list[str],
    tspec: TaskSpec | None,
    ps: PsiSettings,
) -> ModelComparison:
    from scipy import stats  # lazy: scipy.stats costs ~0.8 s to import

    t = table
    for k in keys:
        t = t.filter(pl.col(k) == row[k] if row[k] is not None else pl.col(k).is_null())
    out_psi = assess_feature(spec_cur, dense(t, spec_cur), dense(t, spec_cand), ps).psi
    rows = int(row["rows"])
    comp = ModelComparison(
        slice=sl,
        rows=rows,
        labelled_rows=int(row.get("labelled") or 0),
        agreement=row["agree"] / rows if rows else None,
        output_psi=out_psi,
        mean_current=row["mean_cur"],
        mean_candidate=row["mean_cand"],
        metric=None,
        current=None,
        candidate=None,
        delta=None,
        p_value=None,
    )
    if tspec is None or not comp.labelled_rows:
        return comp
    n = comp.labelled_rows
    if tspec.task == "classification":
        comp.metric = "accuracy"
        comp.current, comp.candidate = row["ok_cur"] / n, row["ok_cand"] / n
        comp.delta = comp.candidate - comp.current
        b, c = int(row["only_cur"]), int(row["only_cand"])
        comp.p_value = float(stats.binomtest(c, b + c, 0.5).pvalue) if b + c else 1.0
    else:
        comp.metric = "mae"
        comp.current, comp.candidate = row["mae_cur"], row["mae_cand"]
        comp.delta = comp.current - comp.candidate  # lower MAE is better
        sd = row["d_std"]
        if sd is not None and sd > 0 and n > 1:
            t_stat = row["d_mean"] / (sd / np.sqrt(n))
            comp.p_value = float(2 * stats.t.sf(abs(t_stat), n - 1))
        else:
            comp.p_value = 1.0 if (row["d_mean"] or 0) == 0 else 0.0
    return comp


def _add_auc(lf: pl.LazyFrame, label: str, current: str, comp: ModelComparison) -> None:
    df = (
        lf.filter(pl.col(label).is_not_null())
        .select(
            pl.col(label).cast(pl.Float64),
            pl.col(current).cast(pl.Float64),
            pl.col(CAND).cast(pl.Float64),
        )
        .collect(engine="streaming")
    )
    y = (df[label].to_numpy() >= 0.5).astype(int)
    comp.current_auc = _auc(y, df[current].to_numpy())
    comp.candidate_auc = _auc(y, df[CAND].to_numpy())


def _fmt_slice(s: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in s.items()) if s else "all rows"


def _verdict(
    overall: ModelComparison, slices: list[ModelComparison], tspec: TaskSpec | None, ps: PsiSettings
) -> tuple[Literal["promote", "hold"], list[str]]:
    reasons: list[str] = []
    hold = False
    if tspec is not None and overall.labelled_rows:
        worse = [c for c in [overall, *slices] if c.significant_worse]
        for c in worse:
            hold = True
            reasons.append(
                f"candidate is worse on {_fmt_slice(c.slice)}: {c.metric} "
                f"{c.candidate:.4g} vs {c.current:.4g} (paired test q={c.q_value:.2g})"
            )
        if not worse:
            better = [c for c in [overall, *slices] if c.significant_better]
            reasons.append(
                f"no segment is significantly worse; overall {overall.metric} "
                f"{overall.candidate:.4g} vs {overall.current:.4g}"
                + (
                    f"; better on {', '.join(_fmt_slice(c.slice) for c in better[:3])}"
                    if better
                    else ""
                )
            )
    else:
        if overall.output_psi is not None and overall.output_psi >= ps.threshold:
            hold = True
            reasons.append(
                f"no labels, and the candidate's outputs moved too far to promote "
                f"blind (output PSI {overall.output_psi:.3f} ≥ {ps.threshold})"
            )
        else:
            reasons.append(
                f"no labels: judged on outputs only (output PSI "
                f"{overall.output_psi or 0:.3f}, agreement "
                f"{(overall.agreement or 0):.1%}); confirm once labels arrive"
            )
    return ("hold" if hold else "promote"), reasons

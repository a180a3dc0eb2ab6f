"""Model performance aggregates by key (the label-metric twin of the count tables).

One ``group_by(keys).agg`` pass over the rows that carry a prediction gives, per key group:

``rows`` (all rows), ``labelled`` (rows whose label is not null), and for classification
``errors`` (labelled rows whose predicted class differs from the label), ``positives``
(labelled rows with label 1/True), ``auc`` (exact, via the Mann–Whitney rank sum, when the
prediction is a score and the group has both classes); for regression ``abs_error_sum`` and
``mae``. ``mean_score`` is the mean prediction over all rows (labelled or not). ``rows``,
``labelled``, ``errors``, ``positives`` and ``abs_error_sum`` are additive (mergeable by sum);
``auc`` is not and is recomputed from rows.

Rows whose label is null are "unlabelled": they count in ``rows`` and ``mean_score`` and in
nothing else — a day without labels yet is never read as a day of zero accuracy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, ParamSpec, TypeVar

import polars as pl

from mlfail.counts import collect_each
from mlfail.errors import UsageError

P = ParamSpec("P")
R = TypeVar("R")

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class TaskSpec:
    """How labels and predictions are compared."""

    task: Task
    label: str
    prediction: str
    threshold: float = 0.5
    is_score: bool = True  # classification: prediction is a probability/score, thresholded

    @property
    def metric(self) -> str:
        return "accuracy" if self.task == "classification" else "mae"

    @property
    def higher_is_better(self) -> bool:
        return self.task == "classification"

    @property
    def has_auc(self) -> bool:
        """A classification on a score: ranked for an AUC (a class prediction is not)."""
        return self.task == "classification" and self.is_score


def infer_task(
    schema: pl.Schema,
    label: str,
    prediction: str,
    *,
    task: Task | None = None,
    threshold: float = 0.5,
    data: pl.LazyFrame | None = None,
    origin: str = "",
) -> TaskSpec:
    """Classification unless told otherwise; a float prediction is a score thresholded at
    ``threshold``; an integer/string/boolean prediction is a class compared as-is.

    With ``data`` the values are checked too (one scan of two columns, see
    :func:`check_values`): labels a score is compared with must be 0/1, and a score outside
    [0, 1] needs an explicit ``--threshold`` on its own scale."""
    for flag, col in (("--label", label), ("--prediction", prediction)):
        if col not in schema:
            raise UsageError(f"{flag} {col}: no such column")
    pdt = schema[prediction]
    if task == "regression":
        if not (pdt.is_numeric() and schema[label].is_numeric()):
            raise UsageError(
                f"--task regression needs numeric --label and --prediction ({label}: "
                f"{schema[label]}, {prediction}: {pdt})"
            )
        return TaskSpec("regression", label, prediction, threshold, is_score=False)
    spec = TaskSpec("classification", label, prediction, threshold, is_score=pdt.is_float())
    if data is not None:
        check_values(data, schema, spec, origin)
    elif not 0 < threshold < 1:
        raise UsageError(f"--threshold must be in (0, 1) (got {threshold})")
    return spec


# Inside :func:`values_checked_once` (one command's walk), the (origin, label, prediction,
# threshold) combinations whose values already passed: each source is checked once.
_CHECKED: list[set[tuple[str, str, str, float]]] = []


@contextmanager
def values_checked_once() -> Iterator[None]:
    """Within the block, :func:`check_values` reads each source's label and score once: the
    walk's steps infer the task on the same data several times (timeline, slices, root cause)."""
    _CHECKED.append(set())
    try:
        yield
    finally:
        _CHECKED.pop()


def values_once(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` run inside :func:`values_checked_once`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with values_checked_once():
            return fn(*args, **kwargs)

    return wrapper


def check_values(lf: pl.LazyFrame, schema: pl.Schema, spec: TaskSpec, origin: str = "") -> None:
    """Refuse label and score values a classification would silently misread.

    * A thresholded score is compared with labels 0/1 (or true/false): a label 2, or text
      such as "yes", is an error naming the values (pass --task regression for a numeric
      target, or map the labels).
    * Scores inside [0, 1] are probabilities: the threshold must lie in (0, 1).
    * Scores outside [0, 1] (logits, margins) have no default threshold: 0.5 would be a
      silently wrong cut, so --threshold must be given on the score's own scale.
    """
    if spec.task != "classification" or not spec.is_score:
        return
    key = (origin, spec.label, spec.prediction, spec.threshold)
    if origin and _CHECKED and key in _CHECKED[-1]:
        return
    _check_values(lf, schema, spec, origin)
    if origin and _CHECKED:
        _CHECKED[-1].add(key)


def _check_values(lf: pl.LazyFrame, schema: pl.Schema, spec: TaskSpec, origin: str) -> None:
    where = f" in {origin}" if origin else ""
    ldt = schema[spec.label]
    if ldt == pl.String or isinstance(ldt, pl.Categorical | pl.Enum):
        seen = lf.select(pl.col(spec.label).drop_nulls().unique().head(4).implode()).collect()
        shown = ", ".join(repr(v) for v in sorted(map(str, seen.item())))
        raise UsageError(
            f"--label {spec.label}: text values ({shown}){where}; a score is compared with "
            "0/1 labels — map them to 0/1 (or true/false)"
        )
    y, p = pl.col(spec.label), pl.col(spec.prediction)
    ok_label = y.cast(pl.Float64).is_in([0.0, 1.0]) if ldt != pl.Boolean else pl.lit(True)
    stats = lf.select(
        y.filter(y.is_not_null() & ~ok_label).unique().sort().head(5).implode().alias("bad"),
        p.filter(p.is_finite()).min().alias("lo"),
        p.filter(p.is_finite()).max().alias("hi"),
    ).collect()
    bad = stats["bad"].item().to_list()
    if bad:
        shown = ", ".join(str(v) for v in bad)
        raise UsageError(
            f"--label {spec.label}: values other than 0/1 ({shown}){where}; a thresholded "
            "score needs a binary label — for a numeric target pass --task regression"
        )
    lo, hi = stats["lo"].item(), stats["hi"].item()
    if lo is None:
        return
    if lo >= 0 and hi <= 1:
        if not 0 < spec.threshold < 1:
            raise UsageError(
                f"--threshold {spec.threshold}: --prediction {spec.prediction} is a probability "
                "in [0, 1], so the threshold must lie in (0, 1)"
            )
    elif spec.threshold == 0.5:
        raise UsageError(
            f"--prediction {spec.prediction}: scores run from {lo:.4g} to {hi:.4g}{where}, "
            "outside [0, 1], so they are not probabilities and the default --threshold 0.5 "
            "would cut them arbitrarily; pass --threshold on their scale (0 for logits) or "
            "--task regression"
        )


def predicted_class(spec: TaskSpec) -> pl.Expr:
    p = pl.col(spec.prediction)
    if spec.is_score:
        return (p >= spec.threshold).cast(pl.Int64)
    return p


def is_error(spec: TaskSpec) -> pl.Expr:
    """1 for a labelled misclassified row, 0 for a labelled correct row, null if unlabelled."""
    y = pl.col(spec.label)
    if spec.is_score:
        truth = y.cast(pl.Float64) >= 0.5
        pred = pl.col(spec.prediction) >= spec.threshold
        return (truth != pred).cast(pl.Int64)
    return (pl.col(spec.prediction).cast(pl.String) != y.cast(pl.String)).cast(pl.Int64)


def _labelled(spec: TaskSpec) -> pl.Expr:
    return pl.col(spec.label).is_not_null() & pl.col(spec.prediction).is_not_null()


def _abs_error(spec: TaskSpec) -> pl.Expr:
    return (pl.col(spec.label).cast(pl.Float64) - pl.col(spec.prediction).cast(pl.Float64)).abs()


def _truth(spec: TaskSpec) -> pl.Expr:
    y = pl.col(spec.label)
    return y.cast(pl.Float64) >= 0.5 if spec.is_score else y.cast(pl.String) == "1"


def _has_mean_score(spec: TaskSpec) -> bool:
    return spec.is_score or spec.task == "regression"


def metric_aggs(spec: TaskSpec, *, auc: bool = True) -> list[pl.Expr]:
    y = pl.col(spec.label)
    labelled = _labelled(spec)
    aggs = [
        pl.len().alias("rows"),
        labelled.sum().cast(pl.Int64).alias("labelled"),
        pl.col(spec.prediction).cast(pl.Float64, strict=False).mean().alias("mean_score")
        if _has_mean_score(spec)
        else pl.lit(None, dtype=pl.Float64).alias("mean_score"),
    ]
    if spec.task == "regression":
        aggs.append(_abs_error(spec).filter(labelled).sum().alias("abs_error_sum"))
        return aggs
    aggs.append(is_error(spec).filter(labelled).sum().cast(pl.Int64).alias("errors"))
    aggs.append(_truth(spec).filter(labelled).sum().cast(pl.Int64).alias("positives"))
    if spec.is_score and auc:
        score = pl.col(spec.prediction).cast(pl.Float64).filter(labelled)
        pos = (y.cast(pl.Float64) >= 0.5).filter(labelled)
        ranks = score.rank("average")
        aggs.append(ranks.filter(pos).sum().alias("_rank_pos"))
    return aggs


SCORE_SUM, SCORE_N = "__mean_score_sum", "__mean_score_n"  # metric_rows' parts of mean_score


def metric_rows(spec: TaskSpec) -> list[pl.Expr]:
    """Per-row Float64 measures whose sums over a group are :func:`metric_aggs`' additive
    columns — ``labelled``, then ``errors`` and ``positives`` (classification) or
    ``abs_error_sum`` (regression) — and, where there is a mean score, its sum and count
    (``SCORE_SUM`` / ``SCORE_N``): for a caller that sums them itself (``np.bincount``)."""
    labelled = _labelled(spec)
    out = [labelled.cast(pl.Float64).alias("labelled")]
    if _has_mean_score(spec):
        s = pl.col(spec.prediction).cast(pl.Float64, strict=False)
        out += [s.fill_null(0.0).alias(SCORE_SUM), s.is_not_null().cast(pl.Float64).alias(SCORE_N)]
    if spec.task == "regression":
        err = pl.when(labelled).then(_abs_error(spec)).otherwise(0.0).fill_null(0.0)
        return [*out, err.alias("abs_error_sum")]
    for name, e in (("errors", is_error(spec) == 1), ("positives", _truth(spec))):
        out.append(
            pl.when(labelled).then(e).otherwise(False).fill_null(False).cast(pl.Float64).alias(name)
        )
    return out


def performance_table(
    lf: pl.LazyFrame, spec: TaskSpec, keys: Sequence[str | pl.Expr] = (), *, auc: bool = True
) -> pl.DataFrame:
    """Per key group: rows, labelled, errors/positives/auc (classification) or abs_error_sum
    (regression), the metric (accuracy or mae) and mean_score. Keys may be expressions.
    ``auc=False`` skips the AUC (a rank per group: the costly part on big data)."""
    return performance_tables(lf, spec, [keys], auc=auc)[0]


def performance_tables(
    lf: pl.LazyFrame,
    spec: TaskSpec,
    key_sets: Sequence[Sequence[str | pl.Expr]],
    *,
    auc: bool = True,
) -> list[pl.DataFrame]:
    """:func:`performance_table` for several key sets, collected together (Polars runs the
    queries side by side instead of one after the other)."""
    aggs = metric_aggs(spec, auc=auc)
    queries = [lf.group_by(list(k)).agg(aggs) if k else lf.select(aggs) for k in key_sets]
    if not queries:
        return []
    frames = collect_each(queries)
    return [finish(df, spec) for df in frames]


def finish(df: pl.DataFrame, spec: TaskSpec) -> pl.DataFrame:
    """Derive the metric columns from the additive ones."""
    lab = pl.col("labelled")
    if spec.task == "regression":
        return df.with_columns(
            pl.when(lab > 0).then(pl.col("abs_error_sum") / lab).alias("mae"),
        )
    out = df.with_columns(
        pl.when(lab > 0).then(1 - pl.col("errors") / lab).alias("accuracy"),
        pl.when(lab > 0).then(pl.col("errors") / lab).alias("error_rate"),
    )
    if "_rank_pos" in out.columns:
        npos = pl.col("positives").cast(pl.Float64)
        nneg = (lab - pl.col("positives")).cast(pl.Float64)
        auc = (pl.col("_rank_pos") - npos * (npos + 1) / 2) / (npos * nneg)
        out = out.with_columns(pl.when((npos > 0) & (nneg > 0)).then(auc).alias("auc")).drop(
            "_rank_pos"
        )
    return out

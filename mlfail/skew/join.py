"""The join of served rows to offline rows on the request id (design §10): key checks, the
lossless reconciliation of id dtypes, join counts and duplicates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from mlfail.errors import InputError, UsageError
from mlfail.io import Source
from mlfail.skew.model import Duplicates, JoinReport

N = "__mlfail_n"
ROW = "__mlfail_row"
MAX_EXAMPLES = 5


def _lossless_common(a: pl.DataType, b: pl.DataType) -> pl.DataType | None:
    """The dtype both sides' ids can be cast to without losing a value, or None."""
    if a == b:
        return a
    if a.is_integer() and b.is_integer():
        sa, sb = a.is_signed_integer(), b.is_signed_integer()
        wa, wb = _bits(a), _bits(b)
        if sa == sb:
            return a if wa >= wb else b
        signed, sw, uw = (a, wa, wb) if sa else (b, wb, wa)
        return signed if sw > uw else None
    stringy = (pl.String, pl.Categorical, pl.Enum)
    if isinstance(a, stringy) and isinstance(b, stringy):
        return pl.String()
    if isinstance(a, pl.Datetime) and isinstance(b, pl.Datetime) and a.time_zone == b.time_zone:
        order = {"ms": 0, "us": 1, "ns": 2}
        return a if order[a.time_unit] >= order[b.time_unit] else b
    return None


def _bits(dt: pl.DataType) -> int:
    return int("".join(ch for ch in str(dt) if ch.isdigit()) or 64)


def check_keys(serving: Source, offline: Source, ids: Sequence[str]) -> dict[str, pl.DataType]:
    """Each id on both sides with dtypes that agree (after a lossless cast); the dtype to
    cast each id to. One-line errors otherwise."""
    if not ids:
        raise UsageError("--id: name the join key column (repeat --id for a composite key)")
    if len(set(ids)) != len(ids):
        raise UsageError(f"--id: a column is named twice in {list(ids)}")
    serving.require(ids, "--id")
    offline.require(ids, "--id")
    out: dict[str, pl.DataType] = {}
    for col in ids:
        a, b = serving.schema[col], offline.schema[col]
        common = _lossless_common(a, b)
        if common is None:
            raise InputError(
                f"--id {col}: dtypes differ ({serving.role} has {a}, {offline.role} has {b}) "
                "and no lossless cast joins them; cast one side to the other's type (e.g. in "
                "a view or when writing the table)"
            )
        out[col] = common
    return out


def keyed(src: Source, casts: dict[str, pl.DataType]) -> pl.LazyFrame:
    """The source's scan with its id columns cast to the common dtypes."""
    exprs = [pl.col(c).cast(t) for c, t in casts.items() if src.schema[c] != t]
    return src.lf.with_columns(exprs) if exprs else src.lf


def _id_counts(lf: pl.LazyFrame, ids: list[str]) -> pl.DataFrame:
    return lf.select(ids).group_by(ids).agg(pl.len().alias(N)).collect(engine="streaming")


def _examples(frame: pl.DataFrame, ids: list[str], n: int) -> list[dict[str, Any]]:
    rows = frame.sort([N, *ids], descending=[True] + [False] * len(ids)).head(n)
    return [{"id": {c: r[c] for c in ids}, "rows": r[N]} for r in rows.iter_rows(named=True)]


def _sample_ids(frame: pl.DataFrame, ids: list[str], n: int = 3) -> str:
    rows = frame.select(ids).sort(ids).head(n).iter_rows()
    return ", ".join(repr(r[0] if len(r) == 1 else r) for r in rows) or "none"


def join_counts(
    serving: pl.LazyFrame,
    offline: pl.LazyFrame,
    ids: list[str],
    *,
    duplicates: Duplicates,
    roles: tuple[str, str] = ("--serving", "--offline"),
) -> tuple[JoinReport, pl.DataFrame, pl.DataFrame]:
    """Rows, matched / one-sided ids and duplicates, from one pass over each side's id
    columns; and each side's duplicated ids (for :func:`first_per_id`). Rows with a null in
    any id join nothing; they are counted apart."""
    sc, oc = _id_counts(serving, ids), _id_counts(offline, ids)
    null_s = sc.filter(pl.any_horizontal(pl.col(ids).is_null()))
    null_o = oc.filter(pl.any_horizontal(pl.col(ids).is_null()))
    sc = sc.filter(pl.all_horizontal(pl.col(ids).is_not_null()))
    oc = oc.filter(pl.all_horizontal(pl.col(ids).is_not_null()))
    both = sc.join(oc, on=ids, how="inner", suffix="_o")
    matched = both.height
    if matched == 0:
        raise InputError(
            f"no {roles[0]} id matches an {roles[1]} id on ({', '.join(ids)}): {roles[0]} ids "
            f"e.g. {_sample_ids(sc, ids)}; {roles[1]} ids e.g. {_sample_ids(oc, ids)}"
        )
    dup_s, dup_o = sc.filter(pl.col(N) > 1), oc.filter(pl.col(N) > 1)
    pairs = matched if duplicates == "first" else int((both[N] * both[f"{N}_o"]).sum())
    report = JoinReport(
        serving_rows=int(sc[N].sum()) + int(null_s[N].sum()),
        offline_rows=int(oc[N].sum()) + int(null_o[N].sum()),
        matched=matched,
        serving_only=sc.height - matched,
        offline_only=oc.height - matched,
        duplicate_ids_serving=dup_s.height,
        duplicate_ids_offline=dup_o.height,
        duplicate_rows_serving=int((dup_s[N] - 1).sum()),
        duplicate_rows_offline=int((dup_o[N] - 1).sum()),
        null_ids_serving=int(null_s[N].sum()),
        null_ids_offline=int(null_o[N].sum()),
        duplicate_examples_serving=_examples(dup_s, ids, MAX_EXAMPLES),
        duplicate_examples_offline=_examples(dup_o, ids, MAX_EXAMPLES),
        compared_duplicates=duplicates,
        pairs=pairs,
    )
    return report, dup_s.select(ids), dup_o.select(ids)


def first_per_id(lf: pl.LazyFrame, ids: list[str], dup_keys: pl.DataFrame | None) -> pl.LazyFrame:
    """The first row (in scan order) of each id. Only the rows of the duplicated ids
    (``dup_keys``, usually few) are deduplicated; the others stream through an anti-join."""
    if dup_keys is None or dup_keys.height == 0:
        return lf
    keys = dup_keys.lazy()
    single = lf.join(keys, on=ids, how="anti")
    firsts = (
        lf.with_row_index(ROW)
        .join(keys, on=ids, how="semi")
        .sort(ROW)
        .unique(subset=ids, keep="first", maintain_order=True)
        .drop(ROW)
    )
    return pl.concat([single, firsts])

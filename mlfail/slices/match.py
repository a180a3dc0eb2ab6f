"""Slices (design §5): each live slice matched with the reference slice it is compared with
(its own, one of its predicates, or the whole reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from mlfail.slices.codes import _col, _slice_dict
from mlfail.slices.model import KEY_COLS, NO_KEY


def match_frame(
    live: pl.DataFrame, ref: pl.DataFrame, ref_weight: np.ndarray, ref_names: set[str]
) -> np.ndarray:
    """For each live slice (a row of ``live``'s key columns), the row of the reference long
    table ``ref`` it is compared with, −1 for none: the same slice when the reference has
    rows of it; else, for two predicates, the one-predicate slice of a column the reference
    has (the smaller one, when both qualify; the first when they tie) — a time cohort, a value
    the reference never saw or a column it lacks is dropped. Joins, not a loop per slice."""
    names = sorted(ref_names)
    r = (
        ref.select(KEY_COLS)
        .with_columns(pl.Series("_w", np.asarray(ref_weight, dtype=float)))
        .with_row_index("_j")
        .filter(pl.col("_w") > 0)
        .unique(KEY_COLS, keep="last", maintain_order=True)
    )
    one = r.filter(pl.col("b_col") == NO_KEY).select(
        pl.col("a_col").alias("_c"), pl.col("a_val").alias("_v"), "_j", "_w"
    )
    a_in, b_in = pl.col("a_col").is_in(names), pl.col("b_col").is_in(names)
    pair = pl.col("b_col") != NO_KEY
    got = (
        live.select(KEY_COLS)
        .with_row_index("_i")
        .join(r.select(*KEY_COLS, pl.col("_j").alias("_je")), on=KEY_COLS, how="left")
        .join(one, left_on=["a_col", "a_val"], right_on=["_c", "_v"], how="left")
        .rename({"_j": "_ja", "_w": "_wa"})
        .join(one, left_on=["b_col", "b_val"], right_on=["_c", "_v"], how="left")
        .rename({"_j": "_jb", "_w": "_wb"})
        .sort("_i")
        .select(
            pl.when(a_in & (~pair | b_in) & pl.col("_je").is_not_null())
            .then(pl.col("_je"))
            .when(pair & a_in & pl.col("_ja").is_not_null())
            .then(
                pl.when(b_in & pl.col("_jb").is_not_null() & (pl.col("_wb") < pl.col("_wa")))
                .then(pl.col("_jb"))
                .otherwise(pl.col("_ja"))
            )
            .when(pair & b_in & pl.col("_jb").is_not_null())
            .then(pl.col("_jb"))
            .cast(pl.Int64)
            .fill_null(-1)
            .alias("j")
        )
    )
    return got["j"].to_numpy()


def match_reference(
    keys: Sequence[tuple[Any, ...]],
    ref_keys: Sequence[tuple[Any, ...]],
    ref_weight: np.ndarray,
    ref_names: set[str],
) -> list[int | None]:
    """:func:`match_frame` for key tuples: the reference row index per live slice, or None."""
    if not ref_keys:
        return [None] * len(keys)
    schema = dict.fromkeys(KEY_COLS, pl.String)
    idx = match_frame(
        pl.DataFrame(list(keys), schema=schema, orient="row"),
        pl.DataFrame(list(ref_keys), schema=schema, orient="row"),
        ref_weight,
        ref_names,
    )
    return [None if j < 0 else int(j) for j in idx]


GLOBAL: tuple[Any, ...] = ()  # "the whole reference" as a reference slice key


class RefMatch(Sequence[tuple[Any, ...] | None]):
    """Each live slice's reference slice key: ``GLOBAL`` (the whole reference) when no
    predicate is left, None without a reference; read from the reference table on demand."""

    def __init__(self, idx: np.ndarray, ref: pl.DataFrame | None, has_totals: bool):
        self.idx, self.ref, self.has_totals = idx, ref, has_totals

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(len(self))[i]]
        j = int(self.idx[i])
        if not self.has_totals:
            return None
        if j < 0 or self.ref is None:
            return GLOBAL
        return tuple(self.ref.select(KEY_COLS).row(j))


def _attach_ref(
    live: pl.DataFrame,
    ref: pl.DataFrame | None,
    totals: dict[str, float] | None,
    cols: Sequence[str],
    ref_names: set[str],
    weight: str,
) -> tuple[pl.DataFrame, RefMatch]:
    """Add ``r<col>``: the sums of each live slice's reference slice (:func:`match_frame`),
    the whole reference (``totals``) when no predicate is left, 0 without a reference. Also
    return each row's reference slice key (``GLOBAL`` for the whole reference, None)."""
    n = live.height
    if totals is None:
        none = RefMatch(np.full(n, -1, dtype=np.int64), None, False)
        return live.with_columns([pl.lit(0.0).alias(f"r{c}") for c in cols]), none
    if ref is not None and ref.height:
        idx = match_frame(live, ref, _col(ref, weight), ref_names)
    else:
        idx = np.full(n, -1, dtype=np.int64)
    found = idx >= 0
    extra = []
    for c in cols:
        out = np.full(n, float(totals.get(c, 0.0)))
        if found.any():
            out[found] = _col(ref, c)[idx[found]]  # type: ignore[arg-type]
        extra.append(pl.Series(f"r{c}", out))
    return live.with_columns(extra), RefMatch(idx, ref, True)


def _ref_dict(
    natives: dict[str, dict[str, Any]], key: tuple[Any, ...] | None
) -> dict[str, Any] | None:
    if key is None:
        return None
    return {} if key == GLOBAL else _slice_dict(natives, *key)


def _source(key: tuple[Any, ...], ref_key: tuple[Any, ...] | None) -> str:
    """How a slice's reference was chosen: its own slice, some of its predicates, or all."""
    if ref_key is None:
        return "complement"
    if ref_key == GLOBAL:
        return "reference_global"
    return "reference" if ref_key == key else "reference_partial"

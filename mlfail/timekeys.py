"""Event time as a key: every command reads timestamps the same way."""

from __future__ import annotations

import polars as pl


def utc_naive(ts: str, dtype: pl.DataType) -> pl.Expr:
    """The timestamp as a naive UTC datetime (time zones converted), so that days and windows
    are the same in every command."""
    col = pl.col(ts)
    if dtype == pl.Date:
        return col.cast(pl.Datetime("us"))
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return col.cast(pl.Datetime("us"))

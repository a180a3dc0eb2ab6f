from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from mlfail.errors import InputError
from mlfail.io import open_source


def _write(p: Path, **cols: list) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(cols).write_parquet(p)


def test_file_glob_and_hive_directory(tmp_path: Path) -> None:
    _write(tmp_path / "a.parquet", x=[1.0, 2.0])
    _write(tmp_path / "b.parquet", x=[3.0])
    src = open_source(str(tmp_path / "a.parquet"))
    assert src.lf.collect()["x"].to_list() == [1.0, 2.0]

    g = open_source(str(tmp_path / "*.parquet"))
    assert sorted(g.lf.collect()["x"].to_list()) == [1.0, 2.0, 3.0]
    assert len(g.files) == 2

    hive = tmp_path / "logs"
    _write(hive / "day=2026-09-01" / "p.parquet", x=[1.0])
    _write(hive / "day=2026-09-02" / "p.parquet", x=[2.0, 3.0])
    h = open_source(str(hive))
    assert "day" in h.columns
    df = h.lf.collect().sort("x")
    assert df["day"].cast(pl.String).to_list() == ["2026-09-01", "2026-09-02", "2026-09-02"]
    # file-by-file frames carry the partition column too
    per_file = pl.concat([lf.collect() for lf in h.file_frames()]).sort("x")
    assert per_file.equals(df)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        open_source(str(tmp_path / "nope.parquet"), role="--reference")
    assert str(e.value) == f"--reference {tmp_path / 'nope.parquet'}: no such file or directory"


def test_not_parquet(tmp_path: Path) -> None:
    p = tmp_path / "data.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match=r"data\.csv: not a Parquet file"):
        open_source(str(p))


def test_empty_glob_and_empty_dir(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no files match this glob"):
        open_source(str(tmp_path / "*.parquet"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="directory holds no Parquet files"):
        open_source(str(tmp_path / "empty"))


def test_require_names_column_and_flag(tmp_path: Path) -> None:
    _write(tmp_path / "a.parquet", x=[1.0])
    src = open_source(str(tmp_path / "a.parquet"), role="--live")
    with pytest.raises(InputError, match=r"column 'geo' \(from --by\) does not exist"):
        src.require(["geo"], "--by")


def test_partition_key_that_is_also_a_file_column(tmp_path: Path) -> None:
    """Polars would silently replace the files' values by the directory's: the files win
    (warning) when every key is in the files; a partial overlap is refused."""
    import warnings

    from mlfail.errors import InputError, MlfailWarning

    whole = tmp_path / "whole" / "day=2026-09-01"
    whole.mkdir(parents=True)
    pl.DataFrame({"day": ["file-value"], "x": [1.0]}).write_parquet(whole / "p.parquet")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        src = open_source(str(tmp_path / "whole"))
    assert any(issubclass(w.category, MlfailWarning) for w in caught)
    assert src.lf.collect()["day"].to_list() == ["file-value"]

    part = tmp_path / "part" / "day=2026-09-01" / "geo=BR"
    part.mkdir(parents=True)
    pl.DataFrame({"day": ["file-value"], "x": [1.0]}).write_parquet(part / "p.parquet")
    with pytest.raises(InputError, match=r"partition key.*day.*other keys are not"):
        open_source(str(tmp_path / "part"))

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mlfail.cli.app import app, build_default_map

runner = CliRunner()


def _invoke(args: list[str], env: dict[str, str], cwd: Path):
    dm = build_default_map(args, env, str(cwd))
    return runner.invoke(app, args, default_map=dm, env=env)


def test_file_env_flag_precedence(drift_pair: tuple[Path, Path], tmp_path: Path) -> None:
    ref, live = drift_pair
    (tmp_path / "mlfail.toml").write_text(
        f'reference = "{ref}"\nlive = "{live}"\nlabel = "label"\nthreshold = 0.25\n'
        '[psi]\nformat = "json"\nfeatures = ["x", "y"]\n'
    )
    # the file alone makes `mlfail psi` work
    r = _invoke(["psi"], {}, tmp_path)
    assert r.exit_code == 1, r.stderr
    data = json.loads(r.stdout)
    assert {f["feature"] for f in data["features"]} == {"x", "y"}
    assert data["settings"]["threshold"] == 0.25
    # env beats the file
    r = _invoke(["psi"], {"MLFAIL_THRESHOLD": "50", "MLFAIL_FEATURES": "y"}, tmp_path)
    data = json.loads(r.stdout)
    assert data["settings"]["threshold"] == 50.0 and [f["feature"] for f in data["features"]] == [
        "y"
    ]
    assert r.exit_code == 0
    # a flag beats both
    r = _invoke(["psi", "--threshold", "0.3"], {"MLFAIL_THRESHOLD": "50"}, tmp_path)
    assert json.loads(r.stdout)["settings"]["threshold"] == 0.3


def test_pyproject_tool_table_and_explicit_config(
    drift_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    ref, live = drift_pair
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "x"\n[tool.mlfail]\nreference = "{ref}"\nlive = "{live}"\n'
        'format = "csv"\n'
    )
    r = _invoke(["psi"], {}, tmp_path)
    assert r.stdout.startswith("feature,kind,slice,psi")
    other = tmp_path / "elsewhere.toml"
    other.write_text(f'reference = "{ref}"\nlive = "{live}"\nformat = "markdown"\n')
    r = _invoke(["--config", str(other), "psi"], {}, tmp_path)
    assert r.stdout.startswith("## PSI audit")


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "mlfail.toml"
    bad.write_text("reference = \n")
    import pytest

    from mlfail.errors import InputError

    with pytest.raises(InputError, match=r"--config .*mlfail\.toml:1: invalid TOML"):
        build_default_map(["psi"], {}, str(tmp_path))


def test_relative_paths_in_a_config_file_are_relative_to_it(tmp_path: Path) -> None:
    from mlfail.config import load_config_file

    (tmp_path / "sub").mkdir()
    cfg = tmp_path / "sub" / "mlfail.toml"
    cfg.write_text(
        'reference = "data/ref.parquet"\nlive = "s3://bucket/logs/"\n'
        'label = "y"\n[baseline.create]\nout = "b.json"\n'
    )
    d = load_config_file(str(cfg))
    assert d["reference"] == str(tmp_path / "sub" / "data" / "ref.parquet")
    assert d["live"] == "s3://bucket/logs/" and d["label"] == "y"
    assert d["baseline"] == {"create": {"out": str(tmp_path / "sub" / "b.json")}}

"""A command imports its own part of the library (mlfail/__init__.py and mlfail/cli/app.py load
on first use): each check runs in a fresh interpreter, where nothing is imported yet."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from typer.testing import CliRunner

from mlfail.cli.app import COMMANDS, app, command_tree


def _fresh(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_baseline_create_does_not_import_the_walk() -> None:
    # what `mlfail baseline create` loads before it runs: the app and the baseline group
    loaded = _fresh(
        """
        import sys
        from mlfail.cli.app import command_tree
        tree = command_tree(["baseline", "create"])
        assert list(tree) == ["baseline"] and "create" in tree["baseline"], tree
        wanted = ["mlfail.triage", "mlfail.slices", "mlfail.rootcause", "mlfail.skew",
                  "mlfail.shadow", "mlfail.quality", "mlfail.baseline.build", "scipy"]
        print(",".join(m for m in wanted if m in sys.modules))
        """
    )
    assert loaded == "mlfail.baseline.build"


def test_api_functions_keep_their_names_after_their_submodules_load() -> None:
    # psi, triage, shadow and skew are also submodules: loading one must not hide the function
    names = _fresh(
        """
        import mlfail
        import mlfail.psi, mlfail.triage, mlfail.shadow, mlfail.skew
        import mlfail.cli.triage  # imports mlfail.triage and mlfail.psi again, from inside
        print(",".join(f.__name__ for f in (mlfail.psi, mlfail.triage, mlfail.shadow, mlfail.skew)))
        """
    )
    assert names == "psi,triage,shadow,compare"  # mlfail.skew is skew.compare, as before


def test_every_exported_name_resolves() -> None:
    import mlfail

    for name in mlfail.__all__:
        value = getattr(mlfail, name)
        assert value is not None and not isinstance(value, type(mlfail)), name
    # the lazy table and __all__ name the same API (a name only in one is lost or unlisted)
    assert set(mlfail._LAZY) == set(mlfail.__all__) - {"__version__"}


def test_unknown_attribute_is_an_attribute_error() -> None:
    import mlfail

    try:
        mlfail.not_a_name  # noqa: B018
    except AttributeError as exc:
        assert "not_a_name" in str(exc)
    else:
        raise AssertionError("mlfail.not_a_name resolved")


def test_command_tree_covers_every_command_and_only_those_asked() -> None:
    full = command_tree()
    assert list(full) == list(COMMANDS)
    assert set(full["baseline"]) == {"create", "show", "merge"}  # type: ignore[arg-type]
    assert "fail_on" in full["psi"]  # type: ignore[operator]
    assert list(command_tree(["psi", "--features", "x"])) == ["psi"]
    assert command_tree(["--version"]) == {}


def test_a_typo_still_gets_the_suggestion() -> None:
    r = CliRunner().invoke(app, ["triag"])
    assert r.exit_code == 2 and "Did you mean 'triage'?" in r.stderr

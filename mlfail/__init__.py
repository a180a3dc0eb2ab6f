"""mlfail: triage production ML incidents from Parquet feature logs.

Python API (the CLI is a thin shell over these)::

    import mlfail
    report = mlfail.psi("train.parquet", "logs/", by=["geo"])
    slices = mlfail.find_slices("train.parquet", "logs/", roles=mlfail.Roles(label="y", prediction="p"))
    timeline = mlfail.build_timeline("logs/", roles=mlfail.Roles(timestamp="ts"), metrics="m.csv")
"""

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from mlfail import scantrace as _scantrace
from mlfail._version import __version__

if TYPE_CHECKING:
    from mlfail.audit import psi
    from mlfail.baseline import Baseline, build_baseline, load_baseline, merge_baselines
    from mlfail.binning import BinSettings, BinSpec, build_specs
    from mlfail.config import Roles
    from mlfail.counts import count_frame, count_source, merge
    from mlfail.errors import InputError, MlfailError, UsageError
    from mlfail.io import Source, open_source
    from mlfail.psi import PsiSettings
    from mlfail.rootcause import explain
    from mlfail.shadow import shadow
    from mlfail.skew import SkewReport, SkewSettings, skew
    from mlfail.slices import SliceSettings, find_slices
    from mlfail.timeline import TimelineSettings, build_timeline
    from mlfail.triage import triage

# The API is imported on first use (PEP 562): a command imports what it runs, not the whole
# library (`mlfail baseline create` never loads the walk, the slices or the report renderers).
_LAZY = {
    "psi": "mlfail.audit",
    "Baseline": "mlfail.baseline",
    "build_baseline": "mlfail.baseline",
    "load_baseline": "mlfail.baseline",
    "merge_baselines": "mlfail.baseline",
    "BinSettings": "mlfail.binning",
    "BinSpec": "mlfail.binning",
    "build_specs": "mlfail.binning",
    "Roles": "mlfail.config",
    "count_frame": "mlfail.counts",
    "count_source": "mlfail.counts",
    "merge": "mlfail.counts",
    "InputError": "mlfail.errors",
    "MlfailError": "mlfail.errors",
    "UsageError": "mlfail.errors",
    "Source": "mlfail.io",
    "open_source": "mlfail.io",
    "PsiSettings": "mlfail.psi",
    "explain": "mlfail.rootcause",
    "shadow": "mlfail.shadow",
    "SkewReport": "mlfail.skew",
    "SkewSettings": "mlfail.skew",
    "skew": "mlfail.skew",
    "SliceSettings": "mlfail.slices",
    "find_slices": "mlfail.slices",
    "TimelineSettings": "mlfail.timeline",
    "build_timeline": "mlfail.timeline",
    "triage": "mlfail.triage",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlfail' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """Four API functions share their name with a submodule (``psi``, ``triage``, ``shadow``,
    ``skew``). Importing a submodule sets it on its package; loaded lazily, it would then
    hide the function (``mlfail.psi(...)``: "module is not callable"). The function keeps
    the name, as it did when the package imported everything up front."""

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, types.ModuleType) and name in _LAZY:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__all__ = [
    "Baseline",
    "BinSettings",
    "BinSpec",
    "InputError",
    "MlfailError",
    "PsiSettings",
    "Roles",
    "SkewReport",
    "SkewSettings",
    "SliceSettings",
    "Source",
    "TimelineSettings",
    "UsageError",
    "__version__",
    "build_baseline",
    "build_specs",
    "build_timeline",
    "count_frame",
    "count_source",
    "explain",
    "find_slices",
    "load_baseline",
    "merge",
    "merge_baselines",
    "open_source",
    "psi",
    "shadow",
    "skew",
    "triage",
]

_scantrace.install_from_env()

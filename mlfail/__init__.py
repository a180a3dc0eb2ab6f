"""mlfail: triage production ML incidents from Parquet feature logs.

Python API (the CLI is a thin shell over these)::

    import mlfail
    report = mlfail.psi("train.parquet", "logs/", by=["geo"])
    slices = mlfail.find_slices("train.parquet", "logs/", roles=mlfail.Roles(label="y", prediction="p"))
    timeline = mlfail.build_timeline("logs/", roles=mlfail.Roles(timestamp="ts"), metrics="m.csv")
"""

from mlfail import scantrace as _scantrace
from mlfail._version import __version__
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

"""Named unit factors (×100 units→cents, ×1000 s→ms, …), shared by root cause's scale
signature (a distribution ratio, named loosely) and skew's scale pattern (a row-by-row ratio,
snapped exactly). A neutral module: ``rootcause`` imports ``skew`` for the walk's join
evidence, so neither may import the other for these names."""

from __future__ import annotations

import math

NAMED_FACTORS = {
    10.0: "×10",
    100.0: "×100 (units→cents?)",
    1000.0: "×1000 (e.g. s→ms, kg→g)",
    60.0: "×60 (minutes→seconds?)",
    3600.0: "×3600 (hours→seconds?)",
    0.01: "÷100 (cents→units?)",
    0.001: "÷1000 (e.g. ms→s)",
    1 / 60: "÷60 (seconds→minutes?)",
    1 / 3600: "÷3600 (seconds→hours?)",
    0.1: "÷10",
}


def name_factor(factor: float, tolerance: float = 0.1) -> str | None:
    """The familiar unit factor within ``tolerance`` (relative) of ``factor``, if any."""
    best = min(NAMED_FACTORS, key=lambda k: abs(math.log(factor / k)))
    if abs(factor / best - 1) <= tolerance:
        return (
            NAMED_FACTORS[best]
            if abs(factor / best - 1) <= 0.02
            else (f"close to {NAMED_FACTORS[best]}")
        )
    return None


def snap_factor(factor: float) -> tuple[float, str]:
    """Snap ``factor`` to a named unit factor when it is one (within 1e-6, relative)."""
    for known, name in NAMED_FACTORS.items():
        if abs(factor / known - 1) < 1e-6:
            return known, name
    return factor, f"×{factor:.6g}"

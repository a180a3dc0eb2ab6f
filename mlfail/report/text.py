"""Escaping user-controlled text (column names, category values, file names) for the text
formats, so that a column named ``<script>…`` or ``=cmd|…`` is shown, never executed."""

from __future__ import annotations

import html
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def md(s: Any) -> str:
    """One Markdown line or table cell: HTML neutralised (GitHub renders raw HTML inside
    Markdown), pipes escaped, newlines folded."""
    return html.escape(str(s), quote=False).replace("|", "\\|").replace("\n", " ")


def csv_text(s: str | None) -> str | None:
    """A CSV text cell that a spreadsheet will not run as a formula (OWASP CSV injection):
    a leading ``= + - @``, tab or carriage return gets a ``'`` in front."""
    if s and s.startswith(_FORMULA_START):
        return "'" + s
    return s

"""Durations as operators write them ("500ms", "2s", "5m", "1h"), parsed into seconds."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_SECONDS = 365 * 86400.0
"""The longest duration anywhere: beyond a year it is a typo, and 400 digits parse to infinity,
which no clock reaches and JSON cannot carry (`/v1/status` would print `Infinity`)."""
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"


def parse_duration(text: str) -> float:
    """Return the seconds in `text`, e.g. "1m30s" -> 90.0; ValueError on anything else."""
    s = text.strip()
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise ValueError(
            f"invalid duration {_shown(text)}: use a number and a unit, e.g. 500ms, 2s, 5m, 1h"
        )
    if not total <= MAX_SECONDS:  # not `>`: infinity and NaN are refused too
        raise ValueError(
            f"invalid duration {_shown(text)}: {total:.12g} seconds; durations are at most 365d"
        )
    return total


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")

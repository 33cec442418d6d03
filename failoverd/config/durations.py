"""Durations as operators write them ("500ms", "2s", "5m", "1h"), parsed into seconds."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
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
            f"invalid duration {text!r}: use a number and a unit, e.g. 500ms, 2s, 5m, 1h"
        )
    return total

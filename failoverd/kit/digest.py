"""The one canonical-JSON hash: snapshot checksums and the sync job's change hash share it."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def sha256_hex(obj: Any) -> str:
    """sha256 of obj's canonical JSON (sorted keys, no spaces), as hex."""
    return hashlib.sha256(
        json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()

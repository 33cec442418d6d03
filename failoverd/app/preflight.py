"""What `failoverd validate` checks beyond the schema: that every part the config names builds.

A config can be well-formed and still fail when the daemon builds its parts: a DNS name with a
64-character label, a CA bundle that is not PEM, a TSIG algorithm dnspython lacks. `validate`,
`run` and a reload build each service's traffic switch and TLS contexts here, so anything
`run` would reject is reported up front, as `FILE:LINE: field.path: message`.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from failoverd import config, traffic
from failoverd.config.loader import Path_
from failoverd.probes.http import ssl_context


def problems(cfg: config.Config) -> list[tuple[Path_, str]]:
    """(field path, message) for every part of the config that does not build."""
    out: list[tuple[Path_, str]] = []
    for name, svc in cfg.services.items():
        try:
            traffic.build(svc.traffic)
        except Exception as e:
            kind = svc.traffic.kind if svc.traffic else ""
            out.append((("services", name, "traffic", kind), _words(e)))
        for side in ("primary", "standby"):
            for i, spec in enumerate(svc.probes.of(side)):
                if spec.http is None:
                    continue
                try:
                    ssl_context(spec.http)
                except (OSError, ssl.SSLError, ValueError) as e:
                    out.append((("services", name, "probes", side, i, "http"), _words(e)))
    return out


def check(cfg: config.Config, path: Path) -> None:
    """Raise ConfigError with a line for each part that does not build."""
    found = problems(cfg)
    if found:
        raise config.ConfigError([config.locate(path, loc, msg) for loc, msg in found])


def _words(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__

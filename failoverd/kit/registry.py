"""A family's kinds, keyed by the config key: probes, traffic switches, replication jobs.

Each kind is a module named after its key inside the family's package; it registers its
builder when imported, and `builder(kind)` imports it on first use, so a kind no config uses
is never loaded (a host using only DNS never imports boto3 or kubernetes_asyncio).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

B = TypeVar("B")


class Registry(Generic[B]):
    def __init__(self, package: str) -> None:
        self.package = package
        self._builders: dict[str, B] = {}

    def register(self, kind: str) -> Callable[[B], B]:
        """Decorator: register `kind`'s builder."""

        def deco(fn: B) -> B:
            self._builders[kind] = fn
            return fn

        return deco

    def builder(self, kind: str) -> B:
        """The builder of `kind`, importing `package.kind` on first use."""
        if kind not in self._builders:
            importlib.import_module(f"{self.package}.{kind}")
        return self._builders[kind]

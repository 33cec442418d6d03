"""The Kubernetes clusters of the config: clients built on first use, cached, closed together.

This module does not import kubernetes_asyncio: kube.py is loaded the first time a client is
built, so a daemon whose config uses no cluster never loads it (about 150 ms of imports and
tens of MB of memory).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from failoverd import config

if TYPE_CHECKING:
    from failoverd.clients.kube import ApiClient


class Clusters:
    """Lazily built, cached API clients for the clusters of the config."""

    def __init__(self, clusters: dict[str, config.ClusterConfig]) -> None:
        self.configs = clusters
        self._clients: dict[str, ApiClient] = {}
        self._lock = asyncio.Lock()

    async def api(self, name: str) -> ApiClient:
        async with self._lock:
            if name not in self._clients:
                from failoverd.clients.kube import build_client

                self._clients[name] = await build_client(self.configs[name])
            return self._clients[name]

    async def close(self) -> None:
        for api in self._clients.values():
            await api.close()
        self._clients.clear()

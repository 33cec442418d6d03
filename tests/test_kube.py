"""Kubernetes operations and the kubernetes probe against kmock's emulator on loopback."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from failoverd import config
from failoverd.clients import kube
from failoverd.clients.clusters import Clusters
from failoverd.kit.errors import PermanentError, TransientError
from failoverd.probes.kubernetes import KubernetesProbe
from tests.lab import kube as lab_kube


@pytest.fixture
async def bj(tmp_path):
    async with lab_kube.cluster("beijing") as c, lab_kube.ReplicaController([c], delay=0.2):
        c.add_deployment("web", 3)
        path = lab_kube.write_kubeconfig(tmp_path / "kubeconfig", [c])
        clusters = Clusters(
            {"beijing": config.ClusterConfig(kubeconfig=str(path), context="beijing")}
        )
        yield c, clusters
        await clusters.close()


async def test_scale_sets_replicas_and_wait_ready_waits_for_the_controller(bj):
    c, clusters = bj
    api = await clusters.api("beijing")
    await kube.scale(api, "deployment", "default", "web", 0)
    assert c.replicas("web") == (0, 3), "the controller has not caught up yet"
    await asyncio.wait_for(kube.wait_ready(api, "deployment", "default", "web", 0, poll=0.05), 5)
    assert c.replicas("web") == (0, 0)
    assert await kube.ready_replicas(api, "deployment", "default", "web") == (0, 0)


async def test_a_missing_workload_is_a_permanent_error(bj):
    _, clusters = bj
    with pytest.raises(PermanentError, match="HTTP 404"):
        await kube.scale(await clusters.api("beijing"), "deployment", "default", "nope", 1)


async def test_the_kubernetes_probe_checks_ready_replicas_and_the_api_server(bj):
    _, clusters = bj
    dep = config.KubernetesProbe(cluster="beijing", deployment="web", min_ready=2)
    obs = await KubernetesProbe(dep, clusters)()
    assert obs.ok and obs.detail == "deployment default/web 3 ready (min 2)"
    await kube.scale(await clusters.api("beijing"), "deployment", "default", "web", 1)
    await kube.wait_ready(
        await clusters.api("beijing"), "deployment", "default", "web", 1, poll=0.05
    )
    assert not (await KubernetesProbe(dep, clusters)()).ok
    api_probe = await KubernetesProbe(config.KubernetesProbe(cluster="beijing"), clusters)()
    assert api_probe.ok and api_probe.detail == "/readyz HTTP 200"


async def test_an_unreachable_cluster_is_a_failed_probe_not_a_crash(tmp_path):
    c = lab_kube.Cluster("gone", None, "http://127.0.0.1:9")  # nothing listens on port 9
    path = lab_kube.write_kubeconfig(tmp_path / "kubeconfig", [c])
    clusters = Clusters({"gone": config.ClusterConfig(kubeconfig=str(path), context="gone")})
    obs = await KubernetesProbe(
        config.KubernetesProbe(cluster="gone", deployment="web"), clusters
    )()
    await clusters.close()
    assert not obs.ok and obs.detail


@pytest.mark.parametrize(
    ("status", "body", "kind", "text"),
    [
        (
            403,
            b'{"kind":"Status","message":"configmaps is forbidden"}',
            PermanentError,
            "HTTP 403 configmaps is forbidden",
        ),
        (500, b"<html>bad gateway</html>", TransientError, "HTTP 500 Internal"),
        (409, b'{"kind":"Status"}', TransientError, "HTTP 409 Internal"),
        (404, None, PermanentError, "HTTP 404 Internal"),
    ],
)
def test_api_errors_carry_the_servers_message_else_the_reason(status, body, kind, text):
    e = ApiException(status=status, reason="Internal")
    e.body = body
    got = kube.classify(e, "scale web")
    assert type(got) is kind
    assert str(got) == f"scale web: {text}"

"""`kubectl drain` of a demo cluster's node, as a platform engineer runs it before replacing the node.

kubectl is the one the machine's dispatcher picks for the cluster's version (1.32 for payments-prod), configured
by `aws eks update-kubeconfig --role-arn` for the platform admin role. The drain runs against a sandbox of its
own: a cordoned node would change what the other peers tests read from the shared one.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.helpers import serving_sandbox
from tests.peers.kubectl_access import KubectlCluster, kubectl_cluster

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.peers,
    pytest.mark.wall_clock,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed on this machine"),
]

CLUSTER, REGION = "payments-prod", "us-east-1"


@pytest.fixture(scope="module")
def payments_prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubectlCluster]:
    workdir = tmp_path_factory.mktemp("kubectl-drain")
    with serving_sandbox(workdir / "serve.log") as url:
        yield kubectl_cluster(url, CLUSTER, REGION, workdir)


def evictable_pods(cluster: KubectlCluster, node: str) -> set[str]:
    """namespace/name of the pods on ``node`` a drain with --ignore-daemonsets evicts."""
    pods = cluster.api(f"/api/v1/pods?fieldSelector=spec.nodeName%3D{node}")["items"]
    return {
        f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        for pod in pods
        if not any(owner["kind"] == "DaemonSet" for owner in pod["metadata"].get("ownerReferences", []))
    }


def test_kubectl_drain_cordons_the_node_and_evicts_its_pods_but_daemonsets(payments_prod):
    nodes = payments_prod.api("/api/v1/nodes")["items"]
    node = max(nodes, key=lambda n: len(evictable_pods(payments_prod, n["metadata"]["name"])))["metadata"]["name"]
    before = evictable_pods(payments_prod, node)
    assert before, "the demo cluster runs workload pods on its nodes"

    result = payments_prod.kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data")

    assert result.returncode == 0, f"kubectl drain exited {result.returncode}: {result.stderr.strip()}"
    assert f"node/{node} drained" in result.stdout
    evicted = {line.removeprefix("evicting pod ") for line in result.stdout.splitlines() if line.startswith("evicting")}
    assert evicted == before
    assert payments_prod.api(f"/api/v1/nodes/{node}")["spec"].get("unschedulable") is True
    assert evictable_pods(payments_prod, node) == set()

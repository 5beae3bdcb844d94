"""What every namespace holds from birth: the ``default`` ServiceAccount (serviceaccounts-controller) and the
``kube-root-ca.crt`` ConfigMap (root-ca-cert-publisher)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster

#: Placeholder CA bundle of the kube-root-ca.crt ConfigMap every namespace gets.
ROOT_CA_PEM = "-----BEGIN CERTIFICATE-----\nTUlJQ3NpbXVsYXRlZEVLU2NsdXN0ZXJDQQ==\n-----END CERTIFICATE-----\n"


def sync_namespaces(cluster: KubeCluster) -> None:
    """Every namespace gets the ``default`` ServiceAccount and the ``kube-root-ca.crt`` ConfigMap."""
    store = cluster.store
    for namespace in store.all("", "Namespace"):
        name = namespace["metadata"]["name"]
        if store.get("", "ServiceAccount", name, "default") is None:
            store.insert(
                "",
                "ServiceAccount",
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": name}},
            )
        if store.get("", "ConfigMap", name, "kube-root-ca.crt") is None:
            store.insert(
                "",
                "ConfigMap",
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": "kube-root-ca.crt",
                        "namespace": name,
                        "annotations": {
                            "kubernetes.io/description": "Contains a CA bundle that can be used "
                            "to verify the kube-apiserver when using internal endpoints such as "
                            "the internal service IP or kubernetes.default.svc."
                        },
                    },
                    "data": {"ca.crt": ROOT_CA_PEM},
                },
            )

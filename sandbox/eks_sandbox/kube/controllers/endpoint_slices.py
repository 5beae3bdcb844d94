"""The EndpointSlice controller: one slice per selector Service, listing the pods that back it.

Shape as k8s.io/kubernetes pkg/controller/endpointslice writes it: label ``kubernetes.io/service-name``, managed by
``endpointslice-controller.k8s.io``, owned by the Service, an endpoint per pod with an IP (ready, serving,
terminating conditions, nodeName, zone, targetRef), the Service's ports resolved to the pods' container ports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eks_sandbox.kube.controllers.objects import live_pods
from eks_sandbox.kube.disruption import pod_is_ready
from eks_sandbox.kube.store import ObjectStore

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
ZONE_LABEL = "topology.kubernetes.io/zone"


def sync_endpoint_slices(cluster: KubeCluster) -> None:
    """Keep each selector Service's EndpointSlice equal to the pods it selects."""
    store = cluster.store
    zones = {
        node["metadata"]["name"]: (node["metadata"].get("labels") or {}).get(ZONE_LABEL)
        for node in store.all("", "Node")
    }
    for service in store.all("", "Service"):
        selector = service["spec"].get("selector")
        if not selector or service["spec"].get("type") == "ExternalName":
            continue
        namespace = service["metadata"]["namespace"]
        pods = [
            pod
            for pod in live_pods(store, namespace)
            if (pod.get("status") or {}).get("podIP")
            and all((pod["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
        ]
        wanted = {
            "addressType": "IPv4",
            "endpoints": [_endpoint(pod, zones) for pod in sorted(pods, key=lambda p: p["metadata"]["name"])],
            "ports": _ports(service, pods),
        }
        _save_slice(store, service, wanted)


def _endpoint(pod: dict[str, Any], zones: dict[str, str | None]) -> dict[str, Any]:
    ready = pod_is_ready(pod)
    endpoint: dict[str, Any] = {
        "addresses": [pod["status"]["podIP"]],
        "conditions": {"ready": ready, "serving": ready, "terminating": False},
        "targetRef": {
            "kind": "Pod",
            "namespace": pod["metadata"]["namespace"],
            "name": pod["metadata"]["name"],
            "uid": pod["metadata"]["uid"],
        },
    }
    node_name = pod["spec"].get("nodeName")
    if node_name:
        endpoint["nodeName"] = node_name
        if zones.get(node_name):
            endpoint["zone"] = zones[node_name]
    return endpoint


def _ports(service: dict[str, Any], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    container_ports = {
        port["name"]: port["containerPort"]
        for pod in pods[:1]
        for container in pod["spec"].get("containers") or []
        for port in container.get("ports") or []
        if port.get("name")
    }
    ports = []
    for port in service["spec"].get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        number = container_ports.get(target) if isinstance(target, str) else target
        if number is not None:
            ports.append({"name": port.get("name", ""), "port": int(number), "protocol": port.get("protocol", "TCP")})
    return ports


def _save_slice(store: ObjectStore, service: dict[str, Any], wanted: dict[str, Any]) -> None:
    namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
    existing = next(
        (
            eps
            for eps in store.all("discovery.k8s.io", "EndpointSlice", namespace)
            if (eps["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) == name
            and (eps["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == CONTROLLER_NAME
        ),
        None,
    )
    if existing is not None:
        store.save("discovery.k8s.io", "EndpointSlice", {**existing, "metadata": dict(existing["metadata"]), **wanted})
        return
    labels = {**(service["metadata"].get("labels") or {}), SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: CONTROLLER_NAME}
    store.insert(
        "discovery.k8s.io",
        "EndpointSlice",
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-{store.random_suffix()}",
                "generateName": f"{name}-",
                "namespace": namespace,
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "name": name,
                        "uid": service["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            **wanted,
        },
    )

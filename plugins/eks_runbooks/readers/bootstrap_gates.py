"""What the bootstrap's gates ask a new cluster's Kubernetes API, and the smoke test it runs there.

Each gate returns evidence a person can read in the report (what was asked, what the cluster answered) and the
problems that fail it. The smoke test is the only write: a namespace of its own, removed at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: The EndpointSlices of the smoke test's Service [kubernetes.io/service-name label, discovery.k8s.io/v1].
SMOKE_SERVICE_SELECTOR = "kubernetes.io/service-name=smoke"
#: What the bootstrap's later steps do through the Kubernetes API, as SelfSubjectAccessReview attributes.
NEEDED_ACCESS = (
    {"verb": "list", "resource": "nodes"},
    {"verb": "create", "resource": "namespaces"},
    {"verb": "delete", "resource": "namespaces"},
    {"verb": "create", "resource": "deployments", "group": "apps"},
    {"verb": "create", "resource": "services"},
    {"verb": "list", "resource": "pods"},
    {"verb": "list", "resource": "endpointslices", "group": "discovery.k8s.io"},
)


def access_review(api_client: Any) -> tuple[list[str], list[str]]:
    """Ask the API server, as the caller, whether it may do what the next steps need (``kubectl auth can-i``)."""
    from kubernetes.client import AuthorizationV1Api, V1ResourceAttributes, V1SelfSubjectAccessReview

    api = AuthorizationV1Api(api_client)
    evidence, problems = [], []
    for attributes in NEEDED_ACCESS:
        review = V1SelfSubjectAccessReview(spec={"resourceAttributes": V1ResourceAttributes(**attributes)})
        status = api.create_self_subject_access_review(review).status
        line = f"can-i {attributes['verb']} {attributes['resource']}: {'yes' if status.allowed else 'no'}"
        evidence.append(line)
        if not status.allowed:
            problems.append(f"{line} ({status.reason or 'no reason given'})")
    return evidence, problems


def _ready(node: dict[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def nodes_ready(reader: Any, version: str, nodegroups: list[str]) -> tuple[list[str], list[str]]:
    """Every node of the node groups Ready at the cluster's minor (kubelet ``v1.34.x``)."""
    reader.forget_listed()
    evidence, problems = [], []
    for nodegroup in nodegroups:
        nodes = reader.list("v1", "Node", label_selector=f"eks.amazonaws.com/nodegroup={nodegroup}")
        if not nodes:
            problems.append(f"node group {nodegroup} has no node registered")
        for node in nodes:
            name = node["metadata"]["name"]
            kubelet = node["status"]["nodeInfo"]["kubeletVersion"]
            evidence.append(f"{nodegroup}: {name} {'Ready' if _ready(node) else 'NotReady'} {kubelet}")
            if not _ready(node):
                problems.append(f"node {name} of {nodegroup} is not Ready")
            if not kubelet.startswith(f"v{version}."):
                problems.append(f"node {name} of {nodegroup} runs kubelet {kubelet}, not {version}")
    return evidence, problems


def workloads_available(reader: Any, workloads: list[str]) -> tuple[list[str], list[str]]:
    """Each ``Kind/namespace/name`` workload has every desired replica available."""
    reader.forget_listed()
    evidence, problems = [], []
    for ref in workloads:
        kind, namespace, name = ref.split("/", 2)
        found = [w for w in reader.list("apps/v1", kind, namespace=namespace) if w["metadata"]["name"] == name]
        if not found:
            problems.append(f"{ref} does not exist")
            continue
        status = found[0].get("status") or {}
        if kind == "DaemonSet":
            wanted, available = status.get("desiredNumberScheduled", 0), status.get("numberAvailable", 0)
        else:
            wanted, available = found[0]["spec"].get("replicas", 1), status.get("availableReplicas", 0)
        evidence.append(f"{ref}: {available}/{wanted} available")
        if available < wanted:
            problems.append(f"{ref} has {available} of {wanted} replicas available")
    return evidence, problems


def smoke_test(
    api_client: Any, namespace: str, image: str, replicas: int, timeout_seconds: float, poll_seconds: float
) -> tuple[list[str], list[str]]:
    """A Deployment and a Service in ``namespace``: pods Ready on the new nodes and the Service's endpoints
    populated; the namespace is removed whatever the outcome."""
    from kubernetes.client import AppsV1Api, CoreV1Api
    from kubernetes.client.exceptions import ApiException

    core, apps = CoreV1Api(api_client), AppsV1Api(api_client)
    labels = {"app": "eks-runbooks-smoke"}
    try:
        core.create_namespace({"metadata": {"name": namespace, "labels": {"eks-runbooks/smoke-test": "true"}}})
    except ApiException as error:
        if error.status != 409:
            raise
    try:
        _create_if_missing(lambda: apps.create_namespaced_deployment(namespace, _deployment(image, replicas, labels)))
        _create_if_missing(lambda: core.create_namespaced_service(namespace, _service(labels)))
        return _wait_for_smoke(api_client, namespace, replicas, timeout_seconds, poll_seconds)
    finally:
        core.delete_namespace(namespace)


def _create_if_missing(create: Callable[[], Any]) -> None:
    from kubernetes.client.exceptions import ApiException

    try:
        create()
    except ApiException as error:
        if error.status != 409:
            raise


def _deployment(image: str, replicas: int, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": "smoke", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "pause", "image": image, "ports": [{"containerPort": 8080}]}]},
            },
        },
    }


def _service(labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": "smoke"}, "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}}


def _wait_for_smoke(
    api_client: Any, namespace: str, replicas: int, timeout_seconds: float, poll_seconds: float
) -> tuple[list[str], list[str]]:
    """Until the smoke pods are Ready and the Service's EndpointSlices hold their addresses (the Endpoints API
    is deprecated from Kubernetes 1.33: EndpointSlices are what kube-proxy programs)."""
    from kubernetes.client import CoreV1Api, DiscoveryV1Api

    core, discovery = CoreV1Api(api_client), DiscoveryV1Api(api_client)
    deadline = time.monotonic() + timeout_seconds
    while True:
        pods = core.list_namespaced_pod(namespace, label_selector="app=eks-runbooks-smoke").items
        ready = [p for p in pods if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
        slices = discovery.list_namespaced_endpoint_slice(namespace, label_selector=SMOKE_SERVICE_SELECTOR).items
        addresses = [
            address
            for piece in slices
            for endpoint in piece.endpoints or []
            if endpoint.conditions is None or endpoint.conditions.ready is not False
            for address in endpoint.addresses or []
        ]
        nodes = ", ".join(sorted({p.spec.node_name for p in ready})) or "no node"
        evidence = [
            f"{len(ready)}/{replicas} smoke pods Ready on {nodes}",
            f"Service smoke endpoints: {', '.join(addresses) or 'none'}",
        ]
        if len(ready) >= replicas and len(addresses) >= replicas:
            return evidence, []
        if time.monotonic() > deadline:
            return evidence, [f"the smoke test in namespace {namespace} did not converge in {timeout_seconds:.0f} s"]
        time.sleep(poll_seconds)


#: Access entries reach the API server seconds after EKS accepts them: the access gate asks again this long.
ACCESS_PROPAGATION_SECONDS = 120.0


def access_review_until_allowed(api_client: Any, poll_seconds: float) -> tuple[list[str], list[str]]:
    """``access_review`` until everything is allowed or ``ACCESS_PROPAGATION_SECONDS`` have passed."""
    deadline = time.monotonic() + ACCESS_PROPAGATION_SECONDS
    while True:
        evidence, problems = access_review(api_client)
        if not problems or time.monotonic() > deadline:
            return evidence, problems
        time.sleep(poll_seconds)


def gate_evidence(step: str, request: Any, resolved: Any, poll_seconds: float) -> tuple[list[str], list[str]]:
    """A building step's gate, once what it created is ACTIVE: (evidence, problems)."""
    from eks_runbooks.core.bootstrap.facts import load_bootstrap_facts
    from eks_runbooks.readers.cluster import KubernetesReader
    from eks_runbooks.readers.kube_client import eks_kubernetes_client

    if step in ("identity", "control_plane"):
        return [], []
    workloads = load_bootstrap_facts().addon_workloads
    with eks_kubernetes_client(
        request.cluster_name, aws_conn_id=request.aws_conn_id, region_name=request.region
    ) as api:
        if step == "access":
            return access_review_until_allowed(api, poll_seconds)
        reader = KubernetesReader(api)
        if step == "compute":
            return nodes_ready(reader, resolved.version, [nodegroup.name for nodegroup in request.compute])
        names = request.addons_before_compute if step == "addons_before_compute" else request.addons_after_compute
        return workloads_available(reader, [ref for name in names for ref in workloads.get(name, ())])

"""The Kubernetes objects an add-on runs (``workloads`` in ``include/eks/addons.yaml``), applied into the
cluster when the add-on becomes ACTIVE and removed when it is deleted."""

from __future__ import annotations

import ipaddress
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from eks_sandbox.eks.catalogue import AddonSpec, AddonVersion

if TYPE_CHECKING:
    from eks_sandbox.eks.clusters import Cluster

IRSA_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
ADDON_OBJECTS_PATH = Path(__file__).with_name("addon-objects.yaml")


@cache
def addon_objects(path: Path = ADDON_OBJECTS_PATH) -> dict[str, Any]:
    """Per workload name: its pods' ``k8s-app`` label and the Services/ConfigMaps beside it (addon-objects.yaml)."""
    return yaml.safe_load(path.read_text())


def app_label(workload_name: str) -> str:
    """The ``k8s-app`` label of a workload's pods: CoreDNS's are ``kube-dns``, as on EKS."""
    return (addon_objects().get(workload_name) or {}).get("app_label", workload_name)


def image_template(container: dict[str, Any], version: AddonVersion) -> str:
    """The container's image template for add-on ``version``: ``image``, unless an ``image_before`` entry
    ("1.34": template) covers it — the entry of the lowest minor above the version's own. It records a change of
    tag format at that minor (kube-proxy's tags lose their ``-minimal-`` infix from v1.34)."""

    def as_minor(key: str) -> tuple[int, int]:
        major, minor = str(key).lstrip("v").split(".")[:2]
        return int(major), int(minor)

    for before, template in sorted((container.get("image_before") or {}).items(), key=lambda item: as_minor(item[0])):
        if version.minor < as_minor(before):
            return template
    return container["image"]


def image(template: str, region: str, version: AddonVersion) -> str:
    return template.format(region=region, version=version.version, upstream=version.upstream, build=version.build)


def _labels(spec: AddonSpec, workload: dict[str, Any], managed: bool) -> dict[str, str]:
    labels = {
        "k8s-app": app_label(workload["name"]),
        "eks.amazonaws.com/component": workload["name"],
        **((addon_objects().get(workload["name"]) or {}).get("extra_labels") or {}),
    }
    if managed:
        # Tells managed add-on resources from self-managed ones (label value UNCONFIRMED).
        labels["app.kubernetes.io/managed-by"] = "EKS"
    return labels


def _container(container: dict[str, Any], region: str, version: AddonVersion) -> dict[str, Any]:
    built: dict[str, Any] = {
        "name": container["name"],
        "image": image(image_template(container, version), region, version),
    }
    if container.get("ports"):
        built["ports"] = [dict(port) for port in container["ports"]]
    if container.get("privileged"):
        built["securityContext"] = {"privileged": True}
    return built


def _pod_spec(cluster: Cluster, version: AddonVersion, workload: dict[str, Any]) -> dict[str, Any]:
    daemon = workload["kind"] == "DaemonSet"
    pod_spec: dict[str, Any] = {
        "priorityClassName": "system-node-critical" if daemon else "system-cluster-critical",
        "containers": [_container(c, cluster.region, version) for c in workload["containers"]],
        # Node agents tolerate every taint; cluster services only the critical-add-on one.
        "tolerations": [{"operator": "Exists"}] if daemon else [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
    }
    if workload.get("init_containers"):
        pod_spec["initContainers"] = [_container(c, cluster.region, version) for c in workload["init_containers"]]
    if workload.get("affinity"):
        pod_spec["affinity"] = workload["affinity"]
    if workload.get("service_account"):
        pod_spec["serviceAccountName"] = workload["service_account"]
    if workload.get("host_network"):
        pod_spec["hostNetwork"] = True
    return pod_spec


def workload_manifest(
    cluster: Cluster,
    spec: AddonSpec,
    version: AddonVersion,
    workload: dict[str, Any],
    managed: bool,
    configuration: dict[str, Any],
    restarted_at: str | None = None,
) -> dict[str, Any]:
    """The DaemonSet or Deployment of one of the add-on's workloads; ``restarted_at`` stamps its pod template so
    that its pods roll (EKS's rolling restart of an add-on; the annotation it uses is UNCONFIRMED, the sandbox
    writes kubectl's ``rollout restart`` one)."""
    selector = {"k8s-app": app_label(workload["name"])}
    template_metadata: dict[str, Any] = {
        "labels": {**((addon_objects().get(workload["name"]) or {}).get("pod_labels") or {}), **selector}
    }
    annotations = dict(workload.get("pod_annotations") or {})
    if restarted_at:
        annotations["kubectl.kubernetes.io/restartedAt"] = restarted_at
    if annotations:
        template_metadata["annotations"] = annotations
    manifest_spec: dict[str, Any] = {
        "selector": {"matchLabels": selector},
        "template": {"metadata": template_metadata, "spec": _pod_spec(cluster, version, workload)},
    }
    if workload.get("update_strategy"):
        manifest_spec["updateStrategy"] = workload["update_strategy"]
    if workload["kind"] != "DaemonSet":
        manifest_spec["replicas"] = int(configuration.get("replicaCount") or workload.get("replicas") or 1)
    return {
        "apiVersion": "apps/v1",
        "kind": workload["kind"],
        "metadata": {"name": workload["name"], "namespace": spec.namespace, "labels": _labels(spec, workload, managed)},
        "spec": manifest_spec,
    }


def apply_workloads(
    cluster: Cluster,
    spec: AddonSpec,
    version: str,
    managed: bool,
    service_account_role_arn: str | None = None,
    configuration: dict[str, Any] | None = None,
    restarts: dict[str, str] | None = None,
) -> None:
    """Create or replace the add-on's service accounts, then its DaemonSets/Deployments (image tag = version);
    ``restarts`` (service account → time) rolls the pods of the workloads running as those accounts."""
    addon_version = spec.version(version)
    for account in spec.service_accounts():
        existing = cluster.kube.get("v1", "ServiceAccount", account, spec.namespace)
        annotations = dict(((existing or {}).get("metadata") or {}).get("annotations") or {})
        if service_account_role_arn and account == spec.iam_service_account:
            # serviceAccountRoleArn is IRSA: EKS annotates the add-on's service account with the role.
            annotations[IRSA_ROLE_ANNOTATION] = service_account_role_arn
        metadata: dict[str, Any] = {"name": account, "namespace": spec.namespace}
        if annotations:
            metadata["annotations"] = annotations
        cluster.kube.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata})
    for workload in spec.workloads:
        for obj in companion_objects(cluster, spec.namespace, workload["name"]):
            if cluster.kube.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], spec.namespace) is None:
                # Created once; later updates leave a user's edits (a Corefile change) alone.
                cluster.kube.apply(obj)
        restarted_at = (restarts or {}).get(workload.get("service_account") or "")
        cluster.kube.apply(
            workload_manifest(cluster, spec, addon_version, workload, managed, configuration or {}, restarted_at)
        )


def companion_objects(cluster: Cluster, namespace: str, workload_name: str) -> list[dict[str, Any]]:
    """The Services and ConfigMaps that come with a workload (CoreDNS's kube-dns Service, kube-proxy's config)."""
    entry = addon_objects().get(workload_name) or {}
    service_cidr = ipaddress.ip_network(cluster.network_config.get("serviceIpv4Cidr") or "10.100.0.0/16")
    values = {
        "dns_ip": str(service_cidr.network_address + 10),
        # The API server URL pods use: the EKS endpoint form, https://<ID>.<suffix>.<region>.eks.amazonaws.com.
        "endpoint": f"https://{cluster.id.upper()}.gr7.{cluster.region}.eks.amazonaws.com",
    }
    objects: list[dict[str, Any]] = []
    for service in entry.get("services") or []:
        metadata = {"name": service["name"], "namespace": namespace, "labels": dict(service["labels"])}
        if service.get("annotations"):
            metadata["annotations"] = dict(service["annotations"])
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": metadata,
                "spec": {
                    "clusterIP": service["cluster_ip"].format(**values),
                    "selector": {"k8s-app": app_label(workload_name)},
                    "ports": [dict(port) for port in service["ports"]],
                },
            }
        )
    for config_map in entry.get("config_maps") or []:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": config_map["name"], "namespace": namespace, "labels": dict(config_map["labels"])},
                "data": {
                    key: text.replace("{endpoint}", values["endpoint"]) for key, text in config_map["data"].items()
                },
            }
        )
    return objects


def remove_workloads(cluster: Cluster, spec: AddonSpec) -> None:
    for workload in spec.workloads:
        cluster.kube.delete("apps/v1", workload["kind"], workload["name"], spec.namespace)
        for obj in companion_objects(cluster, spec.namespace, workload["name"]):
            cluster.kube.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], spec.namespace)
    for account in spec.service_accounts():
        cluster.kube.delete("v1", "ServiceAccount", account, spec.namespace)

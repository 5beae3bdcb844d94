"""Plain-data builders of pre-flight inputs (AWS responses and Kubernetes objects) shared by the tests."""

from __future__ import annotations

import dataclasses

from eks_runbooks.core.upgrade.plan import AddonRules
from eks_runbooks.core.upgrade.preflight import PreflightInputs

RULES = AddonRules(
    one_minor_at_a_time=frozenset({"vpc-cni"}),
    after_nodegroups=frozenset({"kube-proxy"}),
    update_order=("vpc-cni", "eks-pod-identity-agent", "coredns"),
)


def addon_catalogue(name: str, *versions: tuple[str, list[str]]) -> dict:
    """DescribeAddonVersions ``addons`` entry: (version, compatible cluster versions); the last is the default."""
    return {
        "addonName": name,
        "addonVersions": [
            {
                "addonVersion": version,
                "compatibilities": [
                    {"clusterVersion": cv, "defaultVersion": i == len(versions) - 1} for cv in clusters
                ],
            }
            for i, (version, clusters) in enumerate(versions)
        ],
    }


def addon(name: str, version: str, status: str = "ACTIVE", issues: list | None = None) -> dict:
    return {"addonName": name, "addonVersion": version, "status": status, "health": {"issues": issues or []}}


def nodegroup(name: str, version: str = "1.31", ami_type: str = "AL2023_x86_64_STANDARD", status: str = "ACTIVE"):
    return {"nodegroupName": name, "version": version, "amiType": ami_type, "status": status, "health": {"issues": []}}


def node(name: str, labels: dict | None = None, kubelet: str = "v1.31.7-eks-1234", os_image: str = "Amazon Linux 2023"):
    return {
        "metadata": {
            "name": name,
            "labels": labels if labels is not None else {"eks.amazonaws.com/nodegroup": "general"},
        },
        "status": {"nodeInfo": {"kubeletVersion": kubelet, "osImage": os_image}},
    }


def pod(namespace: str, name: str, labels: dict, node_name: str = "ip-10-0-1-1", phase: str = "Running") -> dict:
    return {
        "metadata": {"namespace": namespace, "name": name, "labels": labels},
        "spec": {"nodeName": node_name},
        "status": {"phase": phase},
    }


def pdb(namespace: str, name: str, selector: dict | None, allowed: int = 1, **spec) -> dict:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"selector": selector, **spec},
        "status": {"disruptionsAllowed": allowed, "currentHealthy": 2, "desiredHealthy": 1, "expectedPods": 2},
    }


def deployment(namespace: str, name: str, replicas: int | None = 2, probe: bool = True, kind_spec: dict | None = None):
    container = {"name": "app", **({"readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}} if probe else {})}
    spec = {"template": {"spec": {"containers": [container]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"metadata": {"namespace": namespace, "name": name}, "spec": spec}


def insight(name: str, status: str, version: str | None = "1.32", category: str = "UPGRADE_READINESS", **extra):
    return {
        "id": f"id-{name.lower().replace(' ', '-')}",
        "name": name,
        "category": category,
        "kubernetesVersion": version,
        "insightStatus": {"status": status, "reason": f"{name} reason"},
        **extra,
    }


def healthy_inputs(**overrides) -> PreflightInputs:
    """A cluster on 1.31 about to hop to 1.32, with nothing wrong."""
    base = PreflightInputs(
        cluster_name="payments",
        cluster={
            "name": "payments",
            "version": "1.31",
            "status": "ACTIVE",
            "resourcesVpcConfig": {"subnetIds": ["subnet-a", "subnet-b", "subnet-c"]},
        },
        hop_from="1.31",
        hop_to="1.32",
        updates=[{"id": "u-old", "type": "VersionUpdate", "status": "Successful", "params": []}],
        nodegroups=[nodegroup("general")],
        addons=[addon("coredns", "v1.11.4-eksbuild.22"), addon("vpc-cni", "v1.19.0-eksbuild.1")],
        addon_versions=[
            addon_catalogue("coredns", ("v1.11.4-eksbuild.22", ["1.31"]), ("v1.11.4-eksbuild.40", ["1.31", "1.32"])),
            addon_catalogue(
                "vpc-cni", ("v1.19.0-eksbuild.1", ["1.31", "1.32"]), ("v1.20.1-eksbuild.3", ["1.31", "1.32"])
            ),
        ],
        subnets=[{"SubnetId": s, "AvailableIpAddressCount": 200} for s in ("subnet-a", "subnet-b", "subnet-c")],
        insights=[insight("Deprecated APIs removed in Kubernetes v1.32", "PASSING")],
        nodes=[node("ip-10-0-1-1")],
        pods=[pod("shop", "web-1", {"app": "web"}), pod("shop", "web-2", {"app": "web"})],
        pdbs=[pdb("shop", "web", {"matchLabels": {"app": "web"}}, maxUnavailable=1)],
        deployments=[deployment("shop", "web")],
        statefulsets=[],
        deprecation_findings=[],
        addon_rules=RULES,
    )
    return dataclasses.replace(base, **overrides)

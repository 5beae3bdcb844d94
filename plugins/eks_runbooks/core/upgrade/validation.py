"""Is the hop really done? The checks that must all hold before the next hop may start.

A hop is done when the control plane runs the hop's version, every node is Ready at it, the kube-system
DaemonSets have rolled out and are ready, CoreDNS is ready, every add-on is ACTIVE without health issues —
and no workload that was available at pre-flight has become unavailable. The last one needs a baseline:
``snapshot_workloads`` runs at pre-flight, ``validate_hop`` compares against it after the node groups.

Right after kube-proxy's update its DaemonSet is still replacing pods node by node, and workloads moved by the
drain are still starting: the validation step looks again until they converge, for at most
``convergence_timeout`` (sized from the cluster's node count), then names what did not converge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from eks_runbooks.core.eks.versions import kubelet_minor, minor_of

NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"
FARGATE_LABEL = "eks.amazonaws.com/compute-type"


@dataclass(frozen=True)
class WorkloadState:
    """Availability of one Deployment, StatefulSet or DaemonSet at one moment."""

    desired: int
    available: int

    @property
    def is_available(self) -> bool:
        return self.available >= self.desired


#: "namespace/Kind/name" → state, taken at pre-flight and compared after the node groups.
WorkloadSnapshot = dict[str, WorkloadState]


@dataclass(frozen=True)
class ValidationProblem:
    """One reason the hop is not done, naming what to look at."""

    check: str
    detail: str
    objects: tuple[str, ...] = ()

    @property
    def may_converge(self) -> bool:
        """Whether waiting can fix it: rollouts, readiness and add-on updates settle; a control plane at the wrong
        version does not."""
        return self.check != "control-plane"


#: Per node, how long a DaemonSet may take to replace its pod there and see it Ready: kube-proxy and vpc-cni roll
#: node by node (maxUnavailable 1 or 10 %), each new pod pulls its image and passes its readiness probe
#: (seconds to a minute; a margin for slow image pulls).
POD_STARTUP_BUDGET_PER_NODE = timedelta(minutes=2)
#: However small the cluster, workloads rescheduled by the drain get this long to turn available again.
MIN_CONVERGENCE = timedelta(minutes=5)


def convergence_timeout(node_count: int) -> timedelta:
    """How long validation waits for DaemonSets and workloads to converge: a DaemonSet rollout visits every node."""
    return max(MIN_CONVERGENCE, node_count * POD_STARTUP_BUDGET_PER_NODE)


def still_converging(problems: Iterable[ValidationProblem]) -> bool:
    """Whether validation should look again: there are problems, and waiting can fix every one of them."""
    problems = list(problems)
    return bool(problems) and all(problem.may_converge for problem in problems)


def snapshot_workloads(
    deployments: Iterable[Mapping[str, Any]],
    statefulsets: Iterable[Mapping[str, Any]],
    daemonsets: Iterable[Mapping[str, Any]],
) -> WorkloadSnapshot:
    """How available every workload is now (Kubernetes objects as the API serves them)."""
    snapshot: WorkloadSnapshot = {}
    for kind, objects, desired_field, available_field in (
        ("Deployment", deployments, ("spec", "replicas"), ("status", "availableReplicas")),
        ("StatefulSet", statefulsets, ("spec", "replicas"), ("status", "readyReplicas")),
        ("DaemonSet", daemonsets, ("status", "desiredNumberScheduled"), ("status", "numberAvailable")),
    ):
        for obj in objects:
            snapshot[_workload_key(kind, obj)] = WorkloadState(
                desired=int(_field(obj, desired_field, default=1)),
                available=int(_field(obj, available_field, default=0)),
            )
    return snapshot


def validate_hop(
    hop_version: str,
    cluster: Mapping[str, Any],
    nodes: Iterable[Mapping[str, Any]],
    addons: Iterable[Mapping[str, Any]],
    workloads_now: WorkloadSnapshot,
    workloads_at_preflight: WorkloadSnapshot,
    kube_system_daemonsets: Iterable[Mapping[str, Any]],
    coredns: Mapping[str, Any] | None,
) -> list[ValidationProblem]:
    """Every reason the hop to ``hop_version`` is not finished; an empty list means the next hop may start."""
    problems: list[ValidationProblem] = []
    if cluster.get("version") != hop_version or cluster.get("status") != "ACTIVE":
        problems.append(
            ValidationProblem(
                "control-plane",
                f"control plane is {cluster.get('version')} ({cluster.get('status')}), expected {hop_version} (ACTIVE)",
            )
        )
    problems += _node_problems(hop_version, nodes)
    problems += _daemonset_problems(kube_system_daemonsets)
    if coredns is None or int(_field(coredns, ("status", "readyReplicas"), 0)) < int(
        _field(coredns, ("spec", "replicas"), 1)
    ):
        problems.append(ValidationProblem("coredns", "CoreDNS is not ready", ("kube-system/Deployment/coredns",)))
    for addon in addons:
        issues = (addon.get("health") or {}).get("issues") or []
        if addon.get("status") != "ACTIVE" or issues:
            described = "; ".join(f"{issue.get('code')}: {issue.get('message')}" for issue in issues)
            problems.append(
                ValidationProblem(
                    "addons",
                    f"add-on {addon['addonName']} is {addon.get('status')}" + (f" ({described})" if described else ""),
                    (f"addon/{addon['addonName']}",),
                )
            )
    newly_unavailable = sorted(
        key
        for key, before in workloads_at_preflight.items()
        if before.is_available and not workloads_now.get(key, WorkloadState(before.desired, 0)).is_available
    )
    if newly_unavailable:
        problems.append(
            ValidationProblem(
                "workloads",
                f"{len(newly_unavailable)} workload(s) available at pre-flight are unavailable now",
                tuple(newly_unavailable),
            )
        )
    return problems


def _node_problems(hop_version: str, nodes: Iterable[Mapping[str, Any]]) -> list[ValidationProblem]:
    """Managed node group nodes must be Ready at the hop's version; Fargate and self-managed nodes only Ready.

    Self-managed and Fargate nodes are not moved by this runbook (they are reported as follow-ups at
    pre-flight), so only their readiness is checked here.
    """
    not_ready, behind = [], []
    target_minor = minor_of(hop_version)
    for node in nodes:
        name = node["metadata"]["name"]
        labels = node["metadata"].get("labels") or {}
        conditions = {c["type"]: c["status"] for c in (node.get("status") or {}).get("conditions", [])}
        if conditions.get("Ready") != "True":
            not_ready.append(name)
        kubelet = (node.get("status") or {}).get("nodeInfo", {}).get("kubeletVersion", "")
        if NODEGROUP_LABEL in labels and kubelet_minor(kubelet) != target_minor:
            behind.append(f"{name} ({labels[NODEGROUP_LABEL]}, {kubelet})")
    problems = []
    if not_ready:
        problems.append(ValidationProblem("nodes", f"{len(not_ready)} node(s) not Ready", tuple(sorted(not_ready))))
    if behind:
        problems.append(
            ValidationProblem(
                "nodes", f"{len(behind)} managed node(s) not at Kubernetes {hop_version}", tuple(sorted(behind))
            )
        )
    return problems


def _daemonset_problems(daemonsets: Iterable[Mapping[str, Any]]) -> list[ValidationProblem]:
    unrolled = []
    for daemonset in daemonsets:
        status = daemonset.get("status") or {}
        desired = int(status.get("desiredNumberScheduled", 0))
        if int(status.get("updatedNumberScheduled", 0)) < desired or int(status.get("numberReady", 0)) < desired:
            unrolled.append(_workload_key("DaemonSet", daemonset))
    if not unrolled:
        return []
    return [
        ValidationProblem("kube-system", f"{len(unrolled)} kube-system DaemonSet(s) not rolled out", tuple(unrolled))
    ]


def object_key(kind: str, namespace: str | None, name: str) -> str:
    """``namespace/Kind/name`` (``Kind/name`` when cluster-scoped): how findings and snapshots name objects."""
    return f"{namespace}/{kind}/{name}" if namespace else f"{kind}/{name}"


def _workload_key(kind: str, obj: Mapping[str, Any]) -> str:
    return object_key(kind, obj["metadata"].get("namespace"), obj["metadata"]["name"])


def _field(obj: Mapping[str, Any], path: tuple[str, ...], default: Any) -> Any:
    value: Any = obj
    for part in path:
        if not isinstance(value, Mapping) or value.get(part) is None:
            return default
        value = value[part]
    return value

"""Pre-flight checks of what runs in the cluster: removed APIs, and what the node-group drain will do to workloads."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eks_runbooks.core.catalogue import Outcome, failed, listed, noted, passed, warned
from eks_runbooks.core.eks.versions import minor_of
from eks_runbooks.core.kubernetes.deprecations import RemovedApiClients, find_removed_api_clients, shows_use
from eks_runbooks.core.kubernetes.namespaces import system_namespaces
from eks_runbooks.core.upgrade.checks.nodes import NodeKind, node_kind
from eks_runbooks.core.upgrade.checks.registry import PreflightInputs, check
from eks_runbooks.core.upgrade.validation import NODEGROUP_LABEL, object_key


def _key(kind: str, obj: Mapping[str, Any]) -> str:
    return object_key(kind, obj["metadata"].get("namespace"), obj["metadata"]["name"])


@check("K8S-REMOVED-APIS")
def no_object_uses_a_removed_api(inputs: PreflightInputs) -> list[Outcome]:
    name, hop_minor = inputs.cluster_name, minor_of(inputs.hop_to)
    # Anything removed in the hop's version or before is unreadable once the hop is done; later removals are
    # the business of later hops, and are only mentioned here.
    now = [finding for finding in inputs.deprecation_findings if minor_of(_attr(finding, "removed_in")) <= hop_minor]
    later = [finding for finding in inputs.deprecation_findings if minor_of(_attr(finding, "removed_in")) > hop_minor]
    in_use = [finding for finding in now if shows_use(_attr(finding, "sources") or ())]
    outcomes = [_object_in_use(name, finding) for finding in sorted(in_use, key=_finding_key)]
    clients = find_removed_api_clients(inputs.insights, inputs.hop_to, current_version=inputs.hop_from)
    outcomes += [_clients_calling(name, inputs.hop_to, entry) for entry in clients]
    served_only = sorted(_finding_key(finding) for finding in now if not shows_use(_attr(finding, "sources") or ()))
    if served_only:
        outcomes.append(
            noted(
                f"Cluster {name}: {len(served_only)} object(s) are served through apiVersions {inputs.hop_to} "
                "removes, as the apiserver serves every object through each version it still serves; no Helm "
                "release, last-applied annotation or managedFields entry shows they are written that way, so they "
                f"do not block: {listed(served_only)}.",
                served_only,
            )
        )
    if later:
        versions = sorted({_attr(finding, "removed_in") for finding in later}, key=minor_of)
        outcomes.append(
            noted(
                f"Cluster {name}: {len(later)} object(s) are of apiVersions removed in {', '.join(versions)}; "
                "a later hop will stop on those in use.",
                sorted(_finding_key(finding) for finding in later),
            )
        )
    if not in_use:
        outcomes.insert(
            0, passed(f"Cluster {name}: no object is in use through an apiVersion {inputs.hop_to} removes.")
        )
    return outcomes


def _object_in_use(cluster_name: str, finding: Any) -> Outcome:
    replacement = _attr(finding, "replacement")
    action = f"migrate it to {replacement}" if replacement else "remove it: the API has no replacement"
    return failed(
        f"Cluster {cluster_name}: {_finding_key(finding)} uses {_attr(finding, 'api_version')}, removed in "
        f"{_attr(finding, 'removed_in')} (found in {_sources(finding)}); {action}.",
        [_finding_key(finding)],
    )


def _clients_calling(cluster_name: str, hop_to: str, entry: RemovedApiClients) -> Outcome:
    """A warning, not a FAIL: the insight itself is ERROR then, and EKS-INSIGHTS-UPGRADE-READINESS blocks on it.
    Insights count 30 days, so a client already updated stays listed a while; ignoring that check (which also
    lets UpdateClusterVersion pass ``force``) must not also silence the objects this check finds."""
    move = f"move them to {entry.replaced_with}" if entry.replaced_with else "stop them calling it"
    return warned(
        f"Cluster {cluster_name}: EKS Insights saw client(s) {listed(list(entry.clients), limit=3)} call "
        f"{entry.usage} in the last 30 days, which {hop_to} no longer serves (stops in "
        f"{entry.stop_serving_version}); {move} before the upgrade (EKS-INSIGHTS-UPGRADE-READINESS blocks while "
        "the insight is ERROR).",
        [entry.usage],
    )


def _attr(finding: Any, name: str) -> Any:
    """Deprecation findings arrive as objects or as dicts (e.g. back from XCom); read either."""
    return finding.get(name) if isinstance(finding, Mapping) else getattr(finding, name, None)


def _finding_key(finding: Any) -> str:
    return object_key(_attr(finding, "kind"), _attr(finding, "namespace"), _attr(finding, "name"))


def _sources(finding: Any) -> str:
    return ", ".join(str(getattr(source, "value", source)) for source in _attr(finding, "sources") or ()) or "?"


@dataclass(frozen=True)
class DrainBlocker:
    """A PodDisruptionBudget that lets none of its pods on managed nodes be evicted, so a node drain stalls."""

    namespace: str
    name: str
    reason: str
    pods: tuple[str, ...]
    nodegroups: tuple[str, ...]

    def describe(self) -> str:
        """``PodDisruptionBudget ns/name has maxUnavailable 0 and protects pod(s) a, b``."""
        return f"PodDisruptionBudget {self.namespace}/{self.name} {self.reason} and protects pod(s) {listed(self.pods)}"

    @property
    def objects(self) -> list[str]:
        return [
            object_key("PodDisruptionBudget", self.namespace, self.name),
            *(object_key("Pod", self.namespace, pod) for pod in self.pods),
        ]


def find_drain_blockers(
    pdbs: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    nodes: Iterable[Mapping[str, Any]],
    only_nodes: Iterable[str] | None = None,
) -> list[DrainBlocker]:
    """The PodDisruptionBudgets that refuse every eviction of their pods on managed nodes (``only_nodes``: on
    these nodes only — EKS names the nodes of a failed drain, not the pods or PDBs)."""
    managed_nodes = {
        node["metadata"]["name"]: node["metadata"]["labels"][NODEGROUP_LABEL]
        for node in nodes
        if node_kind(node) is NodeKind.MANAGED
    }
    if only_nodes is not None:
        managed_nodes = {name: group for name, group in managed_nodes.items() if name in set(only_nodes)}
    pods = list(pods)
    blockers = []
    for pdb in sorted(pdbs, key=lambda pdb: _key("PodDisruptionBudget", pdb)):
        namespace = pdb["metadata"].get("namespace")
        selected = [pod for pod in _running_pods(pods, namespace) if _selects(pdb["spec"].get("selector"), pod)]
        on_managed = [pod for pod in selected if pod["spec"].get("nodeName") in managed_nodes]
        reason = _why_no_disruption_is_allowed(pdb, len(selected))
        if on_managed and reason is not None:
            blockers.append(
                DrainBlocker(
                    namespace=namespace,
                    name=pdb["metadata"]["name"],
                    reason=reason,
                    pods=tuple(sorted(pod["metadata"]["name"] for pod in on_managed)),
                    nodegroups=tuple(sorted({managed_nodes[pod["spec"]["nodeName"]] for pod in on_managed})),
                )
            )
    return blockers


@check("K8S-PDB-BLOCKS-DRAIN")
def no_pdb_blocks_the_drain(inputs: PreflightInputs) -> list[Outcome]:
    name = inputs.cluster_name
    outcomes = []
    for blocker in find_drain_blockers(inputs.pdbs, inputs.pods, inputs.nodes):
        detail = (
            f"Cluster {name}: PodDisruptionBudget {blocker.namespace}/{blocker.name} {blocker.reason}, so draining "
            f"node group(s) {', '.join(blocker.nodegroups)} cannot evict pod(s) {listed(blocker.pods)}"
        )
        if inputs.force_node_drain:
            outcomes.append(
                warned(f"{detail}; force_node_drain is set, so they are evicted regardless.", blocker.objects)
            )
        else:
            outcomes.append(
                failed(
                    f"{detail} — fix with `kubectl -n {blocker.namespace} edit pdb {blocker.name}`.", blocker.objects
                )
            )
    return outcomes or [
        passed(f"Cluster {name}: none of the {len(inputs.pdbs)} PodDisruptionBudgets blocks draining managed nodes.")
    ]


def _running_pods(pods: Iterable[Mapping[str, Any]], namespace: str | None) -> list[Mapping[str, Any]]:
    return [
        pod
        for pod in pods
        if pod["metadata"].get("namespace") == namespace and (pod.get("status") or {}).get("phase") == "Running"
    ]


def _selects(selector: Mapping[str, Any] | None, pod: Mapping[str, Any]) -> bool:
    """Label selector semantics; policy/v1: a null selector selects nothing, an empty one every pod."""
    if selector is None:
        return False
    labels = pod["metadata"].get("labels") or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        matches = {
            "In": key in labels and labels[key] in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }.get(operator, False)
        if not matches:
            return False
    return True


def _why_no_disruption_is_allowed(pdb: Mapping[str, Any], selected_pods: int) -> str | None:
    """Why the budget lets no pod go, or None if it lets at least one go."""
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    expected = int(status.get("expectedPods", selected_pods))
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if max_unavailable in (0, "0%"):
        return "has maxUnavailable 0"
    if min_available is not None and expected and _scaled(min_available, expected) >= expected:
        return f"has minAvailable {min_available} for {expected} pod(s)"
    if status.get("disruptionsAllowed") == 0:
        return (
            f"allows 0 disruptions now ({status.get('currentHealthy', '?')} healthy, "
            f"{status.get('desiredHealthy', '?')} required)"
        )
    return None


def _scaled(value: int | str, total: int) -> int:
    """An IntOrString of a PDB: ``50%`` of 3 pods is 2 (the disruption controller rounds minAvailable up)."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


@check("K8S-SINGLE-REPLICA")
def workloads_run_more_than_one_replica(inputs: PreflightInputs) -> list[Outcome]:
    single = sorted(
        _key(kind, workload)
        for kind, workloads in (("Deployment", inputs.deployments), ("StatefulSet", inputs.statefulsets))
        for workload in workloads
        if (workload.get("spec") or {}).get("replicas", 1) == 1  # replicas defaults to 1 when omitted
    )
    if not single:
        return [passed(f"Cluster {inputs.cluster_name}: no Deployment or StatefulSet runs a single replica.")]
    return [
        warned(
            f"Cluster {inputs.cluster_name}: {len(single)} workload(s) run a single replica and are unavailable "
            f"while it moves to a new node: {listed(single)}.",
            single,
        )
    ]


@check("K8S-READINESS-PROBE")
def workload_containers_have_readiness_probes(inputs: PreflightInputs) -> list[Outcome]:
    without: dict[str, list[str]] = {}
    for kind, workloads in (("Deployment", inputs.deployments), ("StatefulSet", inputs.statefulsets)):
        for workload in workloads:
            if workload["metadata"].get("namespace") in system_namespaces():
                continue
            pod_spec = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
            missing = [
                container["name"]
                for container in pod_spec.get("containers") or []
                if not container.get("readinessProbe")
            ]
            if missing:
                without[_key(kind, workload)] = missing
    if not without:
        return [passed(f"Cluster {inputs.cluster_name}: every workload container has a readinessProbe.")]
    described = [f"{key} ({', '.join(containers)})" for key, containers in sorted(without.items())]
    return [
        warned(
            f"Cluster {inputs.cluster_name}: {len(without)} workload(s) have containers without a readinessProbe: "
            f"{listed(described)}.",
            sorted(without),
        )
    ]

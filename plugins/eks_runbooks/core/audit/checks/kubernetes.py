"""Checks of the cluster's Kubernetes objects: network policy, pod security, RBAC, workloads, aws-auth."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eks_runbooks.core.audit.compliance import ClusterFacts, audit_check
from eks_runbooks.core.catalogue import Outcome, failed, passed, warned
from eks_runbooks.core.kubernetes.namespaces import system_namespaces
from eks_runbooks.core.kubernetes.node_access import known_node_access_workloads, node_access

ANONYMOUS = frozenset({"system:anonymous", "system:unauthenticated"})
#: Kubernetes binds its public-info-viewer role (/version, /healthz) to system:unauthenticated by default.
EXPECTED_ANONYMOUS_ROLES = frozenset({"system:public-info-viewer"})
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"


@audit_check("K8S-NETWORK-POLICY")
def namespaces_have_network_policy(facts: ClusterFacts) -> Outcome:
    namespaces = _workload_namespaces(facts)
    covered = {policy["metadata"].get("namespace") for policy in facts.kubernetes.get("NetworkPolicy", [])}
    bare = [f"namespace/{name}" for name in namespaces if name not in covered]
    if bare:
        return failed(f"{len(bare)} namespace(s) without any NetworkPolicy", bare)
    return passed(f"{len(namespaces)} namespace(s), each with a NetworkPolicy")


@audit_check("K8S-POD-SECURITY")
def namespaces_enforce_pod_security(facts: ClusterFacts) -> Outcome:
    unlabelled = [
        f"namespace/{ns['metadata']['name']}"
        for ns in facts.kubernetes.get("Namespace", [])
        if ns["metadata"]["name"] not in system_namespaces()
        and not (ns["metadata"].get("labels") or {}).get(ENFORCE_LABEL)
    ]
    if unlabelled:
        return failed(f"{len(unlabelled)} namespace(s) without {ENFORCE_LABEL}", unlabelled)
    return passed("every namespace enforces a Pod Security Standard")


@audit_check("K8S-ANONYMOUS-RBAC")
def no_anonymous_bindings(facts: ClusterFacts) -> Outcome:
    bindings = [
        (kind, binding) for kind in ("ClusterRoleBinding", "RoleBinding") for binding in facts.kubernetes.get(kind, [])
    ]
    open_to_all = [
        f"{kind}/{_name(binding)} → {binding.get('roleRef', {}).get('name')}"
        for kind, binding in bindings
        if binding.get("roleRef", {}).get("name") not in EXPECTED_ANONYMOUS_ROLES
        and any(subject.get("name") in ANONYMOUS for subject in binding.get("subjects") or [])
    ]
    if open_to_all:
        return failed("bindings grant access to anonymous or unauthenticated users", open_to_all)
    return passed(f"{len(bindings)} binding(s), none to anonymous users")


@audit_check("K8S-DEFAULT-SA")
def workloads_not_on_default_service_account(facts: ClusterFacts) -> Outcome:
    default_automount = {
        sa["metadata"].get("namespace"): sa.get("automountServiceAccountToken", True)
        for sa in facts.kubernetes.get("ServiceAccount", [])
        if sa["metadata"]["name"] == "default"
    }
    offenders = _owners(
        pod
        for pod in _workload_pods(facts)
        if pod["spec"].get("serviceAccountName", "default") == "default"
        and pod["spec"].get(
            "automountServiceAccountToken", default_automount.get(pod["metadata"].get("namespace"), True)
        )
    )
    if offenders:
        return failed("workloads run as the default service account with its token mounted", offenders)
    return passed("no workload runs as a default service account with a mounted token")


@audit_check("K8S-PRIVILEGED")
def no_privileged_workloads(facts: ClusterFacts) -> Outcome:
    """Every namespace, kube-system included: only the known EKS add-on workloads may reach their node, and only
    as far as the allow-list says (include/kubernetes/eks-node-access-workloads.yaml)."""
    known = known_node_access_workloads()
    risky, allowed = [], set()
    for pod in facts.kubernetes.get("Pod", []):
        access = node_access(pod["spec"])
        owner = _owner(pod)
        if not access:
            continue
        if set(access) <= known.get(owner, frozenset()):
            allowed.add(owner)
            continue
        risky.append((pod, [reason for reasons in access.values() for reason in reasons]))
    if risky:
        described = sorted({f"{owner}: {', '.join(reasons)}" for owner, reasons in _owned(risky)})
        return failed("workloads with access to their node", described)
    return passed(
        "no privileged container, hostPath or hostNetwork"
        + (f" except {len(allowed)} known EKS add-on workload(s)" if allowed else "")
    )


@audit_check("EKS-AUTH-MODE")
def access_entries_in_use(facts: ClusterFacts) -> Outcome:
    mode = facts.cluster.get("accessConfig", {}).get("authenticationMode", "CONFIG_MAP")
    aws_auth = next((cm for cm in facts.kubernetes.get("ConfigMap", []) if _name(cm) == "aws-auth"), {"data": {}})
    mappings = [
        key for key in ("mapRoles", "mapUsers", "mapAccounts") if (aws_auth.get("data") or {}).get(key, "").strip()
    ]
    if mode == "CONFIG_MAP":
        return failed("authentication through the aws-auth ConfigMap only; access entries unused")
    if mappings and mode == "API_AND_CONFIG_MAP":
        return warned(f"{mode}; aws-auth still holds {', '.join(mappings)} — move them to access entries")
    if mode == "API_AND_CONFIG_MAP":
        return passed(f"{mode}; aws-auth holds no mappings")
    return passed(f"{mode}: access entries only")


def _workload_namespaces(facts: ClusterFacts) -> list[str]:
    return [
        ns["metadata"]["name"]
        for ns in facts.kubernetes.get("Namespace", [])
        if ns["metadata"]["name"] not in system_namespaces()
    ]


def _workload_pods(facts: ClusterFacts) -> list[dict[str, Any]]:
    return [
        pod for pod in facts.kubernetes.get("Pod", []) if pod["metadata"].get("namespace") not in system_namespaces()
    ]


def _owners(pods: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({_owner(pod) for pod in pods})


def _owned(pods_with_reasons: Iterable[tuple[dict[str, Any], list[str]]]) -> list[tuple[str, list[str]]]:
    return [(_owner(pod), reasons) for pod, reasons in pods_with_reasons]


def _owner(pod: dict[str, Any]) -> str:
    """The workload a pod belongs to: its controller (ReplicaSet names lose their hash), else the pod."""
    namespace = pod["metadata"].get("namespace")
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            name = ref["name"].rsplit("-", 1)[0] if ref["kind"] == "ReplicaSet" else ref["name"]
            kind = "Deployment" if ref["kind"] == "ReplicaSet" else ref["kind"]
            return f"{namespace}/{kind}/{name}"
    return f"{namespace}/Pod/{_name(pod)}"


def _name(obj: dict[str, Any]) -> str:
    return obj["metadata"]["name"]

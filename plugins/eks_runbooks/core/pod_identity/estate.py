"""The cluster's IRSA estate: each service account on IRSA, the workloads that run as it, and their pods.

Built from Kubernetes objects as the API serves them (camelCase dicts). A pod's credentials are judged the
way its SDK would pick them: IRSA variables win over Pod Identity's (``facts.environment``), so a pod carrying
both still uses IRSA.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from eks_runbooks.core.pod_identity.facts import PodIdentityFacts, load_pod_identity_facts

#: Workload kinds a rollout restart re-creates; CronJobs pick the change up at their next run.
RESTARTABLE_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
CONTROLLER_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job")
#: Container states of a container that keeps failing (kubelet back-off, or a failed start).
FAILING_REASONS = frozenset({"CrashLoopBackOff", "Error", "CreateContainerConfigError", "RunContainerError"})


class Credentials(StrEnum):
    POD_IDENTITY = "pod-identity"
    IRSA = "irsa"
    NONE = "none"


class Compute(StrEnum):
    EC2_LINUX = "ec2-linux"
    FARGATE = "fargate"
    WINDOWS = "windows"
    UNSCHEDULED = "unscheduled"


@dataclass(frozen=True)
class PodView:
    """One pod as the migration sees it."""

    name: str
    node: str | None
    compute: Compute
    credentials: Credentials
    ready: bool
    failing: tuple[str, ...]  # containers crash-looping or failing to start
    created_at: str
    irsa_role: str | None = None  # the role its IRSA variables name, when it uses IRSA

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "node": self.node,
            "compute": str(self.compute),
            "credentials": str(self.credentials),
            "ready": self.ready,
            "failing": list(self.failing),
            "created_at": self.created_at,
            "irsa_role": self.irsa_role,
        }


@dataclass(frozen=True)
class Workload:
    """A workload (or bare pod) running as a service account."""

    kind: str
    namespace: str
    name: str
    service_account: str
    images: tuple[str, ...] = ()
    hard_coded_irsa: tuple[str, ...] = ()  # containers whose spec sets IRSA variables itself
    declared_sdks: tuple[str, ...] = ()  # the eks-runbooks/aws-sdk annotation, "<sdk>/<version>" each
    template_labels: Mapping[str, str] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    pods: tuple[PodView, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def restartable(self) -> bool:
        return self.kind in RESTARTABLE_KINDS

    def as_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "images": list(self.images),
            "hard_coded_irsa": list(self.hard_coded_irsa),
            "declared_sdks": list(self.declared_sdks),
            "pods": [pod.as_dict() for pod in self.pods],
        }


@dataclass(frozen=True)
class ServiceAccountUse:
    """A service account in scope of the migration: annotated for IRSA, or associated by an earlier run."""

    namespace: str
    name: str
    role_arn: str | None  # the IRSA annotation (None once cleanup removed it)
    workloads: tuple[Workload, ...] = ()
    addon: str | None = None  # the managed add-on that owns the service account
    returned: str | None = None  # why an earlier run returned it to IRSA (its annotation), if one did

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def pods(self) -> tuple[PodView, ...]:
        return tuple(pod for workload in self.workloads for pod in workload.pods)


@dataclass(frozen=True)
class KubernetesObjects:
    """The lists the estate is built from (as the Kubernetes API serves them)."""

    service_accounts: Sequence[Mapping[str, Any]] = ()
    pods: Sequence[Mapping[str, Any]] = ()
    nodes: Sequence[Mapping[str, Any]] = ()
    replica_sets: Sequence[Mapping[str, Any]] = ()
    deployments: Sequence[Mapping[str, Any]] = ()
    stateful_sets: Sequence[Mapping[str, Any]] = ()
    daemon_sets: Sequence[Mapping[str, Any]] = ()
    jobs: Sequence[Mapping[str, Any]] = ()
    cron_jobs: Sequence[Mapping[str, Any]] = ()


def map_irsa_estate(
    objects: KubernetesObjects,
    *,
    addon_service_accounts: Mapping[str, str] | None = None,
    also: Iterable[str] = (),
    facts: PodIdentityFacts | None = None,
) -> list[ServiceAccountUse]:
    """Every service account annotated for IRSA, plus those named in ``also`` (``namespace/name``), with the
    workloads running as it; sorted by namespace and name.

    :param addon_service_accounts: ``namespace/name`` → the add-on owning the service account.
    """
    facts = facts or load_pod_identity_facts()
    owners = addon_service_accounts or {}
    wanted = set(also)
    accounts = {}
    for account in objects.service_accounts:
        metadata = account.get("metadata") or {}
        key = f"{metadata.get('namespace')}/{metadata.get('name')}"
        annotations = metadata.get("annotations") or {}
        role = annotations.get(facts.irsa_annotation)
        if role or key in wanted:
            accounts[key] = (metadata["namespace"], metadata["name"], role, annotations.get(facts.returned_annotation))
    workloads = _workloads(objects, facts)
    return [
        ServiceAccountUse(
            namespace=namespace,
            name=name,
            role_arn=role,
            workloads=tuple(w for w in workloads if (w.namespace, w.service_account) == (namespace, name)),
            addon=owners.get(key),
            returned=returned,
        )
        for key, (namespace, name, role, returned) in sorted(accounts.items())
    ]


def _workloads(objects: KubernetesObjects, facts: PodIdentityFacts) -> list[Workload]:
    nodes = {node["metadata"]["name"]: node for node in objects.nodes}
    owner_of = _owner_index(objects)
    pods_by_owner: dict[str, list[PodView]] = {}
    bare: list[Workload] = []
    for pod in objects.pods:
        view = pod_view(pod, nodes, facts)
        owner = _top_owner(pod, owner_of)
        if owner is None:
            bare.append(_workload("Pod", pod, pod.get("spec") or {}, facts, (view,)))
        else:
            pods_by_owner.setdefault(owner, []).append(view)
    found = []
    for kind, items in (
        ("Deployment", objects.deployments),
        ("StatefulSet", objects.stateful_sets),
        ("DaemonSet", objects.daemon_sets),
        ("CronJob", objects.cron_jobs),
        ("Job", objects.jobs),
    ):
        for item in items:
            if kind == "Job" and _owner_refs(item, "CronJob"):
                continue  # its CronJob stands for it
            template = _template(kind, item)
            pods = tuple(pods_by_owner.get(f"{kind}/{item['metadata']['namespace']}/{item['metadata']['name']}", ()))
            found.append(_workload(kind, item, template, facts, pods))
    return found + bare


def _template(kind: str, item: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = item.get("spec") or {}
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return spec.get("template") or {}


def _workload(
    kind: str, item: Mapping[str, Any], template: Mapping[str, Any], facts: PodIdentityFacts, pods: tuple[PodView, ...]
) -> Workload:
    metadata = item["metadata"]
    spec = (template.get("spec") if kind != "Pod" else template) or {}
    template_metadata = (template.get("metadata") if kind != "Pod" else metadata) or {}
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    annotations = {**(metadata.get("annotations") or {}), **(template_metadata.get("annotations") or {})}
    declared = annotations.get(facts.sdk_annotation, "")
    hard_coded = () if kind == "Pod" else tuple(c["name"] for c in containers if _env_names(c) >= set(facts.irsa_env))
    return Workload(
        kind=kind,
        namespace=metadata["namespace"],
        name=metadata["name"],
        service_account=spec.get("serviceAccountName") or "default",
        images=tuple(dict.fromkeys(c.get("image", "") for c in containers)),
        hard_coded_irsa=hard_coded,
        declared_sdks=tuple(part.strip() for part in declared.split(",") if part.strip()),
        template_labels=dict(template_metadata.get("labels") or {}),
        node_selector=dict(spec.get("nodeSelector") or {}),
        pods=pods,
    )


def _env_names(container: Mapping[str, Any]) -> set[str]:
    return {entry.get("name") for entry in container.get("env") or []}


def _owner_refs(item: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    return [ref for ref in (item.get("metadata") or {}).get("ownerReferences") or [] if ref.get("kind") == kind]


def _owner_index(objects: KubernetesObjects) -> dict[str, str]:
    """``ReplicaSet/ns/name`` → its Deployment, ``Job/ns/name`` → its CronJob (or itself)."""
    index: dict[str, str] = {}
    for kind, items, parent in (("ReplicaSet", objects.replica_sets, "Deployment"), ("Job", objects.jobs, "CronJob")):
        for item in items:
            namespace, name = item["metadata"]["namespace"], item["metadata"]["name"]
            owners = _owner_refs(item, parent)
            index[f"{kind}/{namespace}/{name}"] = (
                f"{parent}/{namespace}/{owners[0]['name']}" if owners else f"{kind}/{namespace}/{name}"
            )
    return index


def _top_owner(pod: Mapping[str, Any], owner_of: Mapping[str, str]) -> str | None:
    namespace = pod["metadata"]["namespace"]
    for ref in pod["metadata"].get("ownerReferences") or []:
        key = f"{ref.get('kind')}/{namespace}/{ref.get('name')}"
        if ref.get("kind") in ("ReplicaSet", "Job"):
            return owner_of.get(key, key)
        if ref.get("kind") in CONTROLLER_KINDS:
            return key
    return None


def pod_view(
    pod: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]], facts: PodIdentityFacts | None = None
) -> PodView:
    """How a pod stands: where it runs, which credentials its SDK would use, whether it is Ready and healthy."""
    facts = facts or load_pod_identity_facts()
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    node_name = spec.get("nodeName")
    return PodView(
        name=pod["metadata"]["name"],
        node=node_name,
        compute=_compute(spec, nodes.get(node_name or ""), facts),
        credentials=pod_credentials(pod, facts),
        ready=any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []),
        failing=tuple(
            c["name"]
            for c in status.get("containerStatuses") or []
            if ((c.get("state") or {}).get("waiting") or {}).get("reason") in FAILING_REASONS
            or ((c.get("state") or {}).get("terminated") or {}).get("exitCode") not in (None, 0)
        ),
        created_at=pod["metadata"].get("creationTimestamp") or "",
        irsa_role=irsa_role_of(pod),
    )


def irsa_role_of(pod: Mapping[str, Any]) -> str | None:
    """The role a pod's IRSA variables name (AWS_ROLE_ARN of its first container that has one)."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        for entry in container.get("env") or []:
            if entry.get("name") == "AWS_ROLE_ARN" and entry.get("value"):
                return entry["value"]
    return None


def _compute(spec: Mapping[str, Any], node: Mapping[str, Any] | None, facts: PodIdentityFacts) -> Compute:
    labels = dict((node or {}).get("metadata", {}).get("labels") or {})
    fargate_key, fargate = facts.fargate_label
    os_key, windows = facts.windows_label
    if labels.get(fargate_key) == fargate or spec.get("schedulerName") == "fargate-scheduler":
        return Compute.FARGATE
    if labels.get(os_key) == windows or (spec.get("nodeSelector") or {}).get(os_key) == windows:
        return Compute.WINDOWS
    return Compute.EC2_LINUX if node else Compute.UNSCHEDULED


def pod_credentials(pod: Mapping[str, Any], facts: PodIdentityFacts | None = None) -> Credentials:
    """The credentials the pod's SDKs use: IRSA when any container carries IRSA's variables (they win),
    Pod Identity when its containers carry Pod Identity's, else none."""
    facts = facts or load_pod_identity_facts()
    containers = (pod.get("spec") or {}).get("containers") or []
    names = [_env_names(container) for container in containers]
    if any(found >= set(facts.irsa_env) for found in names):
        return Credentials.IRSA
    if any(found >= set(facts.pod_identity_env) for found in names):
        return Credentials.POD_IDENTITY
    return Credentials.NONE

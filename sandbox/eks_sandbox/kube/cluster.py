"""``KubeCluster``: the Kubernetes side of one simulated EKS cluster (storage, admission, controllers).

The EKS simulator drives it directly (nodes from managed node groups, add-on workloads, control-plane version)
and ``eks_sandbox.kube.api`` serves it over HTTP to kubectl and the Kubernetes clients. Every method is called
with the sandbox lock held, and every write ends with the controllers run to a fixed point
(see ``controllers.reconcile``), so both paths see the same settled cluster.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import yaml

from eks_sandbox.clock import SimClock
from eks_sandbox.eks.timeline import Timeline
from eks_sandbox.kube.auth import AccessSource
from eks_sandbox.kube.controllers import reconcile
from eks_sandbox.kube.controllers.volumes import admit_claim
from eks_sandbox.kube.credentials import ContainerRun, Credentials
from eks_sandbox.kube.defaults import apply_defaults, qos_class, service_account_volume, validate
from eks_sandbox.kube.disruption import (
    eviction_allowed,
    eviction_refused,
    matching_budgets,
    too_many_budgets,
)
from eks_sandbox.kube.errors import KubeApiError
from eks_sandbox.kube.managed_fields import FieldManager, record_write
from eks_sandbox.kube.nodes import build_node, internal_ip_from_name, set_network_not_ready
from eks_sandbox.kube.rbac import seed_default_rbac
from eks_sandbox.kube.resources import ResourceType, load_catalogue, parse_minor, split_api_version
from eks_sandbox.kube.selectors import parse_field_selector, parse_label_selector
from eks_sandbox.kube.store import ObjectStore, clone
from eks_sandbox.kube.system import (
    APF_MANAGER,
    FLOWCONTROL_GROUP,
    convert_priority_level_spec,
    flow_control_objects,
    priority_classes,
    storage_class,
)

PodMutator = Callable[["KubeCluster", dict[str, Any]], None]
#: What one container's AWS SDK gets when it starts or refreshes (None: the container reads no AWS credentials).
CredentialCheck = Callable[["KubeCluster", dict[str, Any], dict[str, Any]], Credentials | None]
#: (cluster, node) -> whether the node's container network is ready
NetworkCheck = Callable[["KubeCluster", dict[str, Any]], bool]

#: Namespaces every cluster starts with.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
#: ClusterIP of the ``kubernetes`` service: first address of the EKS default service CIDR 10.100.0.0/16.
KUBERNETES_SERVICE_IP = "10.100.0.1"
#: The control plane's ENIs in the cluster's VPC, behind the kubernetes Service.
API_SERVER_ADDRESSES = ("172.16.42.10", "172.16.87.203")

_SERVER_SET_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "managedFields",
    "selfLink",
)
#: Who the apiserver itself writes as (bootstrap objects), and what EKS writes with (add-ons, aws-auth).
APISERVER_MANAGER = FieldManager("kube-apiserver")
EKS_MANAGER = FieldManager("eks")


@dataclass(frozen=True)
class EksLink:
    """What the Kubernetes side knows of its EKS cluster: the account and region its AWS resources (EBS volumes
    of PersistentVolumes) live in, and the control plane's patch version per minor (the calendar's)."""

    account: str = "123456789012"  # moto's default account, as unsigned requests get
    region: str = "us-east-1"
    patch_versions: Mapping[str, str] | None = None
    #: How long a started pod takes to turn Ready (simulated); zero makes every rollout settle at once.
    pod_startup: timedelta = timedelta(0)
    #: Where the cluster schedules its wake-ups (the EKS backend's timeline, so that ``settle`` finishes
    #: rollouts in order with drains); None: a timeline of its own, run before each Kubernetes request.
    #: Called as ``schedule(due, transition, clock_bound=...)`` (see ``Timeline.at``).
    schedule: Callable[..., None] | None = None


@dataclass
class ApiUsage:
    """How often one user agent called one group/version/resource, and when last (simulated clock)."""

    count: int
    last_request: datetime


@dataclass(frozen=True)
class EvictionBlock:
    """An eviction a PodDisruptionBudget refused while draining a node."""

    namespace: str
    pod: str
    disruption_budget: str


class KubeCluster:
    """The Kubernetes API of one EKS cluster: objects shaped exactly as the API serves them."""

    def __init__(self, name: str, version: str, clock: SimClock, link: EksLink | None = None) -> None:
        self.name = name
        self.version = _minor_string(version)
        self.clock = clock
        self.link = link or EksLink()
        self.patch_versions = dict(self.link.patch_versions or calendar_patch_versions())
        self.pod_startup = self.link.pod_startup
        #: Wake-ups of a cluster without an EKS side; see ``EksLink.schedule``.
        self.timeline = Timeline(clock)
        self._schedule = self.link.schedule or self.timeline.at
        self._wakeups: set[tuple[datetime, bool]] = set()
        #: The earliest pending wake-up (read without the lock by watches, to know when to look again).
        self.next_wakeup: datetime | None = None
        #: When each starting pod (by uid) turns Ready.
        self.pod_ready_at: dict[str, datetime] = {}
        self.catalogue = load_catalogue()
        self.store = ObjectStore(clock, seed=name)
        #: Admission for every Pod created (API or controller), after defaulting: IRSA / Pod Identity webhooks.
        self.pod_mutators: list[PodMutator] = []
        #: Schedulers besides the default one, run by every controller pass after it (EKS's Fargate scheduler).
        self.schedulers: list[Callable[[KubeCluster], None]] = []
        #: The kubelets' answer to "would this container's AWS SDK get credentials?" (installed by the EKS side).
        self.container_credentials: CredentialCheck | None = None
        #: The kubelets' answer to "is this node's container network (CNI) ready?" (installed by the EKS side);
        #: None: always. A node registers NotReady until it is (``controllers.node_network``).
        self.network_ready: NetworkCheck | None = None
        #: What the kubelets remember of each container (pod uid, container name) beyond its status.
        self.container_runs: dict[tuple[str, str], ContainerRun] = {}
        #: The subnet of each node the EKS side launched (node name -> CIDR): its pods' addresses come from it.
        self.node_subnets: dict[str, ipaddress.IPv4Network] = {}
        #: (group, version, resource) -> user agent -> usage; what EKS upgrade insights read.
        self.api_usage: dict[tuple[str, str, str], dict[str, ApiUsage]] = {}
        #: Who an authenticated IAM caller is in this cluster (access entries, aws-auth); None lets nobody in.
        self.access: AccessSource | None = None
        self._bootstrap()

    # --- simulated time --------------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The instant the controllers act at: the running transition's (a wake-up, a drain step), else the
        clock's (``settle`` runs transitions ahead of the clock)."""
        return self.clock.acting_now()

    def wake_at(self, due: datetime, *, clock_bound: bool = False) -> None:
        """Run the controllers again at ``due`` (a pod turns Ready, a rollout takes its next step); a
        ``clock_bound`` wake-up repeats for ever (a crash loop, a credential refresh) and is not run ahead of the
        clock by ``settle`` (see ``Timeline``)."""
        if (due, clock_bound) not in self._wakeups:
            self._wakeups.add((due, clock_bound))
            self.next_wakeup = min(at for at, _ in self._wakeups)
            self._schedule(due, lambda at: self._wake(at, clock_bound), clock_bound=clock_bound)

    def seconds_to_next_wakeup(self, longest: float) -> float:
        """Wall seconds until the next wake-up is due (at most ``longest``): how long a watch may sleep."""
        due = self.next_wakeup
        if due is None:
            return longest
        return min(longest, max(0.005, self.clock.wall_seconds(due - self.clock.now())))

    def advance(self) -> None:
        """Apply this cluster's own due wake-ups (a cluster without an EKS side; see ``EksLink.schedule``)."""
        self.timeline.run_due(self.clock.now())

    def _wake(self, at: datetime, clock_bound: bool) -> None:
        self._wakeups.discard((at, clock_bound))
        self.next_wakeup = min((due for due, _ in self._wakeups), default=None)
        reconcile(self)

    # --- version ---------------------------------------------------------------------------------------------

    @property
    def minor(self) -> tuple[int, int]:
        return parse_minor(self.version)

    def set_version(self, version: str) -> None:
        """Upgrade (or set) the control plane: /version changes and removed apiVersions stop being served."""
        self.version = _minor_string(version)

    def version_info(self) -> dict[str, str]:
        """The body of ``GET /version``, shaped like an EKS control plane's."""
        release = self.patch_versions.get(self.version, f"{self.version}.0")
        commit = hashlib.sha1(f"eks-{release}".encode()).hexdigest()
        major, minor = self.minor
        return {
            "major": str(major),
            "minor": str(minor),
            "gitVersion": f"v{release}-eks-{commit[:7]}",
            "gitCommit": commit,
            "gitTreeState": "clean",
            "buildDate": "2025-04-16T03:27:04Z",
            "goVersion": "go1.23.6",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    # --- resolving kinds -------------------------------------------------------------------------------------

    def resource_type(self, api_version: str, kind: str) -> tuple[ResourceType, str]:
        """The served resource for ``apiVersion``/``kind`` and its version, or the apiserver's 404."""
        group, version = split_api_version(api_version)
        resource_type = self.catalogue.by_kind(group, kind)
        if resource_type is None or not resource_type.serves(version, self.minor):
            raise KubeApiError(404, "NotFound", f'no matches for kind "{kind}" in version "{api_version}"')
        return resource_type, version

    def served_resource(self, group: str, version: str, resource: str) -> ResourceType | None:
        """The resource behind ``/apis/<group>/<version>/<resource>`` if this cluster's version serves it."""
        resource_type = self.catalogue.by_resource(group, resource)
        if resource_type is None or not resource_type.serves(version, self.minor):
            return None
        return resource_type

    def present(self, resource_type: ResourceType, obj: dict[str, Any], version: str) -> dict[str, Any]:
        """A copy of a stored object as read through ``version`` (storage is per group+kind, not version)."""
        presented = {"apiVersion": resource_type.api_version(version), "kind": resource_type.kind}
        presented.update(clone({k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}))
        if resource_type.kind == "PriorityLevelConfiguration" and "spec" in presented:
            presented["spec"] = convert_priority_level_spec(presented["spec"], version)
        return presented

    # --- object operations (the HTTP API and the contract methods share these) -------------------------------

    def read_object(
        self, resource_type: ResourceType, version: str, namespace: str | None, name: str
    ) -> dict[str, Any]:
        obj = self.store.get(resource_type.group, resource_type.kind, _scope(resource_type, namespace), name)
        if obj is None:
            raise KubeApiError.not_found(resource_type.resource, name, resource_type.group)
        return self.present(resource_type, obj, version)

    def list_objects(
        self,
        resource_type: ResourceType,
        version: str,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        labels_match = parse_label_selector(label_selector)
        fields_match = parse_field_selector(field_selector)
        return [
            self.present(resource_type, obj, version)
            for obj in self.store.all(resource_type.group, resource_type.kind, _scope(resource_type, namespace))
            if labels_match(obj["metadata"].get("labels") or {}) and fields_match(obj)
        ]

    def create_object(
        self,
        resource_type: ResourceType,
        version: str,
        body: dict[str, Any],
        namespace: str | None,
        *,
        dry_run: bool = False,
        manager: FieldManager | None = None,
    ) -> dict[str, Any]:
        """POST: default, admit, validate and store a new object, then let the controllers act on it."""
        obj = self._normalised(resource_type, version, body, namespace)
        metadata = obj["metadata"]
        for field in _SERVER_SET_METADATA:
            metadata.pop(field, None)
        if manager is not None:
            record_write(metadata, manager, obj["apiVersion"], body, self.store.now())
        if not metadata.get("name"):
            if not metadata.get("generateName"):
                raise KubeApiError.invalid(
                    resource_type.kind,
                    "",
                    "metadata.name",
                    "Required value: name or generateName is required",
                    resource_type.group,
                )
            metadata["name"] = metadata["generateName"] + self.store.random_suffix()
        if resource_type.kind == "Pod":
            self._admit_pod(obj)
        elif resource_type.kind == "PersistentVolumeClaim":
            admit_claim(self.store, obj)
        else:
            apply_defaults(obj)
        validate(obj, resource_type.group)
        scope = metadata.get("namespace")
        if self.store.get(resource_type.group, resource_type.kind, scope, metadata["name"]) is not None:
            raise KubeApiError.already_exists(resource_type.resource, metadata["name"], resource_type.group)
        if dry_run:
            return self.present(resource_type, obj, version)
        if resource_type.kind == "Service":
            self._allocate_cluster_ip(obj["spec"])
        self.store.insert(resource_type.group, resource_type.kind, obj)
        reconcile(self)
        # The controllers may already have removed it (e.g. a pod bound to a missing node); answer what was stored.
        stored = self.store.get(resource_type.group, resource_type.kind, scope, metadata["name"]) or obj
        return self.present(resource_type, stored, version)

    def replace_object(
        self,
        resource_type: ResourceType,
        version: str,
        body: dict[str, Any],
        namespace: str | None,
        name: str,
        *,
        subresource: str | None = None,
        force: bool = False,
        dry_run: bool = False,
        manager: FieldManager | None = None,
        sent: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """PUT (and the end of PATCH): optimistic concurrency on resourceVersion; status only via /status.

        ``sent`` is what a PATCH sent: its manager's entry owns those fields, not all of the patched ``body``.
        """
        scope = _scope(resource_type, namespace)
        current = self.store.get(resource_type.group, resource_type.kind, scope, name)
        if current is None:
            raise KubeApiError.not_found(resource_type.resource, name, resource_type.group)
        obj = self._normalised(resource_type, version, body, scope)
        if obj["metadata"].get("name", name) != name:
            raise KubeApiError.bad_request(
                f"the name of the object ({obj['metadata']['name']}) does not match the name on the URL ({name})"
            )
        sent_version = obj["metadata"].get("resourceVersion")
        if sent_version and sent_version != current["metadata"]["resourceVersion"] and not force:
            raise KubeApiError.conflict(resource_type.resource, name, resource_type.group)
        updated = _replaced(resource_type, current, obj, subresource, self.store.now())
        for field in ("name", "uid", "creationTimestamp", "resourceVersion", "generation", "namespace"):
            if field in current["metadata"]:
                updated["metadata"][field] = current["metadata"][field]
        self._carry_managed_fields(
            updated, current, manager, resource_type.api_version(version), body if sent is None else sent, subresource
        )
        if dry_run:
            return self.present(resource_type, updated, version)
        self.store.save(resource_type.group, resource_type.kind, updated)
        reconcile(self)
        return self.read_object(resource_type, version, scope, name)

    def _carry_managed_fields(
        self,
        updated: dict[str, Any],
        current: dict[str, Any],
        manager: FieldManager | None,
        api_version: str,
        sent: dict[str, Any],
        subresource: str | None,
    ) -> None:
        """managedFields survive every write; a write by a manager adds or refreshes its entry with the fields
        it ``sent`` (a subresource's write owns only that subresource's part of them)."""
        metadata = updated["metadata"]
        metadata.pop("managedFields", None)
        if current["metadata"].get("managedFields"):
            metadata["managedFields"] = clone(current["metadata"]["managedFields"])
        if manager is None:
            return
        written = {
            "status": {"status": sent.get("status") or {}},
            "scale": {"spec": {"replicas": (sent.get("spec") or {}).get("replicas")}},
        }.get(subresource or "", sent)
        record_write(metadata, manager, api_version, written, self.store.now(), subresource)

    def delete_object(
        self, resource_type: ResourceType, version: str, namespace: str | None, name: str
    ) -> dict[str, Any]:
        """DELETE: the object goes at once; dependents follow by garbage collection; returns what was deleted."""
        scope = _scope(resource_type, namespace)
        current = self.store.get(resource_type.group, resource_type.kind, scope, name)
        if current is None:
            raise KubeApiError.not_found(resource_type.resource, name, resource_type.group)
        deleted = self.present(resource_type, current, version)
        self.store.remove(resource_type.group, resource_type.kind, scope, name)
        if resource_type.kind == "Namespace":
            self._delete_namespace_contents(name)
        reconcile(self)
        return deleted

    def evict(self, namespace: str, name: str, *, dry_run: bool = False) -> None:
        """The ``pods/eviction`` subresource: delete the pod unless its PodDisruptionBudget forbids it (429)."""
        pod = self.store.get("", "Pod", namespace, name)
        if pod is None:
            raise KubeApiError.not_found("pods", name)
        budgets = matching_budgets(pod, self.store.all("policy", "PodDisruptionBudget"))
        if len(budgets) > 1:
            raise too_many_budgets()
        pods = self.store.all("", "Pod")
        if budgets and not eviction_allowed(pod, budgets[0], pods):
            raise eviction_refused(budgets[0], pods)
        if not dry_run:
            self.store.remove("", "Pod", namespace, name)
            reconcile(self)

    def create_pod(self, pod: dict[str, Any]) -> dict[str, Any] | None:
        """A controller creates a pod: same admission as the API; a refused pod is simply not created
        (a real controller records a FailedCreate event and retries)."""
        resource_type, version = self.resource_type("v1", "Pod")
        try:
            obj = self._normalised(resource_type, version, pod, pod["metadata"]["namespace"])
            if not obj["metadata"].get("name"):
                obj["metadata"]["name"] = obj["metadata"]["generateName"] + self.store.random_suffix()
            self._admit_pod(obj)
            validate(obj, "")
        except KubeApiError:
            return None
        return self.store.insert("", "Pod", obj)

    def record_usage(self, group: str, version: str, resource: str, user_agent: str) -> None:
        """Count one request against group/version/resource for this user agent."""
        per_agent = self.api_usage.setdefault((group, version, resource), {})
        usage = per_agent.get(user_agent)
        if usage is None:
            per_agent[user_agent] = ApiUsage(count=1, last_request=self.clock.now())
        else:
            usage.count += 1
            usage.last_request = self.clock.now()

    # --- the contract used by the EKS simulator -------------------------------------------------------------

    def apply(self, obj: dict[str, Any], manager: FieldManager = EKS_MANAGER) -> dict[str, Any]:
        """Create ``obj`` or replace the stored one (no resourceVersion check), through admission and
        controllers, as ``kubectl apply --force`` would; ``manager`` is recorded in managedFields."""
        resource_type, version = self.resource_type(obj["apiVersion"], obj["kind"])
        metadata = obj.get("metadata") or {}
        namespace = metadata.get("namespace") or ("default" if resource_type.namespaced else None)
        existing = self.store.get(
            resource_type.group, resource_type.kind, _scope(resource_type, namespace), metadata.get("name", "")
        )
        if existing is None:
            return self.create_object(resource_type, version, obj, namespace, manager=manager)
        return self.replace_object(
            resource_type, version, obj, namespace, metadata["name"], force=True, manager=manager
        )

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        resource_type, version = self.resource_type(api_version, kind)
        try:
            return self.read_object(resource_type, version, _default_namespace(resource_type, namespace), name)
        except KubeApiError:
            return None

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        resource_type, version = self.resource_type(api_version, kind)
        return self.list_objects(resource_type, version, namespace, label_selector, field_selector)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        resource_type, version = self.resource_type(api_version, kind)
        try:
            self.delete_object(resource_type, version, _default_namespace(resource_type, namespace), name)
        except KubeApiError:
            return False
        return True

    def add_node(
        self,
        name: str,
        *,
        labels: dict[str, str],
        kubelet_version: str,
        capacity: dict[str, str],
        provider_id: str,
        taints: list[dict] | None = None,
        subnet_cidr: str | None = None,
    ) -> dict:
        """Register a node, as a managed node group's instance does when it joins: Ready and schedulable, or
        NotReady while its container network is not (``network_ready``). ``subnet_cidr``: its instance's subnet,
        where the VPC CNI takes its pods' addresses."""
        node = self.register_node(
            name,
            labels=labels,
            kubelet_version=kubelet_version,
            capacity=capacity,
            provider_id=provider_id,
            taints=taints,
        )
        if subnet_cidr is not None:
            self.node_subnets[name] = ipaddress.IPv4Network(subnet_cidr)
        reconcile(self)
        return self.get("v1", "Node", name) or node

    def register_node(
        self,
        name: str,
        *,
        labels: dict[str, str],
        kubelet_version: str,
        capacity: dict[str, str],
        provider_id: str,
        taints: list[dict] | None = None,
        internal_ip: str | None = None,
    ) -> dict:
        """Store a node (Ready unless its network is not) and its kubelet's Lease without running the controllers
        (for a controller that brings up a node itself, as the Fargate scheduler does)."""
        if self.store.get("", "Node", None, name) is not None:
            raise KubeApiError.already_exists("nodes", name)
        internal_ip = (
            internal_ip
            or internal_ip_from_name(name)
            or f"10.0.{self.store.random.randrange(0, 256)}.{self.store.random.randrange(4, 255)}"
        )
        node = build_node(
            name,
            labels=labels,
            kubelet_version=kubelet_version,
            capacity=capacity,
            provider_id=provider_id,
            taints=taints,
            internal_ip=internal_ip,
            now=self.store.now(),
        )
        if self.network_ready is not None and not self.network_ready(self, node):
            set_network_not_ready(node, self.store.now())
        stored = self.store.insert("", "Node", node)
        # The kubelet's heartbeat Lease; owned by the Node so that it goes when the node does.
        self.store.insert(
            "coordination.k8s.io",
            "Lease",
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": name,
                    "namespace": "kube-node-lease",
                    "ownerReferences": [
                        {"apiVersion": "v1", "kind": "Node", "name": name, "uid": stored["metadata"]["uid"]}
                    ],
                },
                "spec": {
                    "holderIdentity": name,
                    "leaseDurationSeconds": 40,
                    "renewTime": self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                },
            },
        )
        return stored

    def cordon(self, node_name: str) -> None:
        """Mark a node unschedulable (kubectl cordon): new pods go elsewhere, running ones stay."""
        node = self.store.get("", "Node", None, node_name)
        if node is None:
            raise KubeApiError.not_found("nodes", node_name)
        updated = clone(node)
        updated["spec"]["unschedulable"] = True
        self.store.save("", "Node", updated)
        reconcile(self)

    def evict_pods(self, node_name: str) -> list[EvictionBlock]:
        """Drain a node through the eviction rules; DaemonSet and mirror pods are skipped as kubectl drain does.

        Each eviction lets the controllers re-create the pod elsewhere before the next is tried, so a budget
        refuses only when the replacement could not become ready (e.g. no other schedulable node).
        """
        blocks = []
        pods_on_node = [pod for pod in self.store.all("", "Pod") if pod["spec"].get("nodeName") == node_name]
        for pod in pods_on_node:
            metadata = pod["metadata"]
            if any(ref.get("kind") == "DaemonSet" for ref in metadata.get("ownerReferences") or []):
                continue
            if "kubernetes.io/config.mirror" in (metadata.get("annotations") or {}):
                continue
            if self.store.get("", "Pod", metadata["namespace"], metadata["name"]) is None:
                continue
            budgets = matching_budgets(pod, self.store.all("policy", "PodDisruptionBudget"))
            refused_by = [
                b["metadata"]["name"]
                for b in budgets
                if len(budgets) > 1 or not eviction_allowed(pod, b, self.store.all("", "Pod"))
            ]
            if refused_by:
                blocks.append(EvictionBlock(metadata["namespace"], metadata["name"], ",".join(refused_by)))
                continue
            self.store.remove("", "Pod", metadata["namespace"], metadata["name"])
            reconcile(self)
        return blocks

    def delete_node(self, node_name: str) -> None:
        """The instance is gone: the node and its pods disappear; controllers re-create the pods elsewhere."""
        self.node_subnets.pop(node_name, None)
        if self.store.remove("", "Node", None, node_name) is not None:
            reconcile(self)

    # --- internals -------------------------------------------------------------------------------------------

    def _normalised(
        self, resource_type: ResourceType, version: str, body: dict[str, Any], namespace: str | None
    ) -> dict[str, Any]:
        """A copy of a request body with kind, apiVersion and namespace checked and filled in."""
        if not isinstance(body, dict):
            raise KubeApiError.bad_request("the request body must be a JSON object")
        obj = copy.deepcopy(body)
        if obj.get("kind") not in (None, resource_type.kind):
            raise KubeApiError.bad_request(
                f"the kind in the data ({obj['kind']}) does not match the expected kind ({resource_type.kind})"
            )
        obj["apiVersion"] = resource_type.api_version(version)
        obj["kind"] = resource_type.kind
        metadata = obj.setdefault("metadata", {})
        if resource_type.namespaced:
            body_namespace = metadata.get("namespace")
            if namespace and body_namespace and body_namespace != namespace:
                raise KubeApiError.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            metadata["namespace"] = namespace or body_namespace or "default"
            if self.store.get("", "Namespace", None, metadata["namespace"]) is None:
                raise KubeApiError.not_found("namespaces", metadata["namespace"])
        else:
            metadata.pop("namespace", None)
        return obj

    def _admit_pod(self, pod: dict[str, Any]) -> None:
        """Pod admission in the apiserver's order: defaulting, ServiceAccount plugin, mutating webhooks."""
        apply_defaults(pod)
        spec = pod["spec"]
        namespace = pod["metadata"]["namespace"]
        if self.store.get("", "ServiceAccount", namespace, spec["serviceAccountName"]) is None:
            raise KubeApiError(
                403,
                "Forbidden",
                f'pods "{pod["metadata"]["name"]}" is forbidden: error looking up '
                f"service account {namespace}/{spec['serviceAccountName']}: serviceaccount "
                f'"{spec["serviceAccountName"]}" not found',
            )
        if spec.get("automountServiceAccountToken", True) and not any(
            v["name"].startswith("kube-api-access-") for v in spec.get("volumes") or []
        ):
            volume, mount = service_account_volume(self.store.random_suffix())
            spec.setdefault("volumes", []).append(volume)
            for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
                container.setdefault("volumeMounts", []).append(dict(mount))
        for mutate in self.pod_mutators:
            mutate(self, pod)
        pod["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}

    def _allocate_cluster_ip(self, spec: dict[str, Any]) -> None:
        if spec.get("type") == "ExternalName" or spec.get("clusterIP") == "None":
            return
        if not spec.get("clusterIP"):
            used = {svc["spec"].get("clusterIP") for svc in self.store.all("", "Service")}
            address = KUBERNETES_SERVICE_IP
            while address in used:
                address = f"10.100.{self.store.random.randrange(0, 256)}.{self.store.random.randrange(1, 255)}"
            spec["clusterIP"] = address
        spec["clusterIPs"] = [spec["clusterIP"]]

    def _delete_namespace_contents(self, namespace: str) -> None:
        for group, kind in self.store.kinds():
            resource_type = self.catalogue.by_kind(group, kind)
            if resource_type is not None and resource_type.namespaced:
                for obj in self.store.all(group, kind, namespace):
                    self.store.remove(group, kind, namespace, obj["metadata"]["name"])

    def _bootstrap(self) -> None:
        """What a new EKS control plane already holds: system namespaces, the ``kubernetes`` service, the
        system PriorityClasses, the gp2 StorageClass and the API Priority and Fairness configuration."""
        for namespace in SYSTEM_NAMESPACES:
            self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, APISERVER_MANAGER)
        for priority_class in priority_classes():
            self.apply(priority_class, APISERVER_MANAGER)
        self.apply(storage_class(self.minor))
        flowcontrol = self.catalogue.group_versions(self.minor).get(FLOWCONTROL_GROUP)
        if flowcontrol:
            for obj in flow_control_objects(flowcontrol[0]):
                self.apply(obj, FieldManager(APF_MANAGER))
        seed_default_rbac(self)
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "clusterIP": KUBERNETES_SERVICE_IP,
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}],
                },
            }
        )
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
                },
                "subsets": [
                    {
                        "addresses": [{"ip": address} for address in API_SERVER_ADDRESSES],
                        "ports": [{"name": "https", "port": 443, "protocol": "TCP"}],
                    }
                ],
            }
        )
        # The apiserver's endpoint reconciler writes the kubernetes Service's slice itself.
        self.apply(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"kubernetes.io/service-name": "kubernetes"},
                },
                "addressType": "IPv4",
                "endpoints": [
                    {"addresses": [address], "conditions": {"ready": True}} for address in API_SERVER_ADDRESSES
                ],
                "ports": [{"name": "https", "port": 443, "protocol": "TCP"}],
            },
            APISERVER_MANAGER,
        )


def _replaced(
    resource_type: ResourceType, current: dict[str, Any], sent: dict[str, Any], subresource: str | None, now: str
) -> dict[str, Any]:
    """What a PUT stores: the object sent, keeping the status it may not change; or, through /status (or a
    CertificateSigningRequest's /approval, its conditions only, timestamped at ``now``), the stored object with
    the part sent."""
    if subresource == "status":
        updated = clone(current)
        updated["status"] = sent.get("status") or {}
        return updated
    if subresource == "approval":
        updated = clone(current)
        conditions = (sent.get("status") or {}).get("conditions") or []
        old_conditions = (current.get("status") or {}).get("conditions") or []
        updated.setdefault("status", {})["conditions"] = _timestamped(conditions, old_conditions, now)
        return updated
    if resource_type.subresource("status") is not None:
        sent.pop("status", None)
        if "status" in current:
            sent["status"] = clone(current["status"])
    apply_defaults(sent)
    validate(sent, resource_type.group)
    return sent


def _timestamped(conditions: list[dict[str, Any]], old: list[dict[str, Any]], now: str) -> list[dict[str, Any]]:
    """A CSR approval's conditions as kube-apiserver stores them (certificates strategy.go
    ``populateConditionTimestamps``): an empty lastUpdateTime becomes now; an empty lastTransitionTime that of
    the stored condition of the same type and status, else now. kubectl sends no lastTransitionTime."""
    for condition in conditions:
        if not condition.get("lastUpdateTime"):
            condition["lastUpdateTime"] = now
        if not condition.get("lastTransitionTime"):
            kept = (
                previous.get("lastTransitionTime")
                for previous in old
                if (previous.get("type"), previous.get("status")) == (condition.get("type"), condition.get("status"))
                and previous.get("lastTransitionTime")
            )
            condition["lastTransitionTime"] = next(kept, now)
    return conditions


def _scope(resource_type: ResourceType, namespace: str | None) -> str | None:
    return namespace if resource_type.namespaced else None


def _default_namespace(resource_type: ResourceType, namespace: str | None) -> str | None:
    # Like kubectl, a namespaced object named without a namespace is looked up in "default".
    return (namespace or "default") if resource_type.namespaced else None


@cache
def calendar_patch_versions() -> dict[str, str]:
    """Minor → the patch release EKS runs (``kubernetes_patch`` of include/eks/kubernetes-versions.yaml), for a
    cluster made without the EKS side (tests); the EKS backend passes its own calendar's."""
    from eks_sandbox.world import include_dir_from_env

    data = yaml.safe_load((include_dir_from_env() / "eks" / "kubernetes-versions.yaml").read_text())
    return {str(row["version"]): str(row["kubernetes_patch"]) for row in data["versions"]}


def _minor_string(version: str) -> str:
    major, minor = parse_minor(version)
    return f"{major}.{minor}"

"""Defaulting and validation kube-apiserver applies on every write, for the kinds runbooks touch.

Defaults matter because clients read them back: the typed client refuses objects that lack required fields,
and runbooks compare e.g. ``imagePullPolicy`` or ``strategy`` as a real cluster would report them.
Values follow the ``SetDefaults_*`` functions of k8s.io/kubernetes pkg/apis/{core,apps,batch}/v1.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from eks_sandbox.kube.errors import KubeApiError
from eks_sandbox.kube.selectors import matches_label_selector

_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

#: Added by the DefaultTolerationSeconds admission plugin to every pod.
DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]

_WORKLOAD_KINDS = ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job")


def apply_defaults(obj: dict[str, Any]) -> None:
    """Fill the fields the apiserver defaults for ``obj``'s kind, in place."""
    defaulter = _DEFAULTERS.get(obj.get("kind"))
    if defaulter is not None:
        defaulter(obj)


def _default_pod(pod: dict[str, Any]) -> None:
    spec = pod.setdefault("spec", {})
    default_pod_spec(spec)
    spec.setdefault("serviceAccountName", "default")
    spec["serviceAccount"] = spec["serviceAccountName"]
    tolerations = spec.setdefault("tolerations", [])
    for toleration in DEFAULT_TOLERATIONS:
        if not any(t.get("key") == toleration["key"] for t in tolerations):
            tolerations.append(dict(toleration))


def _default_workload(workload: dict[str, Any]) -> None:
    spec = workload.setdefault("spec", {})
    default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))
    _default_workload_spec(workload["kind"], spec)


def _default_cron_job(cron_job: dict[str, Any]) -> None:
    spec = cron_job.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_template = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
    default_pod_spec(job_template.setdefault("template", {}).setdefault("spec", {}))


def _default_namespace(namespace: dict[str, Any]) -> None:
    namespace.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    namespace.setdefault("status", {}).setdefault("phase", "Active")
    namespace["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = namespace["metadata"]["name"]


def _default_secret(secret: dict[str, Any]) -> None:
    secret.setdefault("type", "Opaque")


def _default_persistent_volume(volume: dict[str, Any]) -> None:
    spec = volume.setdefault("spec", {})
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    volume.setdefault("status", {}).setdefault("phase", "Available")


def _default_priority_class(priority_class: dict[str, Any]) -> None:
    # pkg/apis/scheduling/v1 SetDefaults_PriorityClass; ``kubectl get priorityclass`` prints it from 1.32.
    priority_class.setdefault("preemptionPolicy", "PreemptLowerPriority")


def _default_hpa(hpa: dict[str, Any]) -> None:
    status = hpa.setdefault("status", {})
    status.setdefault("currentReplicas", 0)
    status.setdefault("desiredReplicas", 0)


def default_pod_spec(spec: dict[str, Any]) -> None:
    """Pod-level and container-level defaults, for pods and for pod templates alike."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("enableServiceLinks", True)
    for container in [*(spec.get("initContainers") or []), *spec.setdefault("containers", [])]:
        image = container.get("image") or ""
        # An untagged or :latest image is pulled every time; anything else only if missing (SetDefaults_Container).
        tag = image.rsplit("/", 1)[-1]
        untagged_or_latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
        container.setdefault("imagePullPolicy", "Always" if untagged_or_latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")


def _default_workload_spec(kind: str, spec: dict[str, Any]) -> None:
    if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        spec.setdefault("replicas", 1)
    if kind == "Deployment":
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy.setdefault("type", "RollingUpdate")
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
    elif kind == "DaemonSet":
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strategy.get("type") == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", 1)
            rolling.setdefault("maxSurge", 0)
        spec.setdefault("revisionHistoryLimit", 10)
    elif kind == "StatefulSet":
        spec.setdefault("podManagementPolicy", "OrderedReady")
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strategy.get("type") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {"partition": 0})
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    elif kind == "Job":
        spec.setdefault("parallelism", 1)
        spec.setdefault("completions", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        spec["template"]["spec"]["restartPolicy"] = spec["template"]["spec"].get("restartPolicy", "Never")


def _default_service(service: dict[str, Any]) -> None:
    spec = service.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def _default_crd(crd: dict[str, Any]) -> None:
    spec = crd.get("spec") or {}
    storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), None)
    status = crd.setdefault("status", {})
    status.setdefault("acceptedNames", spec.get("names") or {})
    status.setdefault("storedVersions", [storage] if storage else [])
    status.setdefault(
        "conditions",
        [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
            },
        ],
    )


#: kind → its defaulting (the kinds runbooks touch; others are stored as sent).
_DEFAULTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "Pod": _default_pod,
    **dict.fromkeys(_WORKLOAD_KINDS, _default_workload),
    "CronJob": _default_cron_job,
    "Service": _default_service,
    "Namespace": _default_namespace,
    "Secret": _default_secret,
    "HorizontalPodAutoscaler": _default_hpa,
    "PersistentVolume": _default_persistent_volume,
    "PriorityClass": _default_priority_class,
    "CustomResourceDefinition": _default_crd,
}


def validate(obj: dict[str, Any], group: str) -> None:
    """The validation failures runbooks are likely to hit, with the apiserver's wording (422 Invalid)."""
    kind, name = obj["kind"], obj["metadata"].get("name", "")
    # RBAC object names are path segments (rbac validation ValidateRBACName), so "system:discovery" is valid.
    rbac_name = group == "rbac.authorization.k8s.io" and name not in ("", ".", "..") and not set(name) & {"/", "%"}
    if not rbac_name and (not _DNS_SUBDOMAIN.fullmatch(name) or len(name) > 253):
        raise KubeApiError.invalid(
            kind,
            name,
            "metadata.name",
            f'Invalid value: "{name}": a lowercase RFC 1123 '
            "subdomain must consist of lower case alphanumeric characters, '-' or '.'",
            group,
        )
    spec = obj.get("spec") or {}
    if kind == "Pod":
        _validate_containers(kind, name, spec, "spec", group)
    elif kind in _WORKLOAD_KINDS:
        template = spec.get("template") or {}
        _validate_containers(kind, name, template.get("spec") or {}, "spec.template.spec", group)
        labels = (template.get("metadata") or {}).get("labels") or {}
        if kind != "Job" and not spec.get("selector"):
            raise KubeApiError.invalid(kind, name, "spec.selector", "Required value", group)
        if spec.get("selector") and not matches_label_selector(spec["selector"], labels):
            raise KubeApiError.invalid(
                kind,
                name,
                "spec.template.metadata.labels",
                "Invalid value: `selector` does not match template `labels`",
                group,
            )
    elif kind == "PodDisruptionBudget" and "minAvailable" in spec and "maxUnavailable" in spec:
        raise KubeApiError.invalid(
            kind, name, "spec", "Invalid value: minAvailable and maxUnavailable cannot be both set", group
        )


def _validate_containers(kind: str, name: str, pod_spec: dict[str, Any], path: str, group: str) -> None:
    containers = pod_spec.get("containers") or []
    if not containers:
        raise KubeApiError.invalid(kind, name, f"{path}.containers", "Required value", group)
    for index, container in enumerate(containers):
        for field in ("name", "image"):
            if not container.get(field):
                raise KubeApiError.invalid(kind, name, f"{path}.containers[{index}].{field}", "Required value", group)


def qos_class(pod_spec: dict[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort from the containers' requests and limits."""
    containers = pod_spec.get("containers") or []
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(_limits_equal_requests(r) for r in resources)
    return "Guaranteed" if guaranteed else "Burstable"


def _limits_equal_requests(resources: dict[str, Any]) -> bool:
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    return all(limits.get(res) and requests.get(res, limits[res]) == limits[res] for res in ("cpu", "memory"))


def service_account_volume(suffix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The projected token volume and mount the ServiceAccount admission plugin adds to every pod."""
    name = f"kube-api-access-{suffix}"
    volume = {
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
                        ]
                    }
                },
            ],
        },
    }
    mount = {"name": name, "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
    return volume, mount

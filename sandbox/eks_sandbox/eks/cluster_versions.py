"""Control-plane versions: UpdateClusterVersion (upgrade one minor, or roll back within 7 days; refused while an
upgrade insight is in ERROR unless ``force``) and DescribeClusterVersions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from eks_sandbox import moto_compat
from eks_sandbox.eks.catalogue import EXTENDED_SUPPORT, VersionCalendar, minor_of, minor_version
from eks_sandbox.eks.clusters import Cluster, VersionChange
from eks_sandbox.eks.errors import invalid_parameter, invalid_request, resource_in_use
from eks_sandbox.eks.operations import Request, operation, paginate
from eks_sandbox.eks.updates import SUCCESSFUL, Update, fail_if_injected, start_update, update_in_progress

if TYPE_CHECKING:
    from eks_sandbox.eks.backend import EksBackend

#: Rollback to N-1 is possible for 7 days after an in-place upgrade [UG clusters/rollback-cluster.adoc].
ROLLBACK_WINDOW = timedelta(days=7)
#: Control-plane updates need free IPs for new ENIs: "need at least 5 IPs in each subnet to be free for this
#: operation" (elastic-ipfs/infrastructure#221; aws/containers-roadmap#1693), "up to five available IP
#: addresses" [UG clusters/update-cluster.adoc].
MIN_FREE_IPS = 5
#: ... in at least this many of the cluster's subnets: the control plane spreads its ENIs over two AZs, and
#: eksup's EKS001 check ("≥5 free IPs in at least 2 subnets") encodes the same reading.
MIN_SUBNETS_WITH_FREE_IPS = 2


def requested_minor(version: object) -> int:
    """The minor of a Kubernetes version a caller asked for ("1.32" → 32); InvalidParameterException naming the
    value when it is not of the form EKS accepts ("banana", "2.0", "1.32.1")."""
    if isinstance(version, str) and re.fullmatch(r"1\.\d{1,3}", version):
        return int(version.partition(".")[2])
    raise invalid_parameter(f"unsupported Kubernetes version {version!r}: EKS versions look like '1.32'")


def refuse_unsupported_version(calendar: VersionCalendar, version: str, now: datetime) -> None:
    """InvalidParameterException "unsupported Kubernetes version X" (hashicorp/terraform-provider-aws#38796),
    followed by the reason and the simulated date that decides it."""
    reason = calendar.unsupported_reason(version, now)
    if reason is not None:
        raise invalid_parameter(f"unsupported Kubernetes version {version}: {reason} (today is {now.date()})")


def kubelet_skew_limit(kubelet_version: str) -> int:
    """How many minors a kubelet may trail the control plane: 3 from kubelet 1.25, 2 before
    [UG clusters/update-cluster.adoc; kubernetes.io/releases/version-skew-policy]."""
    return 3 if minor_of(kubelet_version) >= 25 else 2


def ensure_cluster_idle(cluster: Cluster, operation_name: str) -> None:
    """409 while the cluster is not ACTIVE or has a cluster-level update running (aws-controllers-k8s/community
    #1192, aws/aws-cdk#33452: "Cannot <op> because cluster X currently has update <id> in progress")."""
    running = update_in_progress(cluster)
    if running is not None:
        raise resource_in_use(
            f"Cannot {operation_name} because cluster {cluster.name} currently has update {running.id} in progress"
        )
    if cluster.status != "ACTIVE":
        raise resource_in_use(f"Cannot {operation_name} because cluster {cluster.name} is currently {cluster.status}")


@operation("UpdateClusterVersion")
def update_cluster_version(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["name"])

    def run():
        update = _start_version_update(request, cluster, params)
        return lambda: {"update": update.describe()}

    return request.idempotent("UpdateClusterVersion", params, run)


def _start_version_update(request: Request, cluster: Cluster, params: dict[str, Any]) -> Update:
    backend = request.backend
    ensure_cluster_idle(cluster, "UpdateClusterVersion")
    target = params["version"]
    current_minor, target_minor = minor_of(cluster.version), requested_minor(target)
    if target_minor == current_minor + 1:
        update_type = "VersionUpdate"
    elif target_minor == current_minor - 1 and _rollback_allowed(cluster, target, request.now):
        update_type = "VersionRollback"
    else:
        # Same message for skip, same version and (outside the rollback window) downgrade
        # (terraform-aws-modules/terraform-aws-eks#2607, rancher/rancher#41643).
        hint = (
            " Rollback to the previous minor is possible only within 7 days of an in-place upgrade from it."
            if target_minor == current_minor - 1
            else " Upgrade one minor version at a time."
        )
        raise invalid_parameter(
            f"Unsupported Kubernetes minor version update from {cluster.version} to {target}.{hint}"
        )
    calendar = backend.catalogue.calendar
    refuse_unsupported_version(calendar, target, request.now)
    if (
        update_type == "VersionRollback"
        and calendar.get(target).support_status(request.now) == EXTENDED_SUPPORT
        and cluster.upgrade_policy["supportType"] != "EXTENDED"
    ):
        raise invalid_parameter(
            f"Cannot roll back cluster {cluster.name} to {target}: it is in extended support and the cluster's "
            "upgrade policy is STANDARD [UG clusters/rollback-cluster.adoc]"
        )
    timeout = (params.get("rollbackConfig") or {}).get("timeoutMinutes")
    if timeout is not None and not 120 <= timeout <= 10080:
        raise invalid_parameter("rollbackConfig.timeoutMinutes must be between 120 and 10080")
    if update_type == "VersionUpdate":
        _check_kubelet_skew(cluster, target)
        if not params.get("force"):
            from eks_sandbox.eks.insights import refuse_blocked_upgrade

            refuse_blocked_upgrade(request, cluster, target)
    _check_free_ips(request, cluster)

    return _begin_version_update(backend, cluster, update_type, target, request.now)


def _begin_version_update(
    backend: EksBackend, cluster: Cluster, update_type: str, target: str, now: datetime
) -> Update:
    update = start_update(
        cluster,
        update_type,
        {"Version": target, "PlatformVersion": backend.catalogue.calendar.get(target).platform_version},
        now,
    )
    cluster.status = "UPDATING"
    backend.timeline.at(
        now + backend.catalogue.timings["cluster_version_update"],
        lambda at: _finish_version_update(backend, cluster, update, target, at),
    )
    return update


def start_automatic_upgrades(backend: EksBackend, clusters: Iterable[Cluster], now: datetime) -> None:
    """EKS upgrades a control plane itself once its version leaves the support its upgrade policy pays for: at the
    end of standard support under STANDARD, at the end of extended support under EXTENDED — one minor, through
    an ordinary VersionUpdate nobody requested; node groups and add-ons stay where they are
    [UG view-upgrade-policy.adoc; versioning/kubernetes-versions.adoc]. A cluster busy with another update is
    upgraded at a later look."""
    calendar = backend.catalogue.calendar
    for cluster in clusters:
        due = calendar.automatic_upgrade_date(cluster.version, cluster.upgrade_policy["supportType"])
        if due is None or now.date() < due or cluster.status != "ACTIVE" or update_in_progress(cluster):
            continue
        _begin_version_update(backend, cluster, "VersionUpdate", minor_version(minor_of(cluster.version) + 1), now)


def _rollback_allowed(cluster: Cluster, target: str, now: datetime) -> bool:
    change = cluster.last_version_change
    return (
        change is not None
        and change.from_version == target
        and change.to_version == cluster.version
        and now - change.completed_at <= ROLLBACK_WINDOW
    )


def _check_kubelet_skew(cluster: Cluster, target: str) -> None:
    too_old = [
        f"{ng.name} ({ng.version})"
        for ng in cluster.nodegroups.values()
        if minor_of(target) - minor_of(ng.version) > kubelet_skew_limit(ng.version)
    ]
    if too_old:
        raise invalid_parameter(
            f"Nodegroups {', '.join(sorted(too_old))} must be updated before updating cluster {cluster.name} to "
            f"{target}: kubelets may be at most 3 minor versions older than the control plane (2 before 1.25). "
            "Update them with UpdateNodegroupVersion first."
        )


def _check_free_ips(request: Request, cluster: Cluster) -> None:
    subnets = [
        (subnet_id, info.free_ips if info else 0)
        for subnet_id in cluster.vpc_config["subnetIds"]
        for info in [moto_compat.subnet(request.account, request.region, subnet_id)]
    ]
    if sum(1 for _, free in subnets if free >= MIN_FREE_IPS) < min(MIN_SUBNETS_WITH_FREE_IPS, len(subnets)):
        listing = " , ".join(f"{subnet_id} Free IPs: {free}" for subnet_id, free in subnets)
        raise invalid_request(
            f"Provided subnets {listing}, need at least {MIN_FREE_IPS} IPs in each subnet to be free for this "
            f"operation (the sandbox requires it of at least {MIN_SUBNETS_WITH_FREE_IPS} subnets)"
        )


def _finish_version_update(backend: EksBackend, cluster: Cluster, update: Update, target: str, at: datetime) -> None:
    if cluster.deleted or update.status != "InProgress":
        return
    cluster.status = "ACTIVE"
    # Failed health checks revert the control plane: the cluster stays on its old version [UG update-cluster].
    if fail_if_injected(backend, cluster, update, [cluster.name]):
        return
    previous = cluster.version
    cluster.version = target
    cluster.platform_version = backend.catalogue.calendar.get(target).platform_version
    cluster.kube.set_version(target)
    # A rollback cannot itself be rolled back; an upgrade opens a 7-day rollback window.
    cluster.last_version_change = (
        VersionChange(previous, target, backend.stamp(at)) if update.type == "VersionUpdate" else None
    )
    update.status = SUCCESSFUL


@operation("DescribeClusterVersions")
def describe_cluster_versions(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    calendar = request.backend.catalogue.calendar
    if params.get("clusterType") not in (None, "eks"):
        raise invalid_parameter(f"Unsupported clusterType {params['clusterType']}; the sandbox serves 'eks'")
    default = calendar.default_version(request.now)
    rows = []
    for entry in reversed(calendar.released(request.now)):
        version_status = entry.support_status(request.now)
        if version_status == "UNSUPPORTED" and not params.get("includeAll"):
            continue
        if params.get("clusterVersions") and entry.version not in params["clusterVersions"]:
            continue
        if params.get("defaultOnly") and entry.version != default:
            continue
        if params.get("versionStatus") and version_status != params["versionStatus"]:
            continue
        legacy_status = version_status.lower().replace("_", "-")
        if params.get("status") and legacy_status != params["status"]:
            continue
        rows.append(
            {
                "clusterVersion": entry.version,
                "clusterType": "eks",
                "defaultPlatformVersion": entry.platform_version,
                "defaultVersion": entry.version == default,
                "releaseDate": _midnight(entry.eks_release),
                "endOfStandardSupportDate": _midnight(entry.end_of_standard_support),
                "endOfExtendedSupportDate": _midnight(entry.end_of_extended_support),
                # deprecated lowercase twin of versionStatus [BC ClusterVersionStatus]
                "status": legacy_status,
                "versionStatus": version_status,
                "kubernetesPatchVersion": entry.kubernetes_patch,
            }
        )
    page, token = paginate(rows, params)
    return {"clusterVersions": page, "nextToken": token}


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)

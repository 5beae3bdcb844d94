"""EKS updates: the asynchronous changes DescribeUpdate/ListUpdates report (cluster, node group, add-on)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eks_sandbox.eks.errors import not_found
from eks_sandbox.eks.operations import Request, operation, paginate

if TYPE_CHECKING:
    from eks_sandbox.eks.backend import EksBackend
    from eks_sandbox.eks.clusters import Cluster

IN_PROGRESS = "InProgress"
SUCCESSFUL = "Successful"
FAILED = "Failed"


@dataclass
class Update:
    id: str
    type: str
    created_at: datetime
    params: list[dict[str, str]]
    nodegroup: str | None = None
    addon: str | None = None
    status: str = IN_PROGRESS
    errors: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "type": self.type,
            "params": self.params,
            "createdAt": self.created_at,
            "errors": self.errors,
        }

    def fail(self, error_code: str, message: str, resource_ids: list[str]) -> None:
        self.status = FAILED
        self.errors = [{"errorCode": error_code, "errorMessage": message, "resourceIds": resource_ids}]


def start_update(
    cluster: Cluster,
    update_type: str,
    params: dict[str, str],
    at: datetime,
    nodegroup: str | None = None,
    addon: str | None = None,
) -> Update:
    update = Update(
        id=str(uuid.uuid4()),
        type=update_type,
        created_at=at,
        params=[{"type": key, "value": value} for key, value in params.items()],
        nodegroup=nodegroup,
        addon=addon,
    )
    cluster.updates.append(update)
    return update


def update_in_progress(cluster: Cluster, nodegroup: str | None = None, addon: str | None = None) -> Update | None:
    """The update of this scope (the cluster itself, one node group, one add-on) still running, if any."""
    return next(
        (u for u in cluster.updates if u.status == IN_PROGRESS and u.nodegroup == nodegroup and u.addon == addon),
        None,
    )


def fail_if_injected(backend: EksBackend, cluster: Cluster, update: Update, resource_ids: list[str]) -> bool:
    """End ``update`` Failed when a fault rule asks for it (``sandbox.faults.update_failure_for``)."""
    rule = backend.sandbox.faults.update_failure_for(cluster.name, update.type, update.nodegroup, update.addon)
    if rule is None:
        return False
    update.fail(rule.error_code, rule.message, resource_ids)
    return True


def _scoped_updates(cluster: Cluster, params: dict[str, Any]) -> list[Update]:
    nodegroup, addon = params.get("nodegroupName"), params.get("addonName")
    if nodegroup and nodegroup not in cluster.nodegroups:
        raise not_found(f"No node group found for name: {nodegroup}.")
    if addon and addon not in cluster.addons:
        raise not_found(f"No addon: {addon} found in cluster: {cluster.name}")
    return [u for u in cluster.updates if u.nodegroup == nodegroup and u.addon == addon]


@operation("DescribeUpdate")
def describe_update(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["name"])
    for update in _scoped_updates(cluster, params):
        if update.id == params["updateId"]:
            return {"update": update.describe()}
    raise not_found(f"No update found for ID: {params['updateId']}")


@operation("ListUpdates")
def list_updates(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["name"])
    ids = [u.id for u in _scoped_updates(cluster, params)]
    page, token = paginate(ids, params)
    return {"updateIds": page, "nextToken": token}

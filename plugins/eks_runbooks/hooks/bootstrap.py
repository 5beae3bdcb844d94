"""Sending the bootstrap's planned calls (``core.bootstrap.calls``) as they were planned — and only once.

Every call is sent exactly as plan mode printed it. A call that finds its resource already there (a retried task,
a run resumed after a worker died, a second run of the same definition) is not an error when the resource is this
runbook's: EKS and EC2 answer a repeated idempotency token with what exists; a create under a new token meets
ResourceInUseException / EntityAlreadyExists, and the resource's tags say whether this runbook made it. A resource
of the same name that this runbook did not make stops the step: adopting it would put someone else's resource
under this cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from eks_runbooks.core.bootstrap.calls import Call

#: The tag every resource of a bootstrap carries: which cluster it was built for.
CLUSTER_TAG = "eks-runbooks/cluster"
#: The error code each create answers when its resource exists already [botocore models].
ALREADY_EXISTS = {
    "CreateRole": "EntityAlreadyExists",
    "CreateAlias": "AlreadyExistsException",
    "CreateCluster": "ResourceInUseException",
    "CreateAccessEntry": "ResourceInUseException",
    "CreateAddon": "ResourceInUseException",
    "CreateNodegroup": "ResourceInUseException",
    "CreateLaunchTemplate": "InvalidLaunchTemplateName.AlreadyExistsException",
}


class NotThisRunbooksResource(RuntimeError):
    """A resource of the planned name exists and was not made by this runbook for this cluster."""


def send(clients: Mapping[str, Any], call: Call) -> dict[str, Any]:
    """Send one planned call through ``clients[call.service]`` (a boto3 client); return what the report keeps:
    the call, ``created`` or ``existed``, and the answer's identifiers (never credentials)."""
    client = clients[call.service]
    try:
        answer = getattr(client, call.method())(**call.params)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != ALREADY_EXISTS.get(call.operation):
            raise
        owner = _OWNERS.get(call.operation)
        if owner is not None:
            owner(client, call)
        return {"call": call.describe(), "outcome": "existed", "creates": call.creates}
    return {"call": call.describe(), "outcome": "created", "creates": call.creates, **identifiers(answer)}


def _tags_of(call: Call) -> dict[str, str]:
    tags = call.params.get("tags") or call.params.get("Tags") or {}
    if isinstance(tags, list):
        return {tag["Key"]: tag["Value"] for tag in tags}
    return dict(tags)


def _require_ours(found: dict[str, str], call: Call) -> None:
    wanted = _tags_of(call).get(CLUSTER_TAG)
    if found.get(CLUSTER_TAG) != wanted:
        raise NotThisRunbooksResource(
            f"{call.creates} exists but was not made by the bootstrap of cluster {wanted} (its {CLUSTER_TAG} tag is "
            f"{found.get(CLUSTER_TAG)!r}). Choose another name, or remove it if it is a leftover; nothing of it "
            "was changed."
        )


def _role_owner(client: Any, call: Call) -> None:
    role = client.get_role(RoleName=call.params["RoleName"])["Role"]
    _require_ours({tag["Key"]: tag["Value"] for tag in role.get("Tags") or []}, call)


def _cluster_owner(client: Any, call: Call) -> None:
    _require_ours(client.describe_cluster(name=call.params["name"])["cluster"].get("tags") or {}, call)


def _nodegroup_owner(client: Any, call: Call) -> None:
    described = client.describe_nodegroup(
        clusterName=call.params["clusterName"], nodegroupName=call.params["nodegroupName"]
    )
    _require_ours(described["nodegroup"].get("tags") or {}, call)


def _launch_template_owner(client: Any, call: Call) -> None:
    templates = client.describe_launch_templates(LaunchTemplateNames=[call.params["LaunchTemplateName"]])
    found = templates["LaunchTemplates"][0]
    _require_ours({tag["Key"]: tag["Value"] for tag in found.get("Tags") or []}, call)


_OWNERS: dict[str, Callable[[Any, Call], None]] = {
    "CreateRole": _role_owner,
    "CreateCluster": _cluster_owner,
    "CreateNodegroup": _nodegroup_owner,
    "CreateLaunchTemplate": _launch_template_owner,
}


def identifiers(answer: dict[str, Any]) -> dict[str, str]:
    """The ARNs and ids a create answered with, for the report."""
    found: dict[str, str] = {}
    for value in answer.values():
        if isinstance(value, dict):
            for key in ("arn", "Arn", "KeyId", "LaunchTemplateId", "accessEntryArn", "clusterArn", "addonArn"):
                if isinstance(value.get(key), str):
                    found.setdefault("id", value[key])
    return found

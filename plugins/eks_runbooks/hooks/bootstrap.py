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

from eks_runbooks.core.bootstrap.calls import TAG_BOOTSTRAPPED_BY as RUN_TAG
from eks_runbooks.core.bootstrap.calls import TAG_CLUSTER as CLUSTER_TAG
from eks_runbooks.core.bootstrap.calls import Call

#: The services a bootstrap sends calls to (``Call.service``).
SERVICES = ("eks", "ec2", "iam", "kms")
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


def bootstrap_clients(aws_conn_id: str, region: str) -> dict[str, Any]:
    """One boto3 client per service a bootstrap sends calls to, from the run's connection and region."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from botocore.config import Config

    from eks_runbooks.runs.upgrade_context import AWS_RETRIES

    config = Config(**AWS_RETRIES)
    return {
        service: AwsBaseHook(aws_conn_id=aws_conn_id, region_name=region, client_type=service, config=config).conn
        for service in SERVICES
    }


class NotThisRunbooksResource(RuntimeError):
    """A resource of the planned name exists and was not made by this runbook for this cluster."""


class BootstrapCallFailed(RuntimeError):
    """AWS refused a planned call; the message names the call, AWS's answer and what to look at."""


#: What to look at first when AWS refuses a bootstrap call, by error code.
_HINTS = {
    "AccessDenied": "the connection's identity lacks a permission of include/iam/eks_cluster_bootstrap.json",
    "AccessDeniedException": "the connection's identity lacks a permission of include/iam/eks_cluster_bootstrap.json",
    "InvalidParameterException": "a value of the request; the pre-flight's report lists the exact request",
    "InvalidRequestException": "the cluster's state; describe it and retry once it is ACTIVE",
    "ResourceLimitExceededException": "the account's quotas (Service Quotas, Amazon EKS)",
    "LimitExceeded": "the account's IAM quotas",
}


def refused(call: Call, error: ClientError) -> BootstrapCallFailed:
    """What to raise when AWS refuses a planned call: the call, AWS's code and message, where to look."""
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    hint = _HINTS.get(code, "AWS's answer")
    if code == "MalformedPolicyDocumentException":
        hint = "the key policy's principals (do the roles exist?)"
    return BootstrapCallFailed(f"{call.describe()} was refused — {code}: {message}. Look at {hint}.")


def send(clients: Mapping[str, Any], call: Call) -> dict[str, Any]:
    """Send one planned call through ``clients[call.service]`` (a boto3 client); return what the report keeps:
    the call, ``created`` (by this run, in this try or an earlier one) or ``existed``, and the answer's
    identifiers (never credentials)."""
    client = clients[call.service]
    try:
        answer = getattr(client, call.method())(**call.params)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code != ALREADY_EXISTS.get(call.operation):
            raise refused(call, error) from None
        owner = _OWNERS.get(call.operation)
        found = owner(client, call) if owner is not None else {}
        this_run = found.get(RUN_TAG) is not None and found.get(RUN_TAG) == _tags_of(call).get(RUN_TAG)
        return {**_sent(call), "outcome": "created" if this_run else "existed"}
    return {**_sent(call), "outcome": "created", **identifiers(answer)}


def _sent(call: Call) -> dict[str, Any]:
    """What the report keeps of a call: what it was and the names it used (policy documents left out)."""
    names = {key: value for key, value in call.params.items() if isinstance(value, str) and key not in _DOCUMENTS}
    return {"call": call.describe(), "operation": call.operation, "creates": call.creates, "names": names}


#: Request members that hold policy documents or tokens, not names.
_DOCUMENTS = frozenset({"AssumeRolePolicyDocument", "Policy", "clientRequestToken", "ClientToken"})


def _tags_of(call: Call) -> dict[str, str]:
    tags = call.params.get("tags") or call.params.get("Tags") or {}
    if isinstance(tags, list):
        return {tag["Key"]: tag["Value"] for tag in tags}
    return dict(tags)


def _require_ours(found: dict[str, str], call: Call) -> dict[str, str]:
    wanted = _tags_of(call).get(CLUSTER_TAG)
    if found.get(CLUSTER_TAG) != wanted:
        raise NotThisRunbooksResource(
            f"{call.creates} exists but was not made by the bootstrap of cluster {wanted} (its {CLUSTER_TAG} tag is "
            f"{found.get(CLUSTER_TAG)!r}). Choose another name, or remove it if it is a leftover; nothing of it "
            "was changed."
        )
    return found


def _role_owner(client: Any, call: Call) -> dict[str, str]:
    role = client.get_role(RoleName=call.params["RoleName"])["Role"]
    return _require_ours({tag["Key"]: tag["Value"] for tag in role.get("Tags") or []}, call)


def _cluster_owner(client: Any, call: Call) -> dict[str, str]:
    return _require_ours(client.describe_cluster(name=call.params["name"])["cluster"].get("tags") or {}, call)


def _nodegroup_owner(client: Any, call: Call) -> dict[str, str]:
    described = client.describe_nodegroup(
        clusterName=call.params["clusterName"], nodegroupName=call.params["nodegroupName"]
    )
    return _require_ours(described["nodegroup"].get("tags") or {}, call)


def _addon_owner(client: Any, call: Call) -> dict[str, str]:
    described = client.describe_addon(clusterName=call.params["clusterName"], addonName=call.params["addonName"])
    return described["addon"].get("tags") or {}


def _access_entry_owner(client: Any, call: Call) -> dict[str, str]:
    described = client.describe_access_entry(
        clusterName=call.params["clusterName"], principalArn=call.params["principalArn"]
    )
    return described["accessEntry"].get("tags") or {}


def _launch_template_owner(client: Any, call: Call) -> dict[str, str]:
    templates = client.describe_launch_templates(LaunchTemplateNames=[call.params["LaunchTemplateName"]])
    found = templates["LaunchTemplates"][0]
    return _require_ours({tag["Key"]: tag["Value"] for tag in found.get("Tags") or []}, call)


#: How to read the tags of what a create found already there. Add-ons and access entries of the cluster this
#: runbook owns are adopted whoever made them (a person may have added one by hand); only this run's count as
#: created.
_OWNERS: dict[str, Callable[[Any, Call], dict[str, str]]] = {
    "CreateRole": _role_owner,
    "CreateCluster": _cluster_owner,
    "CreateNodegroup": _nodegroup_owner,
    "CreateAddon": _addon_owner,
    "CreateAccessEntry": _access_entry_owner,
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


def remove_created(clients: Mapping[str, Any], cluster_name: str, created: list[dict[str, Any]]) -> dict[str, Any]:
    """Remove what a failed bootstrap created, newest first, as far as it can go: node groups and launch
    templates, add-ons, access entries; the cluster stays (deletion protection, as the runbook sets it), and with
    it the roles and key it uses — the answer says what a person runs to remove them."""
    removed, kept = [], []
    cluster_made = any(outcome["operation"] == "CreateCluster" for outcome in created) or _cluster_exists(
        clients, cluster_name
    )
    for outcome in reversed(created):
        remove = _REMOVERS.get(outcome["operation"])
        if remove is None or (cluster_made and outcome["operation"] in _USED_BY_THE_CLUSTER):
            kept.append(outcome["creates"])
            continue
        try:
            remove(clients, outcome)
            removed.append(outcome["creates"])
        except ClientError as error:
            kept.append(f"{outcome['creates']} (could not remove: {error.response.get('Error', {}).get('Code')})")
    instructions = (
        [
            f"Cluster {cluster_name} has deletion protection. To remove it: aws eks update-cluster-config --name "
            f"{cluster_name} --no-deletion-protection, delete its node groups, then aws eks delete-cluster --name "
            f"{cluster_name}; then delete the roles and schedule the key's deletion listed as kept."
        ]
        if cluster_made
        else []
    )
    return {"removed": removed, "kept": kept, "instructions": instructions}


def _cluster_exists(clients: Mapping[str, Any], cluster_name: str) -> bool:
    """Whether the cluster exists, as EKS says (what this run recorded may be incomplete)."""
    try:
        clients["eks"].describe_cluster(name=cluster_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True


def _delete_role(clients: Mapping[str, Any], outcome: dict[str, Any]) -> None:
    iam, names = clients["iam"], outcome["names"]
    for policy in iam.list_attached_role_policies(RoleName=names["RoleName"])["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=names["RoleName"], PolicyArn=policy["PolicyArn"])
    iam.delete_role(RoleName=names["RoleName"])


#: KMS waits at least 7 days before it deletes a key; a key removed by mistake can be recovered meanwhile.
KEY_DELETION_DAYS = 7

_REMOVERS: dict[str, Callable[[Mapping[str, Any], dict[str, Any]], Any]] = {
    "CreateRole": _delete_role,
    "CreateKey": lambda clients, made: clients["kms"].schedule_key_deletion(
        KeyId=made["id"], PendingWindowInDays=KEY_DELETION_DAYS
    ),
    "CreateAlias": lambda clients, made: clients["kms"].delete_alias(AliasName=made["names"]["AliasName"]),
    "CreateLaunchTemplate": lambda clients, made: clients["ec2"].delete_launch_template(
        LaunchTemplateName=made["names"]["LaunchTemplateName"]
    ),
    "CreateNodegroup": lambda clients, made: clients["eks"].delete_nodegroup(
        clusterName=made["names"]["clusterName"], nodegroupName=made["names"]["nodegroupName"]
    ),
    "CreateAddon": lambda clients, made: clients["eks"].delete_addon(
        clusterName=made["names"]["clusterName"], addonName=made["names"]["addonName"]
    ),
    "CreateAccessEntry": lambda clients, made: clients["eks"].delete_access_entry(
        clusterName=made["names"]["clusterName"], principalArn=made["names"]["principalArn"]
    ),
}
#: What a cluster that exists still uses: removed by a person after the cluster.
_USED_BY_THE_CLUSTER = frozenset({"CreateRole", "CreateKey", "CreateAlias"})


#: KMS refuses a key policy naming a role IAM has not propagated yet; IAM says propagation takes seconds.
KEY_POLICY_ATTEMPTS = 12
KEY_POLICY_RETRY_SECONDS = 10.0


def ensure_key(clients: Mapping[str, Any], create: Call, alias: str, cluster_name: str) -> tuple[str, dict[str, Any]]:
    """The run's KMS key: the one its alias names when that key is this cluster's and enabled (a retried or
    resumed step), else a new one — CreateKey retried while the key policy's new role propagates."""
    try:
        metadata = clients["kms"].describe_key(KeyId=alias)["KeyMetadata"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NotFoundException":
            raise
    else:
        tags = {t["TagKey"]: t["TagValue"] for t in clients["kms"].list_resource_tags(KeyId=metadata["KeyId"])["Tags"]}
        if metadata.get("KeyState") != "Enabled" or tags.get(CLUSTER_TAG) != cluster_name:
            raise NotThisRunbooksResource(
                f"Alias {alias} names key {metadata['Arn']} ({metadata.get('KeyState')}, {CLUSTER_TAG}="
                f"{tags.get(CLUSTER_TAG)!r}): not an enabled key of cluster {cluster_name}. Point the alias at the "
                "right key, delete it, or give kms_key_arn; nothing was changed."
            )
        return metadata["Arn"], {**_key_sent(metadata["Arn"], alias), "outcome": "existed"}
    metadata = _create_key(clients["kms"], create)
    return metadata["Arn"], {**_key_sent(metadata["Arn"], alias), "outcome": "created", "id": metadata["Arn"]}


def _create_key(kms: Any, create: Call) -> dict[str, Any]:
    import time

    for _attempt in range(KEY_POLICY_ATTEMPTS - 1):
        try:
            return kms.create_key(**create.params)["KeyMetadata"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "MalformedPolicyDocumentException":
                raise refused(create, error) from None
        time.sleep(KEY_POLICY_RETRY_SECONDS)
    try:
        return kms.create_key(**create.params)["KeyMetadata"]
    except ClientError as error:
        raise refused(create, error) from None


def _key_sent(arn: str, alias: str) -> dict[str, Any]:
    return {"call": f"kms CreateKey: {alias}", "operation": "CreateKey", "creates": f"KMS key {arn}", "names": {}}

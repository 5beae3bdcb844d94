"""The exact API requests a bootstrap run sends, built once as data.

Plan mode lists these calls; the executing steps send exactly them (``getattr(client, call.method())(**call.params)``),
so what a person approved is what AWS receives. Everything here is a pure function of the request and of what the
pre-flight found out (``Resolved``): the same inputs give the same calls, idempotency tokens included, so a retried
task sends the same token and EKS or EC2 answers with the resource it already made instead of making a second one.

IAM and KMS take no idempotency token: a retried ``CreateRole`` fails with EntityAlreadyExists and a retried
``CreateKey`` would make a second key. The executing side finds what exists first — the roles by their
deterministic names, the key through its alias ``alias/eks-runbooks/<cluster>`` (``kms_alias_name``), adopted
only when it is enabled and tagged for the cluster — and sends only what is missing. A worker that dies between
CreateKey and CreateAlias leaves a key without its alias (tagged ``eks-runbooks/bootstrapped-by``); the retry makes
another. The key policy names the cluster role created just before it: KMS refuses a principal IAM has not
propagated yet (MalformedPolicyDocumentException), so CreateKey is retried for a short while.

Sources: [BC] botocore's models (data/{eks,iam,kms,ec2}/*/service-2.json), [UG] the EKS user guide, facts in
include/eks/bootstrap.yaml.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from eks_runbooks.core.bootstrap.facts import BootstrapFacts, load_bootstrap_facts
from eks_runbooks.core.bootstrap.request import BootstrapRequest, Endpoint, NodegroupSpec
from eks_runbooks.core.pod_identity.trust import pod_identity_statement

STEPS = ("identity", "control_plane", "access", "addons_before_compute", "compute", "addons_after_compute")
STEP_TITLES = {
    "identity": "Identity and keys: IAM roles, the KMS key",
    "control_plane": "Control plane",
    "access": "Access entries",
    "addons_before_compute": "Add-ons before compute",
    "compute": "Compute: launch templates and managed node groups",
    "addons_after_compute": "Add-ons after compute",
}

#: Stands for the key step identity creates until its ARN is known (``with_kms_key``).
KMS_KEY_PLACEHOLDER = "<key created in step identity>"
ROLE_PATH = "/eks-runbooks/"
TAG_BOOTSTRAPPED_BY = "eks-runbooks/bootstrapped-by"
TAG_CLUSTER = "eks-runbooks/cluster"
#: Set on the cluster when its bootstrap passed every gate and the baseline: the run that finished it.
TAG_COMPLETED = "eks-runbooks/bootstrap-completed"
#: IAM role names: 1-64 characters of [\w+=,.@-] [BC iam roleNameType].
ROLE_NAME_MAX = 64
#: EC2 launch template names: 3-128 characters of [a-zA-Z0-9().-/_] [BC ec2 LaunchTemplateName].
LAUNCH_TEMPLATE_NAME_MAX = 128
#: clientRequestToken (EKS) and ClientToken (EC2) take up to 64 ASCII characters [BC; EC2 idempotency docs].
TOKEN_PREFIX = "eks-runbooks-"
#: Secrets are the only resource EKS envelope-encrypts with a customer key [BC EncryptionConfig.resources].
ENCRYPTED_RESOURCES = ("secrets",)
#: What the cluster role does with the secrets key: terraform-aws-eks grants exactly these to it (main.tf
#: aws_iam_policy.cluster_encryption). A key policy that leaves the cluster role out breaks later cluster updates
#: ("Role ... could not be assumed", aws/containers-roadmap#1533). The key must be symmetric ENCRYPT_DECRYPT in the
#: cluster's Region [BC Provider.keyArn, UG enable-kms.adoc].
CLUSTER_ROLE_KEY_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey")
#: The runbook's own role administers the key it made (rotation, alias, teardown); CreateCluster needs the
#: caller's kms:DescribeKey and kms:CreateGrant on the key (terraform-aws-eks#2678,
#: kubernetes-sigs/cluster-api-provider-aws#2432).
RUNBOOK_KEY_ACTIONS = (
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
)


@dataclass(frozen=True)
class Call:
    """One API request: the boto3 client of ``service``, method ``method()``, keyword arguments ``params``."""

    step: str
    service: str
    operation: str
    params: dict[str, Any]
    creates: str

    def method(self) -> str:
        """The boto3 method: ``CreateCluster`` → ``create_cluster``."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.operation).lower()

    def describe(self) -> str:
        return f"{self.service} {self.operation}: {self.creates}"

    def as_dict(self) -> dict[str, Any]:
        """Plain data for XCom and the report."""
        return {
            "step": self.step,
            "service": self.service,
            "operation": self.operation,
            "params": self.params,
            "creates": self.creates,
        }


@dataclass(frozen=True)
class Resolved:
    """What the pre-flight found out; plan mode and the run build their calls from the same one."""

    account_id: str
    partition: str
    version: str
    #: The runbook's IAM role ARN with its path (GetCallerIdentity's assumed-role ARN has none; an access entry
    #: needs the role's full ARN, aws/containers-roadmap#185).
    runbook_principal_arn: str
    addon_versions: dict[str, str] = field(hash=False)
    run_id: str
    kms_key_arn: str | None = None


def with_kms_key(resolved: Resolved, arn: str) -> Resolved:
    """``resolved`` once step identity has created the key: its calls after CreateKey, and CreateCluster, use it."""
    return replace(resolved, kms_key_arn=arn)


def request_token(resolved: Resolved, step: str, resource: str) -> str:
    """An idempotency token of this run, step and resource (≤ 64 characters): the same on every retry."""
    digest = hashlib.sha256(f"{resolved.run_id}/{step}/{resource}".encode()).hexdigest()
    return TOKEN_PREFIX + digest[:40]


def _shortened(name: str, limit: int, suffix: str = "") -> str:
    """``name + suffix`` cut to ``limit`` characters, a hash of the whole keeping cut names distinct."""
    whole = name + suffix
    if len(whole) <= limit:
        return whole
    digest = hashlib.sha256(whole.encode()).hexdigest()[:8]
    return f"{name[: limit - len(suffix) - len(digest) - 1]}-{digest}{suffix}"


def role_name(request: BootstrapRequest, purpose: str) -> str:
    """``<cluster>-<region>-<purpose>`` (purpose: cluster, node or an add-on's name): IAM is global and cluster
    names are unique per Region only, so two clusters of one name never share (or tear down) each other's roles."""
    return _shortened(f"{request.cluster_name}-{request.region}", ROLE_NAME_MAX, f"-{purpose}")


def _role_arn(resolved: Resolved, name: str) -> str:
    return f"arn:{resolved.partition}:iam::{resolved.account_id}:role{ROLE_PATH}{name}"


def cluster_role_arn(request: BootstrapRequest, resolved: Resolved) -> str:
    return request.cluster_role_arn or _role_arn(resolved, role_name(request, "cluster"))


def node_role_arn(request: BootstrapRequest, resolved: Resolved) -> str:
    return request.node_role_arn or _role_arn(resolved, role_name(request, "node"))


def addon_role_arn(request: BootstrapRequest, resolved: Resolved, addon: str) -> str:
    return _role_arn(resolved, role_name(request, addon))


def kms_key_arn(request: BootstrapRequest, resolved: Resolved) -> str:
    """The secrets key: given, created by this run, or the placeholder until step identity has created it."""
    return request.kms_key_arn or resolved.kms_key_arn or KMS_KEY_PLACEHOLDER


def kms_alias_name(request: BootstrapRequest) -> str:
    return f"alias/eks-runbooks/{request.cluster_name}"


def launch_template_name(request: BootstrapRequest, nodegroup: NodegroupSpec) -> str:
    """``eks-runbooks/<cluster>/<node group>``: '/' cannot occur in either name, so no two collide."""
    return _shortened(f"eks-runbooks/{request.cluster_name}/{nodegroup.name}", LAUNCH_TEMPLATE_NAME_MAX)


def resource_tags(request: BootstrapRequest, resolved: Resolved) -> dict[str, str]:
    """The request's tags plus the run that built the resource and its cluster (request.py keeps room for both)."""
    return {**request.tags, TAG_BOOTSTRAPPED_BY: resolved.run_id, TAG_CLUSTER: request.cluster_name}


def _tag_list(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in tags.items()]


def _policy_arn(resolved: Resolved, name: str) -> str:
    return f"arn:{resolved.partition}:iam::aws:policy/{name}"


def _document(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":"))


def _service_trust(service: str) -> str:
    return _document([{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}])


def _role_calls(
    request: BootstrapRequest, resolved: Resolved, name: str, trust: str, policies: Iterable[str], why: str
) -> list[Call]:
    tags = resource_tags(request, resolved)
    create = Call(
        step="identity",
        service="iam",
        operation="CreateRole",
        params={
            "Path": ROLE_PATH,
            "RoleName": name,
            "AssumeRolePolicyDocument": trust,
            "Description": f"{why} of EKS cluster {request.cluster_name}, created by eks-runbooks",
            "Tags": _tag_list(tags),
        },
        creates=f"IAM role {_role_arn(resolved, name)}",
    )
    attach = [
        Call(
            step="identity",
            service="iam",
            operation="AttachRolePolicy",
            params={"RoleName": name, "PolicyArn": _policy_arn(resolved, policy)},
            creates=f"managed policy {policy} on role {name}",
        )
        for policy in policies
    ]
    return [create, *attach]


def _allow(sid: str, principal: str, actions: str | list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": principal}, "Action": actions, "Resource": "*"}


def _key_policy(request: BootstrapRequest, resolved: Resolved) -> str:
    root = f"arn:{resolved.partition}:iam::{resolved.account_id}:root"
    return _document(
        [
            # Without the account root a key whose named principals are deleted can never be managed again
            # (KMS developer guide key-policy-default: "allows access to the AWS account and enables IAM policies").
            _allow("AccountAdministers", root, "kms:*"),
            _allow("RunbookAdministers", resolved.runbook_principal_arn, list(RUNBOOK_KEY_ACTIONS)),
            _allow("ClusterRoleUses", cluster_role_arn(request, resolved), list(CLUSTER_ROLE_KEY_ACTIONS)),
        ]
    )


def _key_calls(request: BootstrapRequest, resolved: Resolved) -> list[Call]:
    key = kms_key_arn(request, resolved)
    alias = kms_alias_name(request)
    return [
        Call(
            step="identity",
            service="kms",
            operation="CreateKey",
            params={
                "Description": f"Secrets envelope encryption of EKS cluster {request.cluster_name}",
                "KeyUsage": "ENCRYPT_DECRYPT",
                "KeySpec": "SYMMETRIC_DEFAULT",
                "Policy": _key_policy(request, resolved),
                "Tags": _tag_list(resource_tags(request, resolved), "TagKey", "TagValue"),
            },
            creates=f"KMS key for the secrets of cluster {request.cluster_name}",
        ),
        Call("identity", "kms", "EnableKeyRotation", {"KeyId": key}, f"yearly rotation of {key}"),
        Call("identity", "kms", "CreateAlias", {"AliasName": alias, "TargetKeyId": key}, f"KMS alias {alias}"),
    ]


def identity_calls(request: BootstrapRequest, resolved: Resolved) -> list[Call]:
    """Roles not given (cluster, node, each add-on's Pod Identity role), then the key if none is given: its policy
    names the cluster role, which must exist first."""
    facts = load_bootstrap_facts()
    calls: list[Call] = []
    if not request.cluster_role_arn:
        role = facts.cluster_role
        trust = _service_trust(role.trusted_service)
        name = role_name(request, "cluster")
        calls += _role_calls(request, resolved, name, trust, role.managed_policies, "Cluster role")
    if not request.node_role_arn:
        role = facts.node_role
        trust = _service_trust(role.trusted_service)
        name = role_name(request, "node")
        calls += _role_calls(request, resolved, name, trust, role.managed_policies, "Node role")
    for addon in _addons_with_roles(request, facts):
        # The trust EKS Pod Identity needs: pods.eks.amazonaws.com with sts:AssumeRole and sts:TagSession
        # [UG pod-id-role.adoc], the statement the Pod Identity migration writes too.
        trust = _document([pod_identity_statement()])
        policies = facts.addon_roles[addon].managed_policies
        name = role_name(request, addon)
        calls += _role_calls(request, resolved, name, trust, policies, f"Pod Identity role of add-on {addon}")
    if not request.kms_key_arn:
        calls += _key_calls(request, resolved)
    return calls


def _addons_with_roles(request: BootstrapRequest, facts: BootstrapFacts) -> list[str]:
    return [addon for addon in request.addons if addon in facts.addon_roles]


def _vpc_config(request: BootstrapRequest) -> dict[str, Any]:
    # EKS defaults to a public endpoint open to 0.0.0.0/0 and no private one [BC VpcConfigRequest]; the private
    # endpoint is always on so nodes reach the API server inside the VPC.
    config: dict[str, Any] = {
        "subnetIds": list(request.subnet_ids),
        "endpointPrivateAccess": True,
        "endpointPublicAccess": request.endpoint is Endpoint.PUBLIC_RESTRICTED,
    }
    if request.endpoint is Endpoint.PUBLIC_RESTRICTED:
        config["publicAccessCidrs"] = list(request.public_access_cidrs)
    return config


def control_plane_call(request: BootstrapRequest, resolved: Resolved) -> Call:
    """CreateCluster with the settings of a well-configured cluster (include/eks/bootstrap.yaml ``cluster``)."""
    facts = load_bootstrap_facts()
    cluster = facts.cluster
    params = {
        "name": request.cluster_name,
        "version": resolved.version,
        "roleArn": cluster_role_arn(request, resolved),
        "resourcesVpcConfig": _vpc_config(request),
        "logging": {"clusterLogging": [{"types": list(facts.log_types), "enabled": True}]},
        "encryptionConfig": [
            {"resources": list(ENCRYPTED_RESOURCES), "provider": {"keyArn": kms_key_arn(request, resolved)}}
        ],
        "accessConfig": {
            "authenticationMode": cluster["authentication_mode"],
            "bootstrapClusterCreatorAdminPermissions": cluster["bootstrap_cluster_creator_admin_permissions"],
        },
        "bootstrapSelfManagedAddons": cluster["bootstrap_self_managed_addons"],
        "upgradePolicy": {"supportType": cluster["support_type"]},
        "deletionProtection": cluster["deletion_protection"],
        "tags": resource_tags(request, resolved),
        "clientRequestToken": request_token(resolved, "control_plane", f"cluster/{request.cluster_name}"),
    }
    return Call(
        "control_plane",
        "eks",
        "CreateCluster",
        params,
        f"cluster {request.cluster_name} (Kubernetes {resolved.version})",
    )


def _admins(request: BootstrapRequest, resolved: Resolved) -> list[str]:
    """The named admins and the runbook's own role, each once (EKS takes one entry per principal)."""
    return list(dict.fromkeys([*request.admin_principal_arns, resolved.runbook_principal_arn]))


def access_calls(request: BootstrapRequest, resolved: Resolved) -> list[Call]:
    """A STANDARD access entry with cluster admin for each admin and for the runbook, which needs it for the
    gates and add-on checks that follow (the cluster is created without creator admin)."""
    policy = load_bootstrap_facts().cluster["admin_access_policy"].replace("arn:aws:", f"arn:{resolved.partition}:", 1)
    calls = []
    for principal in _admins(request, resolved):
        entry = {
            "clusterName": request.cluster_name,
            "principalArn": principal,
            "type": "STANDARD",
            "tags": resource_tags(request, resolved),
            "clientRequestToken": request_token(resolved, "access", f"access-entry/{principal}"),
        }
        association = {
            "clusterName": request.cluster_name,
            "principalArn": principal,
            "policyArn": policy,
            "accessScope": {"type": "cluster"},
        }
        calls.append(Call("access", "eks", "CreateAccessEntry", entry, f"access entry {principal}"))
        policy_name = policy.rsplit("/", 1)[1]
        calls.append(Call("access", "eks", "AssociateAccessPolicy", association, f"{policy_name} for {principal}"))
    return calls


def _addon_step(name: str) -> str:
    return "addons_before_compute" if name in load_bootstrap_facts().addons_before_compute else "addons_after_compute"


def addon_calls(request: BootstrapRequest, resolved: Resolved, names: Iterable[str]) -> list[Call]:
    """CreateAddon per name at the version the pre-flight chose (EKS's default for the cluster's version when it
    chose none), its Pod Identity association made with it."""
    facts = load_bootstrap_facts()
    calls = []
    for name in names:
        step = _addon_step(name)
        params: dict[str, Any] = {"clusterName": request.cluster_name, "addonName": name}
        version = resolved.addon_versions.get(name)
        if version:
            params["addonVersion"] = version
        # A new cluster has nothing of its own to keep: the add-on's configuration wins [BC ResolveConflicts].
        params["resolveConflicts"] = "OVERWRITE"
        if name in facts.addon_roles:
            params["podIdentityAssociations"] = [
                {
                    "serviceAccount": facts.addon_roles[name].service_account,
                    "roleArn": addon_role_arn(request, resolved, name),
                }
            ]
        params["tags"] = resource_tags(request, resolved)
        params["clientRequestToken"] = request_token(resolved, step, f"addon/{name}")
        calls.append(Call(step, "eks", "CreateAddon", params, f"add-on {name} {version or '(EKS default version)'}"))
    return calls


def _launch_template_call(request: BootstrapRequest, resolved: Resolved, nodegroup: NodegroupSpec) -> Call:
    facts = load_bootstrap_facts()
    template = facts.launch_template
    name = launch_template_name(request, nodegroup)
    tags = _tag_list(resource_tags(request, resolved))
    data = {
        # IMDSv2 only, hop limit 1: pods cannot reach the node role's credentials (bootstrap.yaml launch_template).
        "MetadataOptions": {
            "HttpTokens": template["http_tokens"],
            "HttpPutResponseHopLimit": template["http_put_response_hop_limit"],
            "HttpEndpoint": "enabled",
        },
        "BlockDeviceMappings": [
            {
                "DeviceName": facts.root_device_name(nodegroup.ami_type),
                "Ebs": {
                    "VolumeSize": nodegroup.disk_gib,
                    "VolumeType": template["root_volume_type"],
                    "Encrypted": template["encrypted"],
                    "DeleteOnTermination": True,
                },
            }
        ],
        "TagSpecifications": [{"ResourceType": kind, "Tags": tags} for kind in ("instance", "volume")],
    }
    params = {
        "LaunchTemplateName": name,
        "VersionDescription": f"node group {nodegroup.name} of cluster {request.cluster_name}",
        "LaunchTemplateData": data,
        "TagSpecifications": [{"ResourceType": "launch-template", "Tags": tags}],
        "ClientToken": request_token(resolved, "compute", f"launch-template/{nodegroup.name}"),
    }
    return Call("compute", "ec2", "CreateLaunchTemplate", params, f"launch template {name}")


def _nodegroup_call(request: BootstrapRequest, resolved: Resolved, nodegroup: NodegroupSpec) -> Call:
    # No diskSize: the volume is in the launch template, and EKS refuses a request with both [BC
    # CreateNodegroupRequest.diskSize, UG launch-templates.adoc].
    params = {
        "clusterName": request.cluster_name,
        "nodegroupName": nodegroup.name,
        "scalingConfig": {"minSize": nodegroup.min, "maxSize": nodegroup.max, "desiredSize": nodegroup.desired},
        "subnets": list(request.subnet_ids),
        "instanceTypes": list(nodegroup.instance_types),
        "amiType": nodegroup.ami_type,
        "capacityType": nodegroup.capacity_type.value,
        "nodeRole": node_role_arn(request, resolved),
        # A new template's first version is "1"; naming it pins the node group to what was planned.
        "launchTemplate": {"name": launch_template_name(request, nodegroup), "version": "1"},
        "tags": resource_tags(request, resolved),
        "clientRequestToken": request_token(resolved, "compute", f"nodegroup/{nodegroup.name}"),
    }
    what = f"node group {nodegroup.name} ({', '.join(nodegroup.instance_types)}, {nodegroup.min}-{nodegroup.max})"
    return Call("compute", "eks", "CreateNodegroup", params, what)


def compute_calls(request: BootstrapRequest, resolved: Resolved) -> list[Call]:
    """Per node group: its launch template, then the node group that uses it."""
    calls = []
    for nodegroup in request.compute:
        calls += [_launch_template_call(request, resolved, nodegroup), _nodegroup_call(request, resolved, nodegroup)]
    return calls


def step_calls(request: BootstrapRequest, resolved: Resolved, step: str) -> list[Call]:
    """The requests of one step, as its task sends them."""
    if step not in STEPS:
        raise ValueError(f"no bootstrap step {step!r} (steps: {', '.join(STEPS)})")
    builders = {
        "identity": lambda: identity_calls(request, resolved),
        "control_plane": lambda: [control_plane_call(request, resolved)],
        "access": lambda: access_calls(request, resolved),
        "addons_before_compute": lambda: addon_calls(request, resolved, request.addons_before_compute),
        "compute": lambda: compute_calls(request, resolved),
        "addons_after_compute": lambda: addon_calls(request, resolved, request.addons_after_compute),
    }
    return builders[step]()


def planned_calls(request: BootstrapRequest, resolved: Resolved) -> list[Call]:
    """Every request of the run, in the order of STEPS."""
    return [call for step in STEPS for call in step_calls(request, resolved, step)]


#: Parameters that carry a JSON document as text: shown as JSON, not as one escaped line.
_DOCUMENT_PARAMS = ("AssumeRolePolicyDocument", "Policy")


def _readable(params: dict[str, Any]) -> dict[str, Any]:
    return {key: json.loads(value) if key in _DOCUMENT_PARAMS else value for key, value in params.items()}


def calls_markdown(calls: Iterable[Call]) -> str:
    """The plan as a person reads it: per step, each request with its parameters."""
    calls = list(calls)
    lines = []
    for number, step in enumerate(STEPS, start=1):
        in_step = [call for call in calls if call.step == step]
        if not in_step:
            continue
        lines += [f"### {number}. {STEP_TITLES[step]} (`{step}`)", ""]
        for call in in_step:
            body = json.dumps(_readable(call.params), indent=2)
            lines += [f"- **{call.service} {call.operation}** — {call.creates}", "", "  ```json"]
            lines += [f"  {line}" for line in body.splitlines()]
            lines += ["  ```", ""]
    return "\n".join(lines).rstrip() + "\n"

"""Fleet files: a simulated fleet described in YAML, built through the same APIs a user has.

The loader creates every resource by calling the sandbox's own AWS APIs with boto3 (EC2 for networks, IAM for
roles, KMS for keys, EKS for clusters, node groups, add-ons, Pod Identity and access entries), so anything a
fleet file holds can equally be built by hand or by a runbook. Kubernetes objects go through each cluster's
API server model (admission, controllers) exactly as API requests do. Waiting is skipped with
``Sandbox.settle()``: a fleet starts out ACTIVE, not CREATING. Format: docs/sandbox.md#fleet-files.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import ipaddress
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import boto3
import yaml

from eks_sandbox import moto_compat
from eks_sandbox.eks.addon_workloads import IRSA_ROLE_ANNOTATION
from eks_sandbox.kube.managed_fields import FieldManager
from eks_sandbox.moto_compat import DEFAULT_ACCOUNT_ID
from eks_sandbox.world import Sandbox

ALL_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
#: The role the loader assumes in each account to build it, like an infrastructure pipeline's role: it creates
#: the clusters, so it is their creator (cluster-admin through bootstrapClusterCreatorAdminPermissions), and
#: anyone else — the runbooks' role included — gets in only through the fleet file's access grants.
PROVISIONER_ROLE = "fleet-provisioner"
POLICY_ARN_PREFIX = "arn:aws:eks::aws:cluster-access-policy/"


class FleetError(Exception):
    """A fleet document that could not be built: which cluster (None: not a cluster's), at which step, and why.

    What was built before the failing step stays in the sandbox.
    """

    def __init__(self, cluster: str | None, step: str, cause: BaseException) -> None:
        self.cluster = cluster
        self.step = step
        self.cause = cause
        where = f"cluster {cluster}, {step}" if cluster else step
        super().__init__(f"{where}: {_describe(cause)}")


def _describe(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error.args[0]!r}"
    # ClientError and ParamValidationError already read "An error occurred (Code) when calling ...".
    return str(error) or type(error).__name__


@contextmanager
def _step(cluster: str | None, step: str) -> Iterator[None]:
    """Turn any failure inside into a FleetError naming ``cluster`` and ``step`` (the innermost step wins)."""
    try:
        yield
    except FleetError:
        raise
    except Exception as error:
        raise FleetError(cluster, step, error) from error


def load_fleet(sandbox: Sandbox, fleet: dict[str, Any]) -> dict[str, Any]:
    """Create everything a fleet document describes; returns ``{"clusters": [...]}`` naming what was built.

    Raises FleetError naming the cluster and step that failed (a malformed document, an unknown subnet name,
    an AWS error such as an invalid parameter).
    """
    if not isinstance(fleet, dict):
        raise FleetError(None, "reading the fleet", ValueError(f"expected a mapping with 'accounts', got {fleet!r}"))
    with _step(None, "reading the accounts"):
        _check_versions_at_world_date(sandbox, fleet)
    moto_compat.import_backends()
    built: list[dict[str, Any]] = []
    for account in fleet.get("accounts") or []:
        with _step(None, "reading the accounts"):
            account_id = str(account.get("id", DEFAULT_ACCOUNT_ID))
            regions = (account.get("regions") or {}).items()
        for region, spec in regions:
            with _step(None, f"network of account {account_id} in {region}"):
                aws = _AwsClients(sandbox.base_url, account_id, region)
                network = _build_network(aws, spec.get("network") or {})
                clusters = spec.get("clusters") or []
            for cluster in clusters:
                name = cluster.get("name") if isinstance(cluster, dict) else None
                with _step(name, "reading the cluster"):
                    built.append(_build_cluster(sandbox, aws, network, cluster))
            with _step(None, f"free IPs of the subnets of account {account_id} in {region}"):
                _leave_free_ips(aws, network, (spec.get("network") or {}).get("subnets") or [])
    for index, fault in enumerate(fleet.get("faults") or []):
        with _step(None, f"fault rule {index + 1}"):
            sandbox.faults.add_from_dict(fault)
    return {"clusters": built}


def fleet_as_of(fleet: Any) -> date | None:
    """The date a fleet document describes (its top-level ``as_of: YYYY-MM-DD``), or None when it names none."""
    if not isinstance(fleet, dict) or fleet.get("as_of") is None:
        return None
    value = fleet["as_of"]
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise FleetError(None, "reading as_of", ValueError(f"as_of must be a date YYYY-MM-DD, got {value!r}")) from None


def _check_versions_at_world_date(sandbox: Sandbox, fleet: dict[str, Any]) -> None:
    """Refuse, before anything is built, a fleet whose clusters could not exist at the sandbox's date: a version
    EKS does not offer that day, or a version EKS would already have upgraded under the cluster's policy."""
    now = sandbox.clock.now()
    as_of = fleet_as_of(fleet)
    dated = (
        f"the fleet's date {now.date()} (as_of)"
        if as_of == now.date()
        else f"the sandbox's date {now.date()}" + (f" (the fleet is dated {as_of})" if as_of else "")
    )
    calendar = sandbox.eks.catalogue.calendar
    for account in fleet.get("accounts") or []:
        for spec in ((account or {}).get("regions") or {}).values():
            for cluster in (spec or {}).get("clusters") or []:
                if not isinstance(cluster, dict) or "version" not in cluster:
                    continue
                version, policy = str(cluster["version"]), cluster.get("upgrade_policy", "EXTENDED")
                reason = calendar.unsupported_reason(version, now)
                upgraded_on = calendar.automatic_upgrade_date(version, policy)
                if reason is None and upgraded_on is not None and upgraded_on <= now.date():
                    reason = (
                        f"EKS upgrades a cluster with upgrade policy {policy} off {version} from {upgraded_on}, "
                        "when that support ends"
                    )
                if reason is not None:
                    raise FleetError(
                        cluster.get("name"),
                        "checking its version",
                        ValueError(
                            f"Kubernetes {version} cannot be declared at {dated}: {reason}. Declare a version "
                            "EKS supports that day, or set as_of to a date when this one was supported."
                        ),
                    )


class _AwsClients:
    """boto3 clients acting in one account and region of the sandbox, as the account's provisioner role."""

    def __init__(self, endpoint_url: str, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        sts = boto3.client(
            "sts",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id="sandbox-fleet-loader",
            aws_secret_access_key="sandbox-fleet-loader",
        )
        credentials = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{PROVISIONER_ROLE}", RoleSessionName="fleet-loader"
        )["Credentials"]
        self._session = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=region,
        )
        self._endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}

    def __getattr__(self, service: str) -> Any:
        if service.startswith("_"):
            raise AttributeError(service)
        if service not in self._clients:
            client = self._session.client(service, endpoint_url=self._endpoint_url)
            # moto (and the simulated EKS, which follows moto) pick the account from this header.
            client.meta.events.register("before-sign.*.*", self._add_account_header)
            self._clients[service] = client
        return self._clients[service]

    def _add_account_header(self, request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = self.account_id


def _build_network(aws: _AwsClients, spec: dict[str, Any]) -> dict[str, str]:
    """VPC and subnets (private, or public with a route to an internet gateway)."""
    vpc_id = aws.ec2.create_vpc(CidrBlock=spec.get("vpc_cidr", "10.0.0.0/16"))["Vpc"]["VpcId"]
    subnet_ids: dict[str, str] = {}
    public_route_table = None
    for subnet in spec.get("subnets", []):
        subnet_id = aws.ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=subnet["cidr"],
            AvailabilityZone=subnet["az"],
            TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": subnet["name"]}]}],
        )["Subnet"]["SubnetId"]
        subnet_ids[subnet["name"]] = subnet_id
        if subnet.get("public"):
            public_route_table = public_route_table or _public_route_table(aws, vpc_id)
            aws.ec2.associate_route_table(RouteTableId=public_route_table, SubnetId=subnet_id)
    return subnet_ids


def _public_route_table(aws: _AwsClients, vpc_id: str) -> str:
    gateway = aws.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    aws.ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc_id)
    table = aws.ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    aws.ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    return table


def _leave_free_ips(aws: _AwsClients, subnet_ids: dict[str, str], subnets: list[dict[str, Any]]) -> None:
    """Make each subnet with ``free_ips`` report that many free addresses once the region's clusters and nodes
    are built (so the fleet file states what DescribeSubnets answers), by filling it with network interfaces."""
    for subnet in subnets:
        if "free_ips" in subnet:
            _consume_ips(aws, subnet_ids[subnet["name"]], subnet["cidr"], keep_free=int(subnet["free_ips"]))


def _consume_ips(aws: _AwsClients, subnet_id: str, cidr: str, keep_free: int) -> None:
    """Fill a subnet with network interfaces until only ``keep_free`` addresses remain (IP exhaustion).

    Each interface takes the lowest address nothing holds, as EC2 assigns one, so nodes launched later never
    collide with them."""
    free = aws.ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["AvailableIpAddressCount"]
    if free < keep_free:
        raise ValueError(
            f"subnet {subnet_id} ({cidr}) has {free} free IPs once the fleet's nodes joined, fewer than its "
            f"free_ips: {keep_free}; use a larger CIDR or fewer nodes"
        )
    interfaces = aws.ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet_id]}])
    taken = {
        address["PrivateIpAddress"]
        for interface in interfaces["NetworkInterfaces"]
        for address in interface.get("PrivateIpAddresses") or []
    }
    # The first four addresses and the last are AWS's [VPC UG subnet-sizing.html]; hosts() skips the first and last.
    candidates = (str(host) for host in list(ipaddress.ip_network(cidr).hosts())[3:] if str(host) not in taken)
    for address in itertools.islice(candidates, free - keep_free):
        aws.ec2.create_network_interface(
            SubnetId=subnet_id, PrivateIpAddress=address, Description="sandbox: occupies an address"
        )


#: The AWS managed policies AWS documents for each role a team hands EKS, by the service principal it trusts
#: [UG cluster-iam-role, create-node-role, pod-execution-role]; a Pod Identity role carries the application's own.
SERVICE_ROLE_POLICIES = {
    "eks.amazonaws.com": ["AmazonEKSClusterPolicy"],
    "ec2.amazonaws.com": ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"],
    "eks-fargate-pods.amazonaws.com": ["AmazonEKSFargatePodExecutionRolePolicy"],
}


def create_role(iam: Any, account_id: str, name: str, service: str | None, path: str = "/") -> str:
    """The ARN of role ``name``, created through ``iam`` as a team would if missing: trusting ``service`` (with the
    managed policies AWS documents for it), or, without one, the account (a role people assume)."""
    principal = {"Service": service} if service else {"AWS": f"arn:aws:iam::{account_id}:root"}
    # Pod Identity needs sts:TagSession too [UG pod-id-role]; it is harmless for the others.
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": ["sts:AssumeRole", "sts:TagSession"]}],
    }
    try:
        arn = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    for policy in SERVICE_ROLE_POLICIES.get(service or "", []):
        iam.attach_role_policy(RoleName=name, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
    return arn


def _role(aws: _AwsClients, name: str, service: str | None, path: str = "/") -> str:
    return create_role(aws.iam, aws.account_id, name, service, path)


def _role_named(aws: _AwsClients, arn: str, service: str | None) -> str:
    """Create the role a fleet file names by ARN when it is one of the fleet account's and does not exist yet."""
    prefix = f"arn:aws:iam::{aws.account_id}:role/"
    if arn.startswith(prefix):
        path, _, name = arn[len(prefix) :].rpartition("/")
        _role(aws, name, service, f"/{path}/" if path else "/")
    return arn


def _subnet_ids(subnets: dict[str, str], names: list[str] | None) -> list[str]:
    """Subnet ids for subnet names of the region's network (default: every subnet of the region)."""
    if names is None:
        return list(subnets.values())
    unknown = [name for name in names if name not in subnets]
    if unknown:
        raise ValueError(
            f"unknown subnet {unknown[0]!r}: the region's network defines {', '.join(subnets) or 'no subnets'}"
        )
    return [subnets[name] for name in names]


def _build_cluster(sandbox: Sandbox, aws: _AwsClients, subnets: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    name = spec["name"]
    with _step(name, "IAM roles"):
        cluster_role = _role(aws, "eks-cluster-role", "eks.amazonaws.com")
        node_role = _role(aws, "eks-node-role", "ec2.amazonaws.com")
    with _step(name, "CreateCluster"):
        endpoint = spec.get("endpoint", {})
        request: dict[str, Any] = {
            "name": name,
            "version": str(spec["version"]),
            "roleArn": cluster_role,
            "resourcesVpcConfig": {
                "subnetIds": _subnet_ids(subnets, spec.get("subnets")),
                "endpointPublicAccess": endpoint.get("public", True),
                "endpointPrivateAccess": endpoint.get("private", False),
                "publicAccessCidrs": endpoint.get("public_cidrs", ["0.0.0.0/0"]),
            },
            "logging": {"clusterLogging": _logging(spec.get("logging", []))},
            "accessConfig": {
                "authenticationMode": spec.get("authentication_mode", "API_AND_CONFIG_MAP"),
                "bootstrapClusterCreatorAdminPermissions": True,
            },
            "upgradePolicy": {"supportType": spec.get("upgrade_policy", "EXTENDED")},
            "deletionProtection": bool(spec.get("deletion_protection", False)),
        }
        if spec.get("tags"):  # EKS refuses an empty tag map (TagMap: 1 to 50 entries)
            request["tags"] = {str(key): str(value) for key, value in spec["tags"].items()}
        if spec.get("secrets_encryption"):
            key_arn = aws.kms.create_key(Description=f"EKS secrets for {name}")["KeyMetadata"]["Arn"]
            request["encryptionConfig"] = [{"resources": ["secrets"], "provider": {"keyArn": key_arn}}]
        aws.eks.create_cluster(**request)
        sandbox.settle()
    _prepare_workload_identity(sandbox, aws, name, spec)
    _create_addons(aws, name, spec)
    for nodegroup in spec.get("nodegroups", []):
        with _step(name, f"node group {nodegroup.get('name')}"):
            aws.eks.create_nodegroup(**_nodegroup_request(aws, name, node_role, subnets, nodegroup))
    for profile in spec.get("fargate_profiles", []):
        with _step(name, f"Fargate profile {profile.get('name')}"):
            aws.eks.create_fargate_profile(
                clusterName=name,
                fargateProfileName=profile["name"],
                podExecutionRoleArn=_role(aws, "eks-fargate-pod-role", "eks-fargate-pods.amazonaws.com"),
                subnets=_subnet_ids(subnets, profile.get("subnets", spec.get("subnets"))),
                selectors=profile.get("selectors", [{"namespace": profile["name"]}]),
            )
    for entry in spec.get("access_entries", []):
        with _step(name, f"access entry {entry.get('principal_arn')}"):
            _role_named(aws, entry["principal_arn"], None)
            _create_access_entry(aws, name, entry)
    with _step(name, "waiting for node groups and add-ons"):
        sandbox.settle()

    _apply_kubernetes_objects(sandbox, aws, name, spec)
    for association in spec.get("pod_identity_associations", []):
        with _step(
            name, f"Pod Identity association {association.get('namespace')}/{association.get('service_account')}"
        ):
            aws.eks.create_pod_identity_association(
                clusterName=name,
                namespace=association["namespace"],
                serviceAccount=association["service_account"],
                roleArn=_role_named(aws, association["role_arn"], "pods.eks.amazonaws.com"),
            )
    cluster = aws.eks.describe_cluster(name=name)["cluster"]
    return {
        "account": aws.account_id,
        "region": aws.region,
        "name": name,
        "version": cluster["version"],
        "endpoint": cluster["endpoint"],
    }


def _create_addons(aws: _AwsClients, name: str, spec: dict[str, Any]) -> None:
    """The cluster's add-ons: a name, or ``{name, version, service_account_role_arn}`` (IRSA for its service
    account)."""
    for addon in spec.get("addons", []):
        addon = {"name": addon} if isinstance(addon, str) else addon
        with _step(name, f"add-on {addon.get('name')}"):
            addon_request = {"clusterName": name, "addonName": addon["name"]}
            if addon.get("version"):
                addon_request["addonVersion"] = addon["version"]
            if addon.get("service_account_role_arn"):
                addon_request["serviceAccountRoleArn"] = addon["service_account_role_arn"]
            aws.eks.create_addon(**addon_request)


def _prepare_workload_identity(sandbox: Sandbox, aws: _AwsClients, name: str, spec: dict[str, Any]) -> None:
    """What pods need to get AWS credentials, before any starts: the SDK each image carries (``aws_sdks``), and,
    with ``irsa`` (default: whenever a service account or add-on uses an IRSA role), the IAM OIDC provider and
    the roles the fleet names."""
    if spec.get("aws_sdks"):
        with _step(name, "aws_sdks"):
            _declare_aws_sdks(sandbox, aws, name, spec["aws_sdks"])
    subjects = _irsa_subjects(sandbox, spec)
    if spec.get("irsa", bool(subjects)):
        with _step(name, "IAM OIDC provider and IRSA roles"):
            _create_irsa_trust(aws, name, subjects)


def _declare_aws_sdks(sandbox: Sandbox, aws: _AwsClients, cluster: str, declared: dict[str, str]) -> None:
    """Record which AWS SDK each image carries (``image: <sdk>/<version>``): sandbox-only knowledge, read by the
    kubelets when a container asks for Pod Identity credentials."""
    from eks_sandbox.eks.aws_sdks import load_sdk_minimums

    minimums = load_sdk_minimums(sandbox.include_dir)
    for sdk in declared.values():
        minimums.parse(str(sdk))
    with sandbox.lock:
        sandbox.eks.cluster(aws.account_id, aws.region, cluster).aws_sdks = {
            str(image): str(sdk) for image, sdk in declared.items()
        }


def _irsa_subjects(sandbox: Sandbox, spec: dict[str, Any]) -> dict[str, list[str]]:
    """Role ARN → the ``system:serviceaccount:<ns>:<name>`` subjects that use it through IRSA: service accounts
    annotated ``eks.amazonaws.com/role-arn`` and add-ons given a ``service_account_role_arn``."""
    subjects: dict[str, list[str]] = {}
    for obj in spec.get("kubernetes") or []:
        metadata = (obj or {}).get("metadata") or {}
        role = (metadata.get("annotations") or {}).get(IRSA_ROLE_ANNOTATION)
        if obj.get("kind") == "ServiceAccount" and role:
            subjects.setdefault(role, []).append(
                f"system:serviceaccount:{metadata.get('namespace', 'default')}:{metadata['name']}"
            )
    for addon in spec.get("addons") or []:
        if isinstance(addon, dict) and addon.get("service_account_role_arn"):
            catalogued = sandbox.eks.catalogue.addons.get(addon["name"])
            if catalogued is not None and catalogued.iam_service_account:
                subjects.setdefault(addon["service_account_role_arn"], []).append(
                    f"system:serviceaccount:{catalogued.namespace}:{catalogued.iam_service_account}"
                )
    return subjects


def _create_irsa_trust(aws: _AwsClients, cluster: str, subjects: dict[str, list[str]]) -> None:
    """The cluster's IAM OIDC provider (audience sts.amazonaws.com), and each missing IRSA role of the fleet's
    account trusting it for its service accounts, as a team writes it: StringEquals on ``:sub`` and ``:aud``
    [UG associate-service-account-role; eksctl ``create iamserviceaccount``]."""
    issuer = aws.eks.describe_cluster(name=cluster)["cluster"]["identity"]["oidc"]["issuer"]
    host_path = issuer.removeprefix("https://")
    provider_arn = f"arn:aws:iam::{aws.account_id}:oidc-provider/{host_path}"
    with contextlib.suppress(aws.iam.exceptions.EntityAlreadyExistsException):
        # The thumbprint of the CA behind oidc.eks.<region>.amazonaws.com (IAM no longer checks it for EKS issuers).
        aws.iam.create_open_id_connect_provider(
            Url=issuer, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]
        )
    prefix = f"arn:aws:iam::{aws.account_id}:role/"
    for role_arn, role_subjects in subjects.items():
        if not role_arn.startswith(prefix):
            continue  # another account's role: that account's team writes its trust
        path, _, name = role_arn[len(prefix) :].rpartition("/")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{host_path}:sub": role_subjects[0] if len(role_subjects) == 1 else role_subjects,
                            f"{host_path}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
        # an existing role is the team's own: its trust is theirs
        with contextlib.suppress(aws.iam.exceptions.EntityAlreadyExistsException):
            aws.iam.create_role(
                RoleName=name, Path=f"/{path}/" if path else "/", AssumeRolePolicyDocument=json.dumps(trust)
            )


def _create_access_entry(aws: _AwsClients, cluster: str, entry: dict[str, Any]) -> None:
    """An access entry (optional ``kubernetes_groups``, ``username``) and its policies: a policy name for the
    whole cluster, or ``{policy: NAME, namespaces: [...]}`` for some namespaces."""
    request: dict[str, Any] = {"clusterName": cluster, "principalArn": entry["principal_arn"]}
    if entry.get("kubernetes_groups"):
        request["kubernetesGroups"] = list(entry["kubernetes_groups"])
    if entry.get("username"):
        request["username"] = entry["username"]
    aws.eks.create_access_entry(**request)
    for policy in entry.get("policies", []):
        policy = {"policy": policy} if isinstance(policy, str) else policy
        namespaces = policy.get("namespaces")
        aws.eks.associate_access_policy(
            clusterName=cluster,
            principalArn=entry["principal_arn"],
            policyArn=POLICY_ARN_PREFIX + policy["policy"],
            accessScope={"type": "namespace", "namespaces": namespaces} if namespaces else {"type": "cluster"},
        )


def _logging(enabled: list[str]) -> list[dict[str, Any]]:
    disabled = [log_type for log_type in ALL_LOG_TYPES if log_type not in enabled]
    setups = []
    if enabled:
        setups.append({"types": list(enabled), "enabled": True})
    if disabled:
        setups.append({"types": disabled, "enabled": False})
    return setups


def _nodegroup_request(
    aws: _AwsClients, cluster: str, node_role: str, subnets: dict[str, str], spec: dict[str, Any]
) -> dict[str, Any]:
    size = int(spec.get("size", 2))
    request: dict[str, Any] = {
        "clusterName": cluster,
        "nodegroupName": spec["name"],
        "nodeRole": node_role,
        "subnets": _subnet_ids(subnets, spec.get("subnets")),
        "scalingConfig": {
            "minSize": int(spec.get("min_size", min(size, 1))),
            "maxSize": int(spec.get("max_size", max(size, 1) * 2)),
            "desiredSize": size,
        },
        "labels": {str(key): str(value) for key, value in (spec.get("labels") or {}).items()},
        "capacityType": spec.get("capacity_type", "ON_DEMAND"),
    }
    if spec.get("taints"):
        request["taints"] = spec["taints"]
    if spec.get("launch_template"):
        request["launchTemplate"] = _launch_template(aws, cluster, spec["name"], spec["launch_template"])
        if not spec["launch_template"].get("image_id"):
            request["amiType"] = spec.get("ami_type", "AL2023_x86_64_STANDARD")
    else:
        request["amiType"] = spec.get("ami_type", "AL2023_x86_64_STANDARD")
        request["instanceTypes"] = spec.get("instance_types", ["m5.large"])
    if spec.get("version") and "image_id" not in (spec.get("launch_template") or {}):
        request["version"] = str(spec["version"])
    return request


def _launch_template(aws: _AwsClients, cluster: str, nodegroup: str, spec: dict[str, Any]) -> dict[str, str]:
    data: dict[str, Any] = {
        "InstanceType": spec.get("instance_type", "m5.large"),
        "MetadataOptions": {
            "HttpTokens": spec.get("http_tokens", "required"),
            "HttpPutResponseHopLimit": int(spec.get("hop_limit", 2)),
        },
        "BlockDeviceMappings": [
            {
                "DeviceName": "/dev/xvda",
                "Ebs": {"VolumeSize": 20, "VolumeType": "gp3", "Encrypted": bool(spec.get("encrypted", True))},
            }
        ],
    }
    if spec.get("image_id"):
        data["ImageId"] = spec["image_id"]
    template = aws.ec2.create_launch_template(LaunchTemplateName=f"{cluster}-{nodegroup}", LaunchTemplateData=data)[
        "LaunchTemplate"
    ]
    return {"id": template["LaunchTemplateId"], "version": str(template["LatestVersionNumber"])}


def _apply_kubernetes_objects(sandbox: Sandbox, aws: _AwsClients, cluster_name: str, spec: dict[str, Any]) -> None:
    objects = list(spec.get("kubernetes", []))
    for release in spec.get("helm_releases", []):
        with _step(cluster_name, f"Helm release {release.get('name')}"):
            objects.append(helm_release_secret(release))
    if not objects and not spec.get("aws_auth"):
        return
    endpoint = aws.eks.describe_cluster(name=cluster_name)["cluster"]["endpoint"]
    with sandbox.transaction():
        kube = sandbox.kube_clusters.at_endpoint(endpoint)
        for obj in objects:
            with _step(cluster_name, f"Kubernetes object {_object_label(obj)}"):
                # A team's objects, as `kubectl apply` writes them (managedFields name that manager).
                kube.apply(obj, FieldManager("kubectl-client-side-apply"))
        if spec.get("aws_auth"):
            with _step(cluster_name, "aws-auth ConfigMap"):
                current = kube.get("v1", "ConfigMap", "aws-auth", "kube-system")
                kube.apply(aws_auth_config_map(current, spec["aws_auth"]), FieldManager("kubectl-client-side-apply"))


def aws_auth_config_map(current: dict[str, Any] | None, mappings: dict[str, Any]) -> dict[str, Any]:
    """kube-system/aws-auth with the fleet's ``map_roles``/``map_users`` added to what is there (the node
    roles EKS maps for managed node groups), as ``eksctl create iamidentitymapping`` adds them."""
    config_map = current or {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "aws-auth", "namespace": "kube-system"},
    }
    data = config_map.setdefault("data", {})
    for key, field in (("mapRoles", "map_roles"), ("mapUsers", "map_users")):
        added = mappings.get(field) or []
        if added:
            data[key] = yaml.safe_dump((yaml.safe_load(data.get(key) or "[]") or []) + list(added), sort_keys=False)
    return config_map


def _object_label(obj: Any) -> str:
    """``Deployment payments/ledger``: how a Kubernetes object is named in an error."""
    if not isinstance(obj, dict):
        return repr(obj)
    metadata = obj.get("metadata") or {}
    namespace = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
    return f"{obj.get('kind')} {namespace}{metadata.get('name')}"


def helm_release_secret(release: dict[str, Any]) -> dict[str, Any]:
    """The Secret Helm 3 stores for a deployed release (``sh.helm.release.v1.<name>.v<revision>``).

    Helm encodes the release as JSON → gzip → base64, and the Secret's data is base64 of that again.
    The manifest is the rendered YAML of every object, which is where deprecation scanners look.
    """
    name, namespace = release["name"], release.get("namespace", "default")
    revision = int(release.get("revision", 1))
    manifest = "".join(
        f"---\n# Source: {release.get('chart', name)}/templates/{obj['kind'].lower()}.yaml\n"
        + yaml.safe_dump(obj, sort_keys=False)
        for obj in release.get("manifests", [])
    )
    document = {
        "name": name,
        "namespace": namespace,
        "version": revision,
        "info": {"status": "deployed", "description": "Install complete"},
        "chart": {
            "metadata": {
                "name": release.get("chart", name),
                "version": str(release.get("chart_version", "1.0.0")),
                "appVersion": str(release.get("app_version", "1.0.0")),
                "apiVersion": "v2",
            }
        },
        "manifest": manifest,
    }
    helm_encoded = base64.b64encode(gzip.compress(json.dumps(document).encode())).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": f"sh.helm.release.v1.{name}.v{revision}",
            "namespace": namespace,
            "labels": {"name": name, "owner": "helm", "status": "deployed", "version": str(revision)},
        },
        "data": {"release": base64.b64encode(helm_encoded.encode()).decode()},
    }

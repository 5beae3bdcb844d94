"""The bootstrap's pre-flight on the sandbox: what AWS answers, read and judged before anything is created."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from eks_runbooks.core.bootstrap.preflight import (
    BOOTSTRAPPED_BY_TAG,
    CLUSTER_TAG,
    QuotaSource,
    blocking_failures,
    resolve_versions,
    run_preflight,
)
from eks_runbooks.core.bootstrap.request import parse_bootstrap_request
from eks_runbooks.core.catalogue import Status
from eks_runbooks.readers.bootstrap import BootstrapClients, gather_bootstrap_preflight
from tests.helpers import WORLD_DATE

ACCOUNT = "123456789012"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/platform-admins"


def aws(service: str, region: str = "us-east-1"):
    return boto3.client(service, region_name=region)


def subnet_ids(*names: str, region: str = "us-east-1") -> list[str]:
    found = aws("ec2", region).describe_subnets(Filters=[{"Name": "tag:Name", "Values": list(names)}])["Subnets"]
    by_name = {tag["Value"]: s["SubnetId"] for s in found for tag in s.get("Tags", []) if tag["Key"] == "Name"}
    return [by_name[name] for name in names]


def request(**overrides):
    return parse_bootstrap_request(
        {
            "cluster_name": "checkout-prod",
            "subnet_ids": subnet_ids("private-a", "private-b", "private-c"),
            "admin_principal_arns": [ADMIN],
            "compute": [{"name": "general", "instance_types": ["m5.large"], "min": 1, "max": 3, "desired": 2}],
            **overrides,
        }
    )


def preflight(bootstrap_request):
    clients = BootstrapClients.for_connection("aws_default", bootstrap_request.region)
    inputs = gather_bootstrap_preflight(clients, bootstrap_request, today=WORLD_DATE)
    return inputs, run_preflight(inputs)


def failing(findings) -> dict[str, str]:
    """check id → the details of its blocking findings, one per line."""
    details: dict[str, list[str]] = {}
    for finding in blocking_failures(findings):
        details.setdefault(finding.check_id, []).append(finding.detail)
    return {check_id: "\n".join(lines) for check_id, lines in details.items()}


def test_a_good_request_on_the_demo_network_passes_with_the_newest_version_and_default_add_ons(demo_fleet):
    inputs, findings = preflight(request())
    assert failing(findings) == {}
    # the sandbox serves the Clusters quota as Service Quotas answers it (the default, 100)
    assert inputs.quota_source is QuotaSource.APPLIED and inputs.cluster_quota == 100
    assert inputs.cluster_count == len(aws("eks").list_clusters()["clusters"])
    newest = max(
        (v["clusterVersion"] for v in aws("eks").describe_cluster_versions()["clusterVersions"]),
        key=lambda number: int(number.split(".")[1]),
    )
    version, addon_versions = resolve_versions(inputs)
    assert version == newest  # the demo's world date: the newest version is in standard support
    defaults = {
        addon["addonName"]: next(
            v["addonVersion"]
            for v in addon["addonVersions"]
            if any(c["clusterVersion"] == version and c.get("defaultVersion") for c in v["compatibilities"])
        )
        for addon in aws("eks").describe_addon_versions(kubernetesVersion=version)["addons"]
        if addon["addonName"] in inputs.request.addons
    }
    assert addon_versions == defaults and set(addon_versions) == set(inputs.request.addons)
    statuses = {finding.check_id: finding.status for finding in findings}
    assert statuses["BOOT-ENDPOINT-REACHABLE"] is Status.INFO
    assert statuses["BOOT-KMS-KEY-USABLE"] is Status.SKIP and statuses["BOOT-ROLES"] is Status.SKIP


def test_a_public_subnet_of_the_demo_vpc_fails_naming_it(demo_fleet):
    [public] = subnet_ids("public-a")
    _, findings = preflight(request(subnet_ids=[*subnet_ids("private-a", "private-b"), public]))
    assert set(failing(findings)) == {"BOOT-SUBNETS-PRIVATE"}
    assert public in failing(findings)["BOOT-SUBNETS-PRIVATE"] and "igw-" in failing(findings)["BOOT-SUBNETS-PRIVATE"]


def test_private_subnets_in_one_availability_zone_fail(demo_fleet):
    [private_a] = subnet_ids("private-a")
    vpc = aws("ec2").describe_subnets(SubnetIds=[private_a])["Subnets"][0]["VpcId"]
    second = aws("ec2").create_subnet(VpcId=vpc, CidrBlock="10.0.128.0/20", AvailabilityZone="us-east-1a")
    _, findings = preflight(request(subnet_ids=[private_a, second["Subnet"]["SubnetId"]]))
    assert set(failing(findings)) == {"BOOT-SUBNETS-TWO-AZS"}
    assert "(us-east-1a)" in failing(findings)["BOOT-SUBNETS-TWO-AZS"]


def test_a_subnet_that_does_not_exist_fails_naming_it(demo_fleet):
    missing = "subnet-0123456789abcdef0"
    _, findings = preflight(request(subnet_ids=[*subnet_ids("private-a", "private-b"), missing]))
    assert missing in failing(findings)["BOOT-SUBNETS-EXIST"]


def test_subnets_almost_out_of_addresses_fail_naming_each(demo_fleet):
    tight = subnet_ids("tight-a", "tight-b", region="us-west-2")
    _, findings = preflight(request(region="us-west-2", subnet_ids=tight))
    detail = failing(findings)["BOOT-SUBNET-FREE-IPS"]
    assert all(subnet_id in detail for subnet_id in tight)


def test_a_name_that_exists_fails_and_a_cluster_this_runbook_started_is_resumed(demo_fleet):
    _, findings = preflight(request(cluster_name="payments-prod"))
    assert set(failing(findings)) == {"BOOT-NAME-FREE"}
    arn = aws("eks").describe_cluster(name="payments-prod")["cluster"]["arn"]
    aws("eks").tag_resource(
        resourceArn=arn, tags={BOOTSTRAPPED_BY_TAG: "eks_cluster_bootstrap/manual__7", CLUSTER_TAG: "payments-prod"}
    )
    inputs, findings = preflight(request(cluster_name="payments-prod"))
    assert failing(findings) == {}
    [name] = [finding for finding in findings if finding.check_id == "BOOT-NAME-FREE"]
    assert "resuming the bootstrap started by run eks_cluster_bootstrap/manual__7" in name.detail
    assert resolve_versions(inputs)[0] == "1.32"  # the cluster's own version


def test_an_unsupported_version_and_one_eks_does_not_offer_fail_naming_them(demo_fleet):
    _, findings = preflight(request(kubernetes_version="1.28"))
    assert set(failing(findings)) == {"BOOT-VERSION-SUPPORTED"}
    assert "kubernetes_version 1.28: UNSUPPORTED" in failing(findings)["BOOT-VERSION-SUPPORTED"]
    _, findings = preflight(request(kubernetes_version="1.99"))
    assert set(failing(findings)) == {"BOOT-VERSION-SUPPORTED"}
    assert "kubernetes_version 1.99: EKS does not offer it" in failing(findings)["BOOT-VERSION-SUPPORTED"]


def test_a_disabled_kms_key_and_an_asymmetric_one_fail_an_enabled_symmetric_one_passes(demo_fleet):
    kms = aws("kms")
    good = kms.create_key()["KeyMetadata"]["Arn"]
    disabled = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=disabled["KeyId"])  # moto's DisableKey takes the id only
    disabled = disabled["Arn"]
    signing = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    assert failing(preflight(request(kms_key_arn=good))[1]) == {}
    assert "KeyState is Disabled" in failing(preflight(request(kms_key_arn=disabled))[1])["BOOT-KMS-KEY-USABLE"]
    assert "KeySpec is RSA_2048" in failing(preflight(request(kms_key_arn=signing))[1])["BOOT-KMS-KEY-USABLE"]


def test_a_node_role_without_its_policies_and_a_missing_admin_fail_naming_them(demo_fleet):
    iam = aws("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName="bare-nodes", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.attach_role_policy(RoleName="bare-nodes", PolicyArn="arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy")
    nobody = f"arn:aws:iam::{ACCOUNT}:user/nobody"
    _, findings = preflight(request(node_role_arn=role, admin_principal_arns=[ADMIN, nobody]))
    assert set(failing(findings)) == {"BOOT-ROLES", "BOOT-ADMINS-EXIST"}
    assert "AmazonEC2ContainerRegistryPullOnly, AmazonEKS_CNI_Policy" in failing(findings)["BOOT-ROLES"]
    assert nobody in failing(findings)["BOOT-ADMINS-EXIST"]


def test_an_instance_type_not_offered_and_one_of_the_wrong_architecture_fail(demo_fleet):
    compute = [
        {"name": "general", "instance_types": ["m5.large", "m7g.large"], "min": 1, "max": 3, "desired": 1},
        {"name": "arm", "instance_types": ["x9.large"], "min": 1, "max": 3, "desired": 1}
        | {"ami_type": "AL2023_ARM_64_STANDARD"},
    ]
    _, findings = preflight(request(compute=compute))
    detail = failing(findings)["BOOT-INSTANCE-TYPES"]
    assert "general: m7g.large is arm64" in detail and "arm: x9.large is not offered in us-east-1" in detail


def test_service_quotas_denied_falls_back_to_the_default_and_says_so(demo_fleet):
    demo_fleet.faults.add_from_dict(
        {"kind": "error", "service": "servicequotas", "operation": "GetServiceQuota", "error": "AccessDeniedException"}
    )
    inputs, findings = preflight(request())
    assert (inputs.cluster_quota, inputs.quota_source) == (100, QuotaSource.DEFAULT_DENIED)
    [quota] = [finding for finding in findings if finding.check_id == "BOOT-CLUSTER-QUOTA"]
    assert quota.status is Status.PASS and "denied" in quota.detail


def test_any_other_service_quotas_error_propagates(demo_fleet, fast_dag_test):  # short retry back-offs
    demo_fleet.faults.add_from_dict(
        {"kind": "error", "service": "servicequotas", "operation": "GetServiceQuota", "error": "InternalFailure"}
    )
    with pytest.raises(ClientError, match="InternalFailure"):
        preflight(request())

"""The bootstrap's pre-flight: wrong inputs fail before any change, each naming the input; a good request passes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from eks_runbooks.core.bootstrap.preflight import (
    BOOTSTRAPPED_BY_TAG,
    CLUSTER_TAG,
    PreflightInputs,
    QuotaSource,
    blocking_failures,
    load_bootstrap_preflight_catalogue,
    max_pods,
    run_preflight,
)
from eks_runbooks.core.bootstrap.preflight import resolve_versions as resolve
from eks_runbooks.core.bootstrap.request import parse_bootstrap_request
from eks_runbooks.core.catalogue import Status
from tests.helpers import WORLD_DATE

ACCOUNT = "123456789012"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/platform-admins"
CLUSTER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/checkout-cluster"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/checkout-nodes"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0b5a3c1e-1111-4222-8333-944455556666"
PRIVATE = ("subnet-0aaa0000000000001", "subnet-0aaa0000000000002", "subnet-0aaa0000000000003")
PUBLIC = "subnet-0bbb0000000000001"


def subnet(subnet_id: str, zone: str, zone_id: str, cidr: str, free: int = 8000, vpc: str = "vpc-01") -> dict:
    return {
        "SubnetId": subnet_id,
        "VpcId": vpc,
        "AvailabilityZone": zone,
        "AvailabilityZoneId": zone_id,
        "CidrBlock": cidr,
        "AvailableIpAddressCount": free,
    }


SUBNETS = [
    subnet(PRIVATE[0], "us-east-1a", "use1-az6", "10.0.0.0/19"),
    subnet(PRIVATE[1], "us-east-1b", "use1-az1", "10.0.32.0/19"),
    subnet(PRIVATE[2], "us-east-1c", "use1-az2", "10.0.64.0/19"),
    subnet(PUBLIC, "us-east-1a", "use1-az6", "10.0.96.0/24"),
]
ROUTE_TABLES = [
    {
        "RouteTableId": "rtb-main",
        "VpcId": "vpc-01",
        "Associations": [{"Main": True}],
        "Routes": [
            {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
            {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-0123", "State": "active"},
        ],
    },
    {
        "RouteTableId": "rtb-public",
        "VpcId": "vpc-01",
        "Associations": [{"Main": False, "SubnetId": PUBLIC}],
        "Routes": [
            {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
            {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-0123", "State": "active"},
        ],
    },
]


def instance_type(name: str, arch: str = "x86_64", vcpus: int = 2, enis: int = 3, ips: int = 10) -> dict:
    return {
        "InstanceType": name,
        "VCpuInfo": {"DefaultVCpus": vcpus},
        "ProcessorInfo": {"SupportedArchitectures": [arch]},
        "NetworkInfo": {"MaximumNetworkInterfaces": enis, "Ipv4AddressesPerInterface": ips},
    }


def version(number: str, status: str, end: str) -> dict:
    return {
        "clusterVersion": number,
        "versionStatus": status,
        "endOfStandardSupportDate": datetime.fromisoformat(end).replace(tzinfo=UTC),
    }


CLUSTER_VERSIONS = [
    version("1.31", "EXTENDED_SUPPORT", "2025-11-26"),
    version("1.32", "STANDARD_SUPPORT", "2026-03-23"),
    version("1.33", "STANDARD_SUPPORT", "2026-07-29"),
    version("1.34", "STANDARD_SUPPORT", "2026-12-02"),
    version("1.28", "UNSUPPORTED", "2024-11-26"),
]
ADDONS = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns", "metrics-server", "aws-ebs-csi-driver")


def published(name: str, kubernetes_version: str = "1.34") -> dict:
    return {
        "addonName": name,
        "addonVersions": [
            {
                "addonVersion": "v1.2.0-eksbuild.1",
                "compatibilities": [{"clusterVersion": kubernetes_version, "defaultVersion": False}],
            },
            {
                "addonVersion": "v1.1.0-eksbuild.3",
                "compatibilities": [{"clusterVersion": kubernetes_version, "defaultVersion": True}],
            },
        ],
    }


def trust(service: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def aws_policy(name: str) -> str:
    return f"arn:aws:iam::aws:policy/{name}"


def request(**overrides: Any):
    conf = {
        "cluster_name": "checkout-prod",
        "subnet_ids": list(PRIVATE),
        "admin_principal_arns": [ADMIN],
        "compute": [{"name": "general", "instance_types": ["m5.large"], "min": 2, "max": 6, "desired": 3}],
        "kms_key_arn": KEY,
        "cluster_role_arn": CLUSTER_ROLE,
        "node_role_arn": NODE_ROLE,
        **overrides,
    }
    return parse_bootstrap_request(conf)


def good_inputs(**overrides: Any) -> PreflightInputs:
    inputs = PreflightInputs(
        request=request(),
        today=WORLD_DATE,
        account_id=ACCOUNT,
        subnets=SUBNETS[:3],
        route_tables=ROUTE_TABLES,
        instance_types=[instance_type("m5.large"), instance_type("m7g.large", arch="arm64")],
        existing_cluster=None,
        cluster_count=5,
        cluster_quota=100,
        quota_source=QuotaSource.DEFAULT_NOT_APPLIED,
        kms_key={
            "Arn": KEY,
            "KeyState": "Enabled",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "KeyUsage": "ENCRYPT_DECRYPT",
        },
        roles={
            CLUSTER_ROLE: {"Arn": CLUSTER_ROLE, "AssumeRolePolicyDocument": trust("eks.amazonaws.com")},
            NODE_ROLE: {"Arn": NODE_ROLE, "AssumeRolePolicyDocument": trust("ec2.amazonaws.com")},
        },
        role_policies={
            CLUSTER_ROLE: [aws_policy("AmazonEKSClusterPolicy")],
            NODE_ROLE: [
                aws_policy("AmazonEKSWorkerNodePolicy"),
                aws_policy("AmazonEC2ContainerRegistryPullOnly"),
                aws_policy("AmazonEKS_CNI_Policy"),
            ],
        },
        principals={ADMIN: True},
        cluster_versions=CLUSTER_VERSIONS,
        addon_versions=[published(name) for name in ADDONS],
    )
    return replace(inputs, **overrides)


def results(inputs: PreflightInputs, check_id: str):
    return [finding for finding in run_preflight(inputs) if finding.check_id == check_id]


def only_failure(inputs: PreflightInputs, check_id: str):
    failures = blocking_failures(run_preflight(inputs))
    assert [finding.check_id for finding in failures] == [check_id], [f.detail for f in failures]
    return failures[0]


def test_the_catalogue_names_exactly_the_registered_checks_each_with_a_source():
    catalogue = load_bootstrap_preflight_catalogue()
    assert {spec.id for spec in catalogue} >= {
        "BOOT-SUBNETS-PRIVATE",
        "BOOT-SUBNETS-TWO-AZS",
        "BOOT-SUBNET-FREE-IPS",
        "BOOT-NAME-FREE",
        "BOOT-CLUSTER-QUOTA",
        "BOOT-KMS-KEY-USABLE",
        "BOOT-ROLES",
        "BOOT-ADMINS-EXIST",
        "BOOT-VERSION-SUPPORTED",
        "BOOT-ADDON-VERSIONS",
        "BOOT-INSTANCE-TYPES",
        "BOOT-ENDPOINT-REACHABLE",
    }
    assert all(spec.source and spec.remediation for spec in catalogue)
    assert not next(spec for spec in catalogue if spec.id == "BOOT-ENDPOINT-REACHABLE").blocking


def test_a_good_request_passes_every_gate_and_says_what_it_looked_at():
    findings = run_preflight(good_inputs())
    assert blocking_failures(findings) == []
    statuses = {finding.check_id: finding.status for finding in findings}
    assert statuses["BOOT-ENDPOINT-REACHABLE"] is Status.INFO
    assert all(status is Status.PASS for check_id, status in statuses.items() if check_id != "BOOT-ENDPOINT-REACHABLE")
    evidence = {finding.check_id: finding.detail for finding in findings}
    assert "6 of 100 clusters" in evidence["BOOT-CLUSTER-QUOTA"]
    assert "Service Quotas holds no applied value" in evidence["BOOT-CLUSTER-QUOTA"]
    assert "1.34 (the newest in standard support)" in evidence["BOOT-VERSION-SUPPORTED"]


def test_a_public_subnet_fails_naming_the_subnet_and_its_internet_gateway():
    inputs = good_inputs(request=request(subnet_ids=[*PRIVATE, PUBLIC]), subnets=SUBNETS)
    failure = only_failure(inputs, "BOOT-SUBNETS-PRIVATE")
    assert failure.objects == (PUBLIC,)
    assert PUBLIC in failure.detail and "igw-0123" in failure.detail and "10.0.96.0/24" in failure.detail


def test_a_subnet_on_the_main_route_table_with_an_internet_gateway_is_public():
    main_to_igw = [
        {**ROUTE_TABLES[0], "Routes": [{"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-0999"}]},
        ROUTE_TABLES[1],
    ]
    failure = only_failure(good_inputs(route_tables=main_to_igw), "BOOT-SUBNETS-PRIVATE")
    assert set(failure.objects) == set(PRIVATE) and "rtb-main" in failure.detail


def test_subnets_in_one_availability_zone_fail_naming_the_zone():
    one_zone = [subnet(PRIVATE[0], "us-east-1a", "use1-az6", "10.0.0.0/19"), {**SUBNETS[0], "SubnetId": PRIVATE[1]}]
    inputs = good_inputs(request=request(subnet_ids=list(PRIVATE[:2])), subnets=one_zone)
    failure = only_failure(inputs, "BOOT-SUBNETS-TWO-AZS")
    assert "1 Availability Zone(s) (us-east-1a)" in failure.detail and "needs 2" in failure.detail


def test_a_subnet_in_a_zone_without_eks_capacity_fails_naming_its_zone_id():
    unsupported = subnet(PRIVATE[2], "us-east-1e", "use1-az3", "10.0.64.0/19")
    inputs = good_inputs(subnets=[*SUBNETS[:2], unsupported])
    failure = only_failure(inputs, "BOOT-SUBNETS-TWO-AZS")
    assert failure.objects == (PRIVATE[2],) and "use1-az3" in failure.detail


def test_a_subnet_that_does_not_exist_fails_naming_it():
    failure = only_failure(good_inputs(subnets=SUBNETS[:2]), "BOOT-SUBNETS-EXIST")
    assert failure.objects == (PRIVATE[2],)


def test_subnets_of_two_vpcs_fail_naming_both():
    other = {**SUBNETS[2], "VpcId": "vpc-02"}
    tables = [*ROUTE_TABLES, {**ROUTE_TABLES[0], "RouteTableId": "rtb-other", "VpcId": "vpc-02"}]
    failure = only_failure(good_inputs(subnets=[*SUBNETS[:2], other], route_tables=tables), "BOOT-SUBNETS-EXIST")
    assert "vpc-01" in failure.detail and "vpc-02" in failure.detail


def test_max_pods_follows_the_eni_formula_capped_by_vcpus():
    assert max_pods(instance_type("m5.large")) == 29  # 3 x (10 - 1) + 2
    assert max_pods(instance_type("m5.4xlarge", vcpus=16, enis=8, ips=30)) == 110  # 234, capped under 30 vCPUs
    assert max_pods(instance_type("m5.24xlarge", vcpus=96, enis=15, ips=50)) == 250


def test_a_subnet_short_of_ips_for_the_nodes_pods_fails_naming_the_subnet_and_the_count():
    tight = subnet(PRIVATE[2], "us-east-1c", "use1-az2", "10.0.64.0/26", free=40)
    failure = only_failure(good_inputs(subnets=[*SUBNETS[:2], tight]), "BOOT-SUBNET-FREE-IPS")
    # max 6 nodes over 3 subnets: 2 per subnet x 29 pods + 6 for the control plane
    assert failure.objects == (PRIVATE[2],)
    assert "has 40 free IP addresses, needs 64" in failure.detail and "general 2 node(s) x 29 pods" in failure.detail


def test_a_full_region_fails_on_the_cluster_quota_saying_where_the_quota_came_from():
    inputs = good_inputs(cluster_count=10, cluster_quota=10, quota_source=QuotaSource.DEFAULT_DENIED)
    failure = only_failure(inputs, "BOOT-CLUSTER-QUOTA")
    assert "11 of 10" in failure.detail and "denied" in failure.detail


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ({"KeyState": "Disabled"}, "KeyState is Disabled"),
        ({"KeySpec": "RSA_2048"}, "KeySpec is RSA_2048"),
        ({"KeyUsage": "SIGN_VERIFY"}, "KeyUsage is SIGN_VERIFY"),
        ({"Arn": KEY.replace("us-east-1", "eu-west-1")}, "its region is eu-west-1"),
    ],
    ids=["disabled", "asymmetric", "signing", "other-region"],
)
def test_an_unusable_kms_key_fails_naming_its_arn_and_the_problem(key, problem):
    inputs = good_inputs()
    failure = only_failure(replace(inputs, kms_key={**inputs.kms_key, **key}), "BOOT-KMS-KEY-USABLE")
    assert KEY in failure.detail and problem in failure.detail


def test_a_kms_key_that_does_not_exist_fails_and_none_given_is_skipped():
    assert KEY in only_failure(good_inputs(kms_key=None), "BOOT-KMS-KEY-USABLE").detail
    [finding] = results(good_inputs(request=request(kms_key_arn=None), kms_key=None), "BOOT-KMS-KEY-USABLE")
    assert finding.status is Status.SKIP


def test_a_node_role_without_the_cni_policy_fails_naming_the_role_and_the_policy():
    inputs = good_inputs()
    policies = {**inputs.role_policies, NODE_ROLE: inputs.role_policies[NODE_ROLE][:2]}
    failure = only_failure(replace(inputs, role_policies=policies), "BOOT-ROLES")
    assert NODE_ROLE in failure.detail and "AmazonEKS_CNI_Policy" in failure.detail


def test_a_cluster_role_that_trusts_ec2_fails_and_the_registry_read_only_policy_is_accepted():
    inputs = good_inputs()
    roles = {**inputs.roles, CLUSTER_ROLE: {"AssumeRolePolicyDocument": trust("ec2.amazonaws.com")}}
    registry = [p.replace("PullOnly", "ReadOnly") for p in inputs.role_policies[NODE_ROLE]]
    failure = only_failure(
        replace(inputs, roles=roles, role_policies={**inputs.role_policies, NODE_ROLE: registry}), "BOOT-ROLES"
    )
    assert f"cluster_role_arn {CLUSTER_ROLE}: does not trust eks.amazonaws.com" == failure.detail


def test_a_role_that_does_not_exist_fails_naming_it():
    inputs = good_inputs()
    failure = only_failure(replace(inputs, roles={**inputs.roles, NODE_ROLE: None}), "BOOT-ROLES")
    assert failure.detail == f"node_role_arn {NODE_ROLE}: does not exist"


def test_an_admin_principal_that_does_not_exist_fails_naming_it():
    failure = only_failure(good_inputs(principals={ADMIN: False}), "BOOT-ADMINS-EXIST")
    assert failure.objects == (ADMIN,)


@pytest.mark.parametrize(
    ("asked", "said"),
    [("1.31", "EXTENDED_SUPPORT"), ("1.28", "UNSUPPORTED"), ("1.29", "does not offer it")],
)
def test_a_version_out_of_standard_support_fails_naming_it(asked, said):
    inputs = good_inputs(request=request(kubernetes_version=asked))
    failure = only_failure(inputs, "BOOT-VERSION-SUPPORTED")
    assert f"kubernetes_version {asked}" in failure.detail and said in failure.detail


def test_a_version_whose_standard_support_ended_by_the_runbook_clock_fails():
    stale = [*CLUSTER_VERSIONS[:1], version("1.32", "STANDARD_SUPPORT", "2026-01-19"), *CLUSTER_VERSIONS[2:]]
    inputs = good_inputs(request=request(kubernetes_version="1.32"), cluster_versions=stale)
    failure = only_failure(inputs, "BOOT-VERSION-SUPPORTED")
    assert "standard support ended 2026-01-19" in failure.detail


def test_the_default_version_is_the_newest_in_standard_support_with_each_add_ons_default_version():
    kubernetes_version, addon_versions = resolve(good_inputs())
    assert kubernetes_version == "1.34"
    assert addon_versions == dict.fromkeys(ADDONS, "v1.1.0-eksbuild.3")  # the default, not the newest


def test_without_a_default_the_newest_compatible_add_on_version_is_chosen():
    no_default = published("vpc-cni")
    for entry in no_default["addonVersions"]:
        entry["compatibilities"][0]["defaultVersion"] = False
    others = [published(name) for name in ADDONS if name != "vpc-cni"]
    assert resolve(good_inputs(addon_versions=[no_default, *others]))[1]["vpc-cni"] == "v1.2.0-eksbuild.1"


def test_an_add_on_without_a_version_for_the_kubernetes_version_fails_naming_it():
    inputs = good_inputs(addon_versions=[published(name) for name in ADDONS if name != "metrics-server"])
    failure = only_failure(inputs, "BOOT-ADDON-VERSIONS")
    assert failure.objects == ("metrics-server",) and "1.34" in failure.detail


def test_an_instance_type_the_region_does_not_offer_fails_naming_it():
    compute = [{"name": "general", "instance_types": ["m5.large", "x9.large"], "min": 1, "max": 3, "desired": 1}]
    failure = only_failure(good_inputs(request=request(compute=compute)), "BOOT-INSTANCE-TYPES")
    assert failure.objects == ("x9.large",) and "not offered in us-east-1" in failure.detail


def test_an_arm_instance_type_for_an_x86_ami_fails_naming_both():
    compute = [{"name": "general", "instance_types": ["m7g.large"], "min": 1, "max": 3, "desired": 1}]
    failure = only_failure(good_inputs(request=request(compute=compute)), "BOOT-INSTANCE-TYPES")
    assert "m7g.large is arm64, ami_type AL2023_x86_64_STANDARD needs x86_64" in failure.detail


def test_a_name_that_exists_fails_naming_the_cluster():
    existing = {"name": "checkout-prod", "arn": "arn:aws:eks:us-east-1:123456789012:cluster/checkout-prod", "tags": {}}
    failure = only_failure(good_inputs(existing_cluster=existing), "BOOT-NAME-FREE")
    assert failure.objects == (existing["arn"],) and "checkout-prod" in failure.detail


def test_a_cluster_this_runbook_started_is_resumed_at_its_own_version_without_counting_it_twice():
    tags = {BOOTSTRAPPED_BY_TAG: "eks_cluster_bootstrap/manual__1", CLUSTER_TAG: "checkout-prod"}
    existing = {"name": "checkout-prod", "version": "1.33", "status": "ACTIVE", "tags": tags}
    at_133 = [published(name, "1.33") for name in ADDONS]
    inputs = good_inputs(existing_cluster=existing, cluster_count=100, addon_versions=at_133)
    findings = run_preflight(inputs)
    assert blocking_failures(findings) == []
    [name] = [finding for finding in findings if finding.check_id == "BOOT-NAME-FREE"]
    assert name.detail == "checkout-prod exists: resuming the bootstrap started by run eks_cluster_bootstrap/manual__1"
    assert resolve(inputs)[0] == "1.33"


def test_a_cluster_with_the_run_tag_copied_from_another_cluster_is_not_resumed():
    tags = {BOOTSTRAPPED_BY_TAG: "eks_cluster_bootstrap/manual__1", CLUSTER_TAG: "payments-prod"}
    existing = {"name": "checkout-prod", "version": "1.33", "tags": tags}
    only_failure(good_inputs(existing_cluster=existing), "BOOT-NAME-FREE")


def test_a_private_endpoint_is_a_note_about_the_workers_network_path_never_a_failure():
    [finding] = results(good_inputs(), "BOOT-ENDPOINT-REACHABLE")
    assert finding.status is Status.INFO and not finding.blocking and "vpc-01" in finding.detail


@pytest.mark.parametrize(
    "end", [datetime(2026, 12, 2, tzinfo=UTC), "2026-12-02T00:00:00Z", "2026-12-02", 1_796_169_600], ids=str
)
def test_support_end_dates_are_read_however_the_api_client_serves_them(end):
    versions = [
        {**entry, "endOfStandardSupportDate": end} for entry in CLUSTER_VERSIONS if entry["clusterVersion"] == "1.34"
    ]
    [finding] = results(good_inputs(cluster_versions=versions), "BOOT-VERSION-SUPPORTED")
    assert finding.detail == "1.34 (the newest in standard support): standard support until 2026-12-02"

"""A bootstrap request refuses wrong inputs before anything touches AWS, naming each input."""

from __future__ import annotations

from typing import Any

import pytest

from eks_runbooks.core.bootstrap.request import (
    CapacityType,
    Endpoint,
    InvalidBootstrapRequest,
    parse_bootstrap_request,
)

SUBNETS = ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"]
ADMIN = "arn:aws:iam::123456789012:role/platform-admin"
GENERAL = {"name": "general", "instance_types": ["m7i.large"], "min": 2, "max": 6, "desired": 3}


def conf(**changes: Any) -> dict[str, Any]:
    return {
        "cluster_name": "payments-prod",
        "subnet_ids": SUBNETS,
        "admin_principal_arns": [ADMIN],
        "compute": [GENERAL],
        **changes,
    }


def problems_of(conf: dict[str, Any], definitions: dict[str, Any] | None = None) -> dict[str, str]:
    with pytest.raises(InvalidBootstrapRequest) as refused:
        parse_bootstrap_request(conf, definitions)
    return refused.value.problems


def test_the_four_required_inputs_are_enough_and_everything_else_takes_the_secure_default():
    request = parse_bootstrap_request(conf())

    assert request.endpoint is Endpoint.PRIVATE and request.public_access_cidrs == ()
    assert request.dry_run is True and request.require_approval is False and request.teardown_on_failure is False
    assert request.kubernetes_version is None  # the newest in standard support, resolved by the pre-flight
    assert request.compute[0].capacity_type is CapacityType.ON_DEMAND
    assert (request.compute[0].ami_type, request.compute[0].disk_gib) == ("AL2023_x86_64_STANDARD", 20)
    assert request.addons_before_compute == ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
    assert request.addons_after_compute == ("coredns", "metrics-server", "aws-ebs-csi-driver")


def test_missing_required_inputs_are_each_named():
    assert set(problems_of({"region": "eu-west-1"})) == {
        "cluster_name",
        "subnet_ids",
        "admin_principal_arns",
        "compute",
    }


def test_an_endpoint_open_to_the_whole_internet_is_refused():
    problems = problems_of(conf(endpoint="public_restricted", public_access_cidrs=["203.0.113.0/24", "0.0.0.0/0"]))

    assert "0.0.0.0/0 opens the API server to the whole internet" in problems["public_access_cidrs"]


def test_a_restricted_public_endpoint_needs_its_networks_and_a_private_one_takes_none():
    assert (
        "required with endpoint public_restricted"
        in problems_of(conf(endpoint="public_restricted"))["public_access_cidrs"]
    )
    assert (
        "only with endpoint public_restricted"
        in problems_of(conf(public_access_cidrs=["203.0.113.0/24"]))["public_access_cidrs"]
    )
    request = parse_bootstrap_request(conf(endpoint="public_restricted", public_access_cidrs=["203.0.113.0/24"]))
    assert request.public_access_cidrs == ("203.0.113.0/24",)


def test_no_admin_principal_is_refused_so_nobody_is_locked_out():
    assert "nobody could administer the cluster" in problems_of(conf(admin_principal_arns=[]))["admin_principal_arns"]
    assert (
        "an IAM role or user ARN" in problems_of(conf(admin_principal_arns=["platform-admin"]))["admin_principal_arns"]
    )


def test_one_subnet_is_refused():
    assert "at least 2 subnets" in problems_of(conf(subnet_ids=SUBNETS[:1]))["subnet_ids"]


def test_a_node_group_is_checked_key_by_key_and_its_sizes_must_nest():
    problems = problems_of(conf(compute=[{**GENERAL, "min": 5, "desired": 3}]))
    assert "needs min ≤ desired ≤ max" in problems["compute"]

    problems = problems_of(conf(compute=[{**GENERAL, "ami_type": "AL2_x86_64", "instance_type": "m7i.large"}]))
    assert "node group general" in problems["compute"] and "instance_type: unknown key" in problems["compute"]


def test_node_group_names_must_not_repeat():
    assert "node group names repeat: general" in problems_of(conf(compute=[GENERAL, GENERAL]))["compute"]


def test_add_ons_without_which_the_cluster_cannot_work_cannot_be_left_out():
    problems = problems_of(conf(addons=["vpc-cni", "kube-proxy", "eks-pod-identity-agent"]))

    assert "leaves out coredns" in problems["addons"]


def test_tags_may_not_use_reserved_prefixes():
    assert (
        "not start with aws: or eks-runbooks/" in problems_of(conf(tags={"eks-runbooks/bootstrapped-by": "x"}))["tags"]
    )


def test_an_unknown_key_such_as_a_typo_of_dry_run_is_refused():
    assert "unknown key" in problems_of(conf(dryrun=False))["dryrun"]


def test_a_named_definition_supplies_the_cluster_and_the_run_supplies_the_rest():
    definitions = {"payments-prod": {key: value for key, value in conf().items()}}

    request = parse_bootstrap_request({"definition": "payments-prod", "dry_run": False}, definitions)

    assert (request.cluster_name, request.dry_run, request.definition) == ("payments-prod", False, "payments-prod")


def test_a_cluster_field_given_by_both_the_definition_and_the_run_is_refused():
    definitions = {"payments-prod": conf()}

    problems = problems_of({"definition": "payments-prod", "cluster_name": "other"}, definitions)

    assert "given by definition payments-prod" in problems["cluster_name"]


def test_an_unknown_definition_lists_the_known_ones():
    problems = problems_of({"definition": "orders"}, {"payments-prod": conf()})

    assert problems["definition"] == "no cluster definition 'orders' (known: payments-prod)"

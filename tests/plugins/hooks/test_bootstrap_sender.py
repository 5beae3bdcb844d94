"""Sending the bootstrap's planned calls: once, recognising this run's own resources, refusing others'."""

from __future__ import annotations

import json

import boto3
import pytest

from eks_runbooks.core.bootstrap.calls import TAG_BOOTSTRAPPED_BY, TAG_CLUSTER, Call
from eks_runbooks.hooks.bootstrap import BootstrapCallFailed, NotThisRunbooksResource, ensure_key, send

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)


def role_call(run_id: str, cluster: str = "payments-eu") -> Call:
    return Call(
        step="identity",
        service="iam",
        operation="CreateRole",
        params={
            "RoleName": "payments-eu-us-east-1-cluster",
            "Path": "/eks-runbooks/",
            "AssumeRolePolicyDocument": TRUST,
            "Tags": [{"Key": TAG_BOOTSTRAPPED_BY, "Value": run_id}, {"Key": TAG_CLUSTER, "Value": cluster}],
        },
        creates="IAM role payments-eu-us-east-1-cluster",
    )


@pytest.fixture
def clients(sandbox) -> dict:
    return {service: boto3.client(service, region_name="us-east-1") for service in ("iam", "kms", "eks", "ec2")}


def test_a_retried_try_counts_what_an_earlier_try_of_its_run_made_as_created(clients):
    assert send(clients, role_call("run-1"))["outcome"] == "created"

    assert send(clients, role_call("run-1"))["outcome"] == "created"  # the retry: same run, the role is its own
    assert send(clients, role_call("run-2"))["outcome"] == "existed"  # a later run of the same definition


def test_a_role_of_the_planned_name_made_for_another_cluster_stops_the_step(clients):
    send(clients, role_call("run-1", cluster="orders"))

    with pytest.raises(NotThisRunbooksResource, match="not made by the bootstrap of cluster payments-eu"):
        send(clients, role_call("run-2"))


def test_a_refused_call_names_the_call_and_where_to_look(clients):
    call = Call(
        "identity", "iam", "AttachRolePolicy", {"RoleName": "missing", "PolicyArn": "arn:aws:iam::aws:policy/x"}, "x"
    )

    with pytest.raises(BootstrapCallFailed, match=r"iam AttachRolePolicy: x was refused — NoSuchEntity"):
        send(clients, call)


def test_an_alias_naming_another_clusters_key_is_not_adopted(clients):
    key = clients["kms"].create_key(Tags=[{"TagKey": TAG_CLUSTER, "TagValue": "orders"}])["KeyMetadata"]
    clients["kms"].create_alias(AliasName="alias/eks-runbooks/payments-eu", TargetKeyId=key["KeyId"])
    create = Call("identity", "kms", "CreateKey", {"Tags": []}, "KMS key")

    with pytest.raises(NotThisRunbooksResource, match="not an enabled key of cluster payments-eu"):
        ensure_key(clients, create, "alias/eks-runbooks/payments-eu", "payments-eu")


def test_the_clusters_own_key_is_found_through_its_alias(clients):
    key = clients["kms"].create_key(Tags=[{"TagKey": TAG_CLUSTER, "TagValue": "payments-eu"}])["KeyMetadata"]
    clients["kms"].create_alias(AliasName="alias/eks-runbooks/payments-eu", TargetKeyId=key["KeyId"])
    create = Call("identity", "kms", "CreateKey", {"Tags": []}, "KMS key")

    arn, outcome = ensure_key(clients, create, "alias/eks-runbooks/payments-eu", "payments-eu")

    assert (arn, outcome["outcome"]) == (key["Arn"], "existed")

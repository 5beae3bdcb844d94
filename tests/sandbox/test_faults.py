"""Fault rules: validated when added, and injected errors encoded so that botocore parses them, per protocol."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from eks_sandbox.faults import FaultInjector
from tests.helpers import create_role, sandbox_control

#: characters that break XML unless escaped, in every injected message
MESSAGE = 'Rate <exceeded> & "retry" later'


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"kind": "error", "servce": "eks"}, "unknown field 'servce' in a 'error' fault rule"),
        ({"kind": "update_failure", "error": "x"}, "unknown field 'error' in a 'update_failure' fault rule"),
        ({"kind": "error", "service": 3}, "'service' must be a string"),
        ({"kind": "error", "message": None}, "'message' must be a string"),
        ({"kind": "error", "match": ["name"]}, "'match' must map"),
        ({"kind": "error", "match": {"name": 1}}, "'match' must map"),
        ({"kind": "error", "count": 0}, "'count' must be a whole number >= 1"),
        ({"kind": "error", "count": True}, "'count' must be a whole number >= 1"),
        ({"kind": "error", "count": "3"}, "'count' must be a whole number >= 1"),
        ({"kind": "error", "error": "AccessDenied"}, "unknown injectable error 'AccessDenied'"),
        ({"kind": "update_failure", "cluster": ["a"]}, "'cluster' must be a string"),
        ({"kind": "update_failure", "nodegroup": 1}, "'nodegroup' must be a string"),
        ({"kind": "update_failure", "count": -1}, "'count' must be a whole number >= 1"),
        ({"kind": "nodegroup_creation_failure", "nodegroup": None}, "'nodegroup' must be a string"),
        ({"kind": "outage"}, "unknown fault kind 'outage'"),
    ],
)
def test_a_malformed_rule_is_refused_naming_the_field(rule, expected):
    faults = FaultInjector()
    with pytest.raises(ValueError, match=expected.replace("(", r"\(")):
        faults.add_from_dict(rule)
    assert faults.rules() == []


def test_well_formed_rules_are_accepted():
    faults = FaultInjector()
    faults.add_from_dict({"kind": "error", "match": {"name": "payments-*"}, "count": 2})
    faults.add_from_dict({"kind": "update_failure", "cluster": "prod", "nodegroup": "ng-*", "count": None})
    faults.add_from_dict({"kind": "nodegroup_creation_failure", "cluster": "prod"})
    assert [rule["kind"] for rule in faults.rules()] == ["error", "update_failure", "nodegroup_creation_failure"]


def test_a_nodegroup_creation_failure_is_consumed_by_the_first_matching_creation_only():
    faults = FaultInjector()
    faults.add_from_dict({"kind": "nodegroup_creation_failure", "cluster": "prod", "nodegroup": "general"})

    assert faults.nodegroup_creation_failure_for("prod", "batch") is None
    assert faults.nodegroup_creation_failure_for("prod", "general").code == "NodeCreationFailure"
    assert faults.nodegroup_creation_failure_for("prod", "general") is None


def control(sandbox, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    return sandbox_control(sandbox.base_url, method, path, body)


def client(sandbox, service: str) -> Any:
    """A client that does not retry: botocore retries 429/500/503, which would hide ``count``."""
    return boto3.client(
        service,
        endpoint_url=sandbox.base_url,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def test_the_control_api_refuses_a_malformed_rule_with_its_reason(sandbox):
    status, answer = control(sandbox, "POST", "/faults", {"kind": "error", "count": 0})
    assert status == 400 and "'count' must be a whole number >= 1" in answer["error"]
    status, answer = control(sandbox, "POST", "/faults", {"kind": "error", "operatoin": "ListClusters"})
    assert status == 400 and "unknown field 'operatoin'" in answer["error"]
    assert control(sandbox, "GET", "/faults") == (200, {"faults": []})


@pytest.mark.parametrize(
    ("service", "operation", "error", "status", "call"),
    [
        ("ec2", "DescribeSubnets", "InternalFailure", 500, lambda c: c.describe_subnets()),
        ("sts", "GetCallerIdentity", "ThrottlingException", 429, lambda c: c.get_caller_identity()),
        ("iam", "ListRoles", "ServerException", 500, lambda c: c.list_roles()),
        ("ssm", "GetParameter", "TooManyRequestsException", 429, lambda c: c.get_parameter(Name="/app/db")),
        ("s3", "*", "ServiceUnavailableException", 503, lambda c: c.list_buckets()),
        ("eks", "ListClusters", "ServiceUnavailableException", 503, lambda c: c.list_clusters()),
    ],
    ids=["ec2", "query-sts", "query-iam", "json-ssm", "rest-xml-s3", "rest-json-eks"],
)
def test_an_injected_error_reaches_botocore_with_its_code_status_and_message(
    sandbox, service, operation, error, status, call
):
    control(
        sandbox, "POST", "/faults", {"service": service, "operation": operation, "error": error, "message": MESSAGE}
    )
    with pytest.raises(ClientError) as excinfo:
        call(client(sandbox, service))
    response = excinfo.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (error, status)
    assert response["Error"]["Message"] == MESSAGE


def test_a_counted_rule_answers_the_error_exactly_count_times_then_lets_requests_through(sandbox):
    eks = client(sandbox, "eks")
    status, created = control(
        sandbox,
        "POST",
        "/faults",
        {"service": "eks", "operation": "ListClusters", "error": "InternalFailure", "count": 2},
    )
    assert status == 201
    for _ in range(2):
        with pytest.raises(ClientError) as excinfo:
            eks.list_clusters()
        assert excinfo.value.response["Error"]["Code"] == "InternalFailure"
    assert eks.list_clusters()["clusters"] == []
    assert control(sandbox, "GET", "/faults") == (200, {"faults": []})  # used up
    assert control(sandbox, "DELETE", f"/faults/{created['id']}")[0] == 404


def test_delete_faults_removes_every_rule(sandbox):
    eks = client(sandbox, "eks")
    for operation in ("ListClusters", "DescribeClusterVersions"):
        control(sandbox, "POST", "/faults", {"service": "eks", "operation": operation})
    assert len(control(sandbox, "GET", "/faults")[1]["faults"]) == 2
    with pytest.raises(ClientError):
        eks.list_clusters()
    assert control(sandbox, "DELETE", "/faults/")[0] == 404  # an empty rule id removes nothing
    assert len(control(sandbox, "GET", "/faults")[1]["faults"]) == 2
    assert control(sandbox, "DELETE", "/faults") == (200, {"cleared": True})
    assert control(sandbox, "GET", "/faults") == (200, {"faults": []})
    assert eks.list_clusters()["clusters"] == []
    assert eks.describe_cluster_versions()["clusterVersions"]


def test_an_eks_rule_matches_a_field_of_the_json_body_only_for_that_request(demo_fleet):
    """A rest-json request's body fields count as its parameters: one service account's association can fail."""
    status, _ = control(
        demo_fleet,
        "POST",
        "/faults",
        {
            "service": "eks",
            "operation": "CreatePodIdentityAssociation",
            "match": {"clusterName": "orders-prod", "serviceAccount": "orders-worker"},
            "error": "ServiceUnavailableException",
        },
    )
    assert status == 201
    eks = client(demo_fleet, "eks")
    role = create_role(client(demo_fleet, "iam"), "orders-pod-identity", service="pods.eks.amazonaws.com")
    with pytest.raises(ClientError) as excinfo:
        eks.create_pod_identity_association(
            clusterName="orders-prod", namespace="orders", serviceAccount="orders-worker", roleArn=role
        )
    assert excinfo.value.response["Error"]["Code"] == "ServiceUnavailableException"
    created = eks.create_pod_identity_association(
        clusterName="orders-prod", namespace="orders", serviceAccount="orders-api", roleArn=role
    )
    assert created["association"]["serviceAccount"] == "orders-api"


def _pricing_as(sandbox: Any, role_arn: str | None) -> Any:
    from tests.helpers import assumed_role_credentials

    credentials = assumed_role_credentials(sandbox.base_url, role_arn) if role_arn else {}
    return boto3.client("pricing", region_name="us-east-1", **credentials)


def test_a_rule_with_an_account_denies_only_requests_signed_for_that_account(sandbox):
    # A rehearsal of one target whose role lacks pricing:GetProducts, the others keeping it.
    status, _ = control(
        sandbox,
        "POST",
        "/faults",
        {"service": "pricing", "operation": "GetProducts", "account": "2109*", "error": "AccessDeniedException"},
    )
    assert status == 201
    with pytest.raises(ClientError) as refused:
        _pricing_as(sandbox, "arn:aws:iam::210987654321:role/fleet-audit").get_products(ServiceCode="AmazonEC2")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert _pricing_as(sandbox, None).get_products(ServiceCode="AmazonEC2", MaxResults=1)["PriceList"]
    assert control(sandbox, "GET", "/faults")[1]["faults"][0]["account"] == "2109*"


def test_an_account_rule_added_in_process_leaves_other_accounts_alone(sandbox):
    sandbox.faults.add_from_dict({"service": "pricing", "account": "123456789012", "error": "AccessDeniedException"})
    with pytest.raises(ClientError):
        _pricing_as(sandbox, None).get_products(ServiceCode="AmazonEC2", MaxResults=1)
    assert _pricing_as(sandbox, "arn:aws:iam::210987654321:role/fleet-audit").get_products(
        ServiceCode="AmazonEC2", MaxResults=1
    )["PriceList"]


def test_a_fleet_file_rule_may_name_the_account(sandbox):
    from eks_sandbox.fleet import load_fleet

    load_fleet(
        sandbox,
        {
            "accounts": [{"id": "123456789012", "regions": {}}],
            "faults": [{"service": "pricing", "account": "210987654321", "error": "AccessDeniedException"}],
        },
    )
    (rule,) = sandbox.faults.rules()
    assert rule["account"] == "210987654321"


def test_the_account_of_a_rule_must_be_a_string():
    with pytest.raises(ValueError, match="'account' must be a string"):
        FaultInjector().add_from_dict({"kind": "error", "account": 210987654321})

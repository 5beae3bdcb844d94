"""The rest-json protocol: routing from botocore's model, errors (including the sandbox's own failures),
operations the sandbox does not simulate, and the shape check every test's EKS responses go through."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from eks_sandbox.eks.operations import OPERATIONS
from eks_sandbox.eks.router import EksRouter
from tests.sandbox.eks.shape import assert_matches_output_shape


def test_router_names_operations_and_decodes_members():
    router = EksRouter()
    assert router.match("GET", "/clusters/prod", "") == ("DescribeCluster", {"name": "prod"})
    assert router.match("POST", "/clusters/prod/updates", "") == ("UpdateClusterVersion", {"name": "prod"})
    assert router.match("GET", "/clusters/prod/updates/u-1", "nodegroupName=ng-1") == (
        "DescribeUpdate",
        {"name": "prod", "updateId": "u-1", "nodegroupName": "ng-1"},
    )
    assert router.match("GET", "/clusters/prod/node-groups", "maxResults=5") == (
        "ListNodegroups",
        {"clusterName": "prod", "maxResults": 5},
    )
    assert router.match("DELETE", "/clusters/prod/addons/coredns", "preserve=true") == (
        "DeleteAddon",
        {"clusterName": "prod", "addonName": "coredns", "preserve": True},
    )
    principal = "arn:aws:iam::123456789012:role/admins"
    encoded = principal.replace(":", "%3A").replace("/", "%2F")
    assert router.match("POST", f"/clusters/prod/access-entries/{encoded}/access-policies", "") == (
        "AssociateAccessPolicy",
        {"clusterName": "prod", "principalArn": principal},
    )
    # a decoded path (what PATH_INFO holds) still finds the right operation
    assert router.match("POST", f"/clusters/prod/access-entries/{principal}/access-policies", "")[0] == (
        "AssociateAccessPolicy"
    )
    assert router.match("POST", f"/clusters/prod/access-entries/{principal}", "")[0] == "UpdateAccessEntry"
    assert router.match("GET", "/addons/supported-versions", "types=networking&types=storage") == (
        "DescribeAddonVersions",
        {"types": ["networking", "storage"]},
    )
    assert router.match("GET", "/nowhere", "") is None


def test_unknown_path_is_404_and_unsimulated_operations_say_so(simulated_fleet):
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(
            urllib.request.Request(
                f"{simulated_fleet.url}/nowhere",
                headers={"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20250901/us-east-1/eks/aws4_request"},
            )
        )
    assert excinfo.value.code == 404
    assert "message" in json.loads(excinfo.value.read())
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.register_cluster(
            name="x", connectorConfig={"roleArn": "arn:aws:iam::1:role/r", "provider": "OTHER"}
        )
    assert excinfo.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "RegisterCluster is not simulated" in excinfo.value.response["Error"]["Message"]


def test_shape_validator_rejects_unknown_members_wrong_types_and_enums():
    assert_matches_output_shape("ListClusters", {"clusters": ["a"], "nextToken": "x"})
    for bad in ({"clusters": "a"}, {"clusters": [], "extra": 1}):
        with pytest.raises(AssertionError):
            assert_matches_output_shape("ListClusters", bad)
    with pytest.raises(AssertionError):
        assert_matches_output_shape("DescribeCluster", {"cluster": {"status": "RUNNING"}})
    with pytest.raises(AssertionError):
        assert_matches_output_shape("DescribeCluster", {"cluster": {"createdAt": "yesterday"}})
    with pytest.raises(AssertionError):
        assert_matches_output_shape("DescribeUpdate", {"update": {"params": [{"type": "Version", "value": 1}]}})


def test_a_sandbox_failure_answers_internal_failure_as_json_not_html(simulated_fleet, monkeypatch):
    def broken(request, params):
        raise RuntimeError("simulated bug")

    monkeypatch.setitem(OPERATIONS, "ListClusters", broken)
    eks = simulated_fleet.client("eks", config=Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as excinfo:
        eks.list_clusters()
    error = excinfo.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("InternalFailure", 500)
    assert "RuntimeError: simulated bug" in error["Error"]["Message"]


@pytest.mark.parametrize("version", ["banana", "2.0"])
def test_a_malformed_version_is_an_invalid_parameter_naming_it(simulated_fleet, version):
    def assert_refused(call, **params):
        with pytest.raises(ClientError) as excinfo:
            call(**params)
        error = excinfo.value.response
        assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
            "InvalidParameterException",
            400,
        )
        assert version in error["Error"]["Message"]

    eks = simulated_fleet.eks
    assert_refused(
        eks.create_cluster,
        name="bad",
        version=version,
        roleArn="arn:aws:iam::123456789012:role/eks-cluster",
        resourcesVpcConfig={"subnetIds": simulated_fleet.subnets[:2]},
    )
    simulated_fleet.create_cluster(version="1.31")
    assert_refused(eks.update_cluster_version, name="prod", version=version)
    assert_refused(
        eks.create_nodegroup,
        clusterName="prod",
        nodegroupName="bad",
        version=version,
        subnets=simulated_fleet.subnets[:2],
        nodeRole="arn:aws:iam::123456789012:role/eks-node",
    )
    simulated_fleet.create_nodegroup()
    assert_refused(eks.update_nodegroup_version, clusterName="prod", nodegroupName="ng-1", version=version)

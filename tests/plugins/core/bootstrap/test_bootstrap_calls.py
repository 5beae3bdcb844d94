"""The bootstrap's API requests, built once as data: sendable as they are, the same on every retry, tagged."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.validate import ParamValidator

from eks_runbooks.core.bootstrap.calls import (
    KMS_KEY_PLACEHOLDER,
    STEPS,
    Resolved,
    access_calls,
    addon_calls,
    addon_role_arn,
    calls_markdown,
    cluster_role_arn,
    compute_calls,
    control_plane_call,
    identity_calls,
    node_role_arn,
    planned_calls,
    step_calls,
    with_kms_key,
)
from eks_runbooks.core.bootstrap.request import parse_bootstrap_request

ACCOUNT = "111122223333"
RUNBOOK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eks-runbooks"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/platform-admin"
RUN_ID = "manual__2026-12-02T13:00:00+00:00"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _request(**overrides):
    conf = {
        "cluster_name": "payments-prod",
        "subnet_ids": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
        "admin_principal_arns": [ADMIN],
        "compute": [
            {"name": "general", "instance_types": ["m7i.large"], "min": 2, "max": 6, "desired": 3, "disk_gib": 50},
            {
                "name": "bottlerocket",
                "instance_types": ["m7g.large"],
                "min": 1,
                "max": 3,
                "desired": 1,
                "ami_type": "BOTTLEROCKET_ARM_64",
                "capacity_type": "SPOT",
            },
        ],
        "tags": {"team": "payments", "cost-center": "cc-42"},
        **overrides,
    }
    return parse_bootstrap_request(conf)


def _resolved(**overrides) -> Resolved:
    values = {
        "account_id": ACCOUNT,
        "partition": "aws",
        "version": "1.34",
        "runbook_principal_arn": RUNBOOK_ROLE,
        "addon_versions": {
            "vpc-cni": "v1.20.4-eksbuild.2",
            "kube-proxy": "v1.34.1-eksbuild.2",
            "eks-pod-identity-agent": "v1.3.9-eksbuild.3",
            "coredns": "v1.12.4-eksbuild.1",
            "metrics-server": "v0.8.0-eksbuild.2",
            "aws-ebs-csi-driver": "v1.51.1-eksbuild.1",
        },
        "run_id": RUN_ID,
        **overrides,
    }
    return Resolved(**values)


def _by_operation(calls, operation):
    return [call for call in calls if call.operation == operation]


@pytest.fixture(scope="module")
def botocore_session():
    return botocore.session.get_session()


def test_every_planned_request_validates_against_the_botocore_model(botocore_session):
    validator = ParamValidator()
    for request in (_request(), _request(endpoint="public_restricted", public_access_cidrs=["203.0.113.0/24"])):
        for call in planned_calls(request, _resolved()):
            model = botocore_session.get_service_model(call.service).operation_model(call.operation)
            report = validator.validate(call.params, model.input_shape)
            assert not report.has_errors(), f"{call.describe()}: {report.generate_report()}"


def test_a_call_names_its_boto3_method_and_reads_as_one_line():
    call = control_plane_call(_request(), _resolved())
    assert call.method() == "create_cluster"
    assert "\n" not in call.describe() and "payments-prod" in call.describe()
    assert _by_operation(identity_calls(_request(), _resolved()), "AttachRolePolicy")[0].method() == (
        "attach_role_policy"
    )


def test_the_plan_lists_the_steps_in_order_and_every_call_names_a_known_step():
    calls = planned_calls(_request(), _resolved())
    order = [STEPS.index(call.step) for call in calls]
    assert order == sorted(order)
    assert {call.step for call in calls} == set(STEPS)
    operations = [call.operation for call in calls]
    assert operations.index("CreateCluster") < operations.index("CreateAccessEntry")
    assert operations.index("CreateLaunchTemplate") < operations.index("CreateNodegroup")


def test_add_ons_before_compute_come_before_the_node_groups_and_coredns_after():
    calls = planned_calls(_request(), _resolved())
    addons = {call.params["addonName"]: i for i, call in enumerate(calls) if call.operation == "CreateAddon"}
    first_nodegroup = next(i for i, call in enumerate(calls) if call.operation == "CreateNodegroup")
    assert max(addons["vpc-cni"], addons["kube-proxy"], addons["eks-pod-identity-agent"]) < first_nodegroup
    assert min(addons["coredns"], addons["metrics-server"], addons["aws-ebs-csi-driver"]) > first_nodegroup


def test_the_same_request_and_resolution_give_the_same_calls_tokens_included():
    assert planned_calls(_request(), _resolved()) == planned_calls(_request(), _resolved())


def test_tokens_differ_across_resources_and_runs_and_fit_64_characters():
    calls = planned_calls(_request(), _resolved())
    tokens = [call.params.get("clientRequestToken") or call.params.get("ClientToken") for call in calls]
    tokens = [token for token in tokens if token]
    assert (
        len(tokens)
        == len(set(tokens))
        == len(
            [
                c
                for c in calls
                if c.operation
                in {"CreateCluster", "CreateAccessEntry", "CreateAddon", "CreateNodegroup", "CreateLaunchTemplate"}
            ]
        )
    )
    assert all(len(token) <= 64 for token in tokens)
    other_run = planned_calls(_request(), _resolved(run_id="scheduled__2026-12-03T00:00:00+00:00"))
    assert not set(tokens) & {c.params.get("clientRequestToken") or c.params.get("ClientToken") for c in other_run}


def _tags_of(call) -> dict[str, str] | None:
    params = call.params
    if call.service == "eks":
        return params.get("tags")
    if call.service == "iam":
        return {tag["Key"]: tag["Value"] for tag in params["Tags"]} if "Tags" in params else None
    if call.service == "kms":
        return {tag["TagKey"]: tag["TagValue"] for tag in params["Tags"]} if "Tags" in params else None
    specs = params.get("TagSpecifications", []) + params.get("LaunchTemplateData", {}).get("TagSpecifications", [])
    assert {spec["ResourceType"] for spec in specs} == {"launch-template", "instance", "volume"}
    tags = [{tag["Key"]: tag["Value"] for tag in spec["Tags"]} for spec in specs]
    assert all(each == tags[0] for each in tags)
    return tags[0]


#: Operations that make a resource (the others attach, enable or name one).
CREATING = {
    "CreateRole",
    "CreateKey",
    "CreateCluster",
    "CreateAccessEntry",
    "CreateAddon",
    "CreateLaunchTemplate",
    "CreateNodegroup",
}


def test_every_resource_created_carries_the_request_tags_the_run_and_the_cluster():
    calls = planned_calls(_request(), _resolved())
    creating = [call for call in calls if call.operation in CREATING]
    assert {call.operation for call in creating} == CREATING
    for call in creating:
        assert _tags_of(call) == {
            "team": "payments",
            "cost-center": "cc-42",
            "eks-runbooks/bootstrapped-by": RUN_ID,
            "eks-runbooks/cluster": "payments-prod",
        }, call.describe()


def test_the_cluster_is_created_locked_down():
    params = control_plane_call(_request(), _resolved(kms_key_arn=KEY_ARN)).params
    assert params["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    assert params["bootstrapSelfManagedAddons"] is False
    assert params["deletionProtection"] is True
    assert params["upgradePolicy"] == {"supportType": "STANDARD"}
    assert params["encryptionConfig"] == [{"resources": ["secrets"], "provider": {"keyArn": KEY_ARN}}]
    assert params["logging"]["clusterLogging"] == [
        {"types": ["api", "audit", "authenticator", "controllerManager", "scheduler"], "enabled": True}
    ]
    assert params["version"] == "1.34"
    assert params["roleArn"] == cluster_role_arn(_request(), _resolved())
    assert params["resourcesVpcConfig"] == {
        "subnetIds": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
        "endpointPrivateAccess": True,
        "endpointPublicAccess": False,
    }


def test_a_public_restricted_endpoint_opens_only_the_named_networks():
    request = _request(endpoint="public_restricted", public_access_cidrs=["203.0.113.0/24"])
    vpc = control_plane_call(request, _resolved()).params["resourcesVpcConfig"]
    assert vpc["endpointPublicAccess"] is True and vpc["endpointPrivateAccess"] is True
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_roles_are_created_only_when_not_given():
    created = _request()
    given = _request(
        cluster_role_arn=f"arn:aws:iam::{ACCOUNT}:role/existing-cluster",
        node_role_arn=f"arn:aws:iam::{ACCOUNT}:role/existing-node",
    )
    names = [call.params["RoleName"] for call in _by_operation(identity_calls(created, _resolved()), "CreateRole")]
    assert names == [
        "payments-prod-us-east-1-cluster",
        "payments-prod-us-east-1-node",
        "payments-prod-us-east-1-aws-ebs-csi-driver",
    ]
    names = [call.params["RoleName"] for call in _by_operation(identity_calls(given, _resolved()), "CreateRole")]
    assert names == ["payments-prod-us-east-1-aws-ebs-csi-driver"]
    assert cluster_role_arn(given, _resolved()) == f"arn:aws:iam::{ACCOUNT}:role/existing-cluster"
    assert (
        node_role_arn(created, _resolved()) == f"arn:aws:iam::{ACCOUNT}:role/eks-runbooks/payments-prod-us-east-1-node"
    )


def test_created_roles_trust_their_service_and_get_the_managed_policies_of_the_facts_file():
    calls = identity_calls(_request(), _resolved())
    trust = {
        call.params["RoleName"]: json.loads(call.params["AssumeRolePolicyDocument"])["Statement"][0]
        for call in _by_operation(calls, "CreateRole")
    }
    assert trust["payments-prod-us-east-1-cluster"]["Principal"] == {"Service": "eks.amazonaws.com"}
    assert trust["payments-prod-us-east-1-node"]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert trust["payments-prod-us-east-1-aws-ebs-csi-driver"]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(trust["payments-prod-us-east-1-aws-ebs-csi-driver"]["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    attached = {(c.params["RoleName"], c.params["PolicyArn"]) for c in _by_operation(calls, "AttachRolePolicy")}
    assert ("payments-prod-us-east-1-cluster", "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy") in attached
    assert ("payments-prod-us-east-1-node", "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy") in attached
    # AWS keeps this one under a path: its ARN is not arn:aws:iam::aws:policy/AmazonEBSCSIDriverPolicy.
    assert (
        "payments-prod-us-east-1-aws-ebs-csi-driver",
        "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
    ) in (attached)


def test_clusters_of_the_same_name_in_two_regions_get_their_own_roles():
    # IAM is global and EKS cluster names are unique per Region only.
    east, west = _request(), _request(region="eu-west-1")
    assert cluster_role_arn(east, _resolved()) != cluster_role_arn(west, _resolved())
    assert addon_role_arn(east, _resolved(), "aws-ebs-csi-driver") != addon_role_arn(
        west, _resolved(), "aws-ebs-csi-driver"
    )


def test_a_long_cluster_name_gives_role_names_of_at_most_64_characters_that_stay_distinct():
    long_name = "a" * 90
    request = _request(cluster_name=long_name)
    arns = {cluster_role_arn(request, _resolved()), node_role_arn(request, _resolved())}
    arns.add(addon_role_arn(request, _resolved(), "aws-ebs-csi-driver"))
    names = [arn.rsplit("/", 1)[1] for arn in arns]
    assert len(set(names)) == 3 and all(len(name) <= 64 for name in names)
    assert addon_role_arn(_request(cluster_name="b" * 90), _resolved(), "aws-ebs-csi-driver") not in arns


def test_the_key_is_created_with_rotation_and_an_alias_when_none_is_given():
    calls = identity_calls(_request(), _resolved())
    create = _by_operation(calls, "CreateKey")[0]
    assert create.params["KeyUsage"] == "ENCRYPT_DECRYPT" and create.params["KeySpec"] == "SYMMETRIC_DEFAULT"
    policy = json.loads(create.params["Policy"])
    principals = [statement["Principal"]["AWS"] for statement in policy["Statement"]]
    assert f"arn:aws:iam::{ACCOUNT}:root" in principals
    assert cluster_role_arn(_request(), _resolved()) in principals
    assert _by_operation(calls, "EnableKeyRotation")[0].params["KeyId"] == KMS_KEY_PLACEHOLDER
    assert _by_operation(calls, "CreateAlias")[0].params["AliasName"] == "alias/eks-runbooks/payments-prod"
    assert control_plane_call(_request(), _resolved()).params["encryptionConfig"][0]["provider"]["keyArn"] == (
        KMS_KEY_PLACEHOLDER
    )


def test_the_created_keys_arn_replaces_the_placeholder_and_the_key_request_stays_the_same():
    resolved = with_kms_key(_resolved(), KEY_ARN)
    before, after = identity_calls(_request(), _resolved()), identity_calls(_request(), resolved)
    assert _by_operation(before, "CreateKey") == _by_operation(after, "CreateKey")
    assert _by_operation(after, "EnableKeyRotation")[0].params["KeyId"] == KEY_ARN
    assert _by_operation(after, "CreateAlias")[0].params["TargetKeyId"] == KEY_ARN
    assert control_plane_call(_request(), resolved).params["encryptionConfig"][0]["provider"]["keyArn"] == KEY_ARN
    assert KMS_KEY_PLACEHOLDER not in json.dumps([call.params for call in planned_calls(_request(), resolved)])


def test_a_given_key_is_used_and_none_is_created():
    request = _request(kms_key_arn=KEY_ARN)
    assert not [call for call in identity_calls(request, _resolved()) if call.service == "kms"]
    assert control_plane_call(request, _resolved()).params["encryptionConfig"][0]["provider"]["keyArn"] == KEY_ARN


def test_every_admin_and_the_runbook_itself_get_a_standard_entry_with_cluster_admin():
    calls = access_calls(_request(), _resolved())
    entries = _by_operation(calls, "CreateAccessEntry")
    assert [call.params["principalArn"] for call in entries] == [ADMIN, RUNBOOK_ROLE]
    assert all(call.params["type"] == "STANDARD" for call in entries)
    for call in _by_operation(calls, "AssociateAccessPolicy"):
        assert call.params["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        assert call.params["accessScope"] == {"type": "cluster"}
    assert len(_by_operation(calls, "AssociateAccessPolicy")) == 2


def test_the_runbook_principal_named_as_an_admin_gets_one_entry():
    calls = access_calls(_request(admin_principal_arns=[ADMIN, RUNBOOK_ROLE]), _resolved())
    assert [call.params["principalArn"] for call in _by_operation(calls, "CreateAccessEntry")] == [ADMIN, RUNBOOK_ROLE]


def test_add_ons_install_the_chosen_version_and_ebs_csi_gets_its_role_through_pod_identity():
    calls = addon_calls(_request(), _resolved(), ("coredns", "aws-ebs-csi-driver"))
    coredns, ebs = calls
    assert coredns.params["addonVersion"] == "v1.12.4-eksbuild.1"
    assert "podIdentityAssociations" not in coredns.params
    assert ebs.params["podIdentityAssociations"] == [
        {
            "serviceAccount": "ebs-csi-controller-sa",
            "roleArn": addon_role_arn(_request(), _resolved(), "aws-ebs-csi-driver"),
        }
    ]
    assert all(call.params["resolveConflicts"] == "OVERWRITE" for call in calls)


def test_a_launch_template_requires_imdsv2_and_encrypts_the_volume_on_the_ami_familys_device():
    calls = compute_calls(_request(), _resolved())
    general, bottlerocket = _by_operation(calls, "CreateLaunchTemplate")
    data = general.params["LaunchTemplateData"]
    assert data["MetadataOptions"] == {
        "HttpTokens": "required",
        "HttpPutResponseHopLimit": 1,
        "HttpEndpoint": "enabled",
    }
    assert data["BlockDeviceMappings"] == [
        {
            "DeviceName": "/dev/xvda",
            "Ebs": {"VolumeSize": 50, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True},
        }
    ]
    assert bottlerocket.params["LaunchTemplateData"]["BlockDeviceMappings"][0]["DeviceName"] == "/dev/xvdb"


def test_a_node_group_uses_its_launch_template_and_never_sends_disk_size():
    calls = compute_calls(_request(), _resolved())
    templates = {c.params["LaunchTemplateName"] for c in _by_operation(calls, "CreateLaunchTemplate")}
    for call in _by_operation(calls, "CreateNodegroup"):
        assert "diskSize" not in call.params
        assert call.params["launchTemplate"]["name"] in templates
        assert call.params["launchTemplate"]["version"] == "1"
        assert call.params["nodeRole"] == node_role_arn(_request(), _resolved())
        assert call.params["subnets"] == ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
    spot = _by_operation(calls, "CreateNodegroup")[1].params
    assert spot["capacityType"] == "SPOT" and spot["amiType"] == "BOTTLEROCKET_ARM_64"
    assert spot["scalingConfig"] == {"minSize": 1, "maxSize": 3, "desiredSize": 1}


def test_the_plan_reads_step_by_step_with_each_request():
    calls = planned_calls(_request(), _resolved())
    text = calls_markdown(calls)
    positions = [text.index(f"(`{step}`)") for step in STEPS]
    assert positions == sorted(positions)
    assert text.count("CreateNodegroup") >= 2
    assert '"authenticationMode": "API"' in text
    assert KMS_KEY_PLACEHOLDER in text


def test_a_request_leaves_room_for_the_two_tags_of_the_runbook():
    tags = {f"key-{i}": "value" for i in range(48)}
    calls = planned_calls(_request(tags=tags), _resolved())
    assert max(len(_tags_of(call)) for call in calls if call.operation in CREATING) == 50
    with pytest.raises(ValueError, match="at most 48"):
        _request(tags={**tags, "one-more": "value"})


def test_each_step_sends_its_share_of_the_plan():
    request, resolved = _request(), _resolved()
    assert [c for step in STEPS for c in step_calls(request, resolved, step)] == planned_calls(request, resolved)
    assert [c.operation for c in step_calls(request, resolved, "control_plane")] == ["CreateCluster"]
    with pytest.raises(ValueError, match="smoke_test"):
        step_calls(request, resolved, "smoke_test")


def test_a_call_travels_as_plain_json_data():
    call = control_plane_call(_request(), _resolved())
    assert json.loads(json.dumps(call.as_dict())) == call.as_dict()
    assert call.as_dict()["params"] == call.params

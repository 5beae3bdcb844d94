"""Eligibility for Pod Identity, per service account and per cluster, through the catalogue."""

from __future__ import annotations

import json

from estate_objects import IRSA_ENV, ROLE, deployment, node, pod, service_account

from eks_runbooks.core.catalogue import Status
from eks_runbooks.core.pod_identity.eligibility import EligibilityInputs, Scope, judge, load_eligibility_catalogue
from eks_runbooks.core.pod_identity.estate import KubernetesObjects, map_irsa_estate
from eks_runbooks.core.pod_identity.trust import irsa_statement

CLUSTER = {
    "name": "orders-prod",
    "version": "1.33",
    "platformVersion": "eks.9",
    "arn": "arn:aws:eks:us-east-1:123456789012:cluster/orders-prod",
}
PROVIDER = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
TRUST = {"Version": "2012-10-17", "Statement": [irsa_statement(PROVIDER, ["system:serviceaccount:orders:api"])]}


def judged(objects: KubernetesObjects, role: dict | None = None, **extra) -> dict[str, Status]:
    (account,) = map_irsa_estate(objects)
    role = role if role is not None else {"Arn": ROLE, "AssumeRolePolicyDocument": TRUST}
    findings = judge(
        EligibilityInputs("orders-prod", CLUSTER, "123456789012", service_account=account, role=role, **extra),
        Scope.SERVICE_ACCOUNT,
    )
    return {finding.check_id: finding for finding in findings}


def keeps_on_irsa(findings) -> list[str]:
    return sorted(check_id for check_id, finding in findings.items() if finding.keeps_on_irsa)


def test_the_catalogue_and_the_functions_match():
    assert len(load_eligibility_catalogue()) == 14


def test_a_plain_deployment_on_ec2_is_eligible_with_its_sdk_verified_after_restart():
    findings = judged(
        KubernetesObjects(
            service_accounts=[service_account("orders", "api")], deployments=[deployment("orders", "api", "api")]
        )
    )
    assert keeps_on_irsa(findings) == []
    assert findings["PI-SDK-SUPPORTS-POD-IDENTITY"].status is Status.INFO
    assert "verified after restart" in findings["PI-SDK-SUPPORTS-POD-IDENTITY"].detail


def test_a_workload_in_a_fargate_profiles_namespace_stays_on_irsa_naming_the_profile():
    profiles = [{"fargateProfileName": "serverless", "status": "ACTIVE", "selectors": [{"namespace": "orders"}]}]
    findings = judged(
        KubernetesObjects(
            service_accounts=[service_account("orders", "api")], deployments=[deployment("orders", "api", "api")]
        ),
        fargate_profiles=profiles,
    )
    assert keeps_on_irsa(findings) == ["PI-NOT-ON-FARGATE"]
    assert "Fargate profile serverless" in findings["PI-NOT-ON-FARGATE"].detail


def test_a_pod_on_a_windows_node_keeps_its_service_account_on_irsa():
    findings = judged(
        KubernetesObjects(
            service_accounts=[service_account("orders", "api")],
            pods=[pod("orders", "win", "api", node="win-1")],
            nodes=[node("win-1", **{"kubernetes.io/os": "windows"})],
        )
    )
    assert keeps_on_irsa(findings) == ["PI-NOT-ON-WINDOWS"]


def test_hard_coded_irsa_variables_keep_it_on_irsa_naming_the_container():
    findings = judged(
        KubernetesObjects(
            service_accounts=[service_account("orders", "api")],
            deployments=[deployment("orders", "api", "api", env=IRSA_ENV)],
        )
    )
    assert keeps_on_irsa(findings) == ["PI-NO-HARD-CODED-IRSA-ENV"]
    assert "Deployment/orders/api (container app)" in findings["PI-NO-HARD-CODED-IRSA-ENV"].detail


def test_an_sdk_declared_too_old_by_annotation_or_by_the_image_table_keeps_it_on_irsa():
    annotated = deployment("orders", "api", "api", annotations={"eks-runbooks/aws-sdk": "boto3/1.28.0"})
    findings = judged(KubernetesObjects(service_accounts=[service_account("orders", "api")], deployments=[annotated]))
    assert keeps_on_irsa(findings) == ["PI-SDK-SUPPORTS-POD-IDENTITY"]
    assert "boto3 1.28.0 is older than 1.34.41" in findings["PI-SDK-SUPPORTS-POD-IDENTITY"].detail
    table = judged(
        KubernetesObjects(
            service_accounts=[service_account("orders", "api")], deployments=[deployment("orders", "api", "api")]
        ),
        image_sdks={"example/api:1": "java-v2/2.20.0"},
    )
    assert keeps_on_irsa(table) == ["PI-SDK-SUPPORTS-POD-IDENTITY"]


def test_a_role_in_another_account_needs_a_target_role_and_is_reported_not_guessed():
    other = "arn:aws:iam::210987654321:role/shared-reader"
    findings = judged(
        KubernetesObjects(
            service_accounts=[service_account("orders", "api", role=other)],
            deployments=[deployment("orders", "api", "api")],
        ),
        role={},
    )
    assert "PI-ROLE-IN-CLUSTER-ACCOUNT" in keeps_on_irsa(findings)
    assert "targetRoleArn" in findings["PI-ROLE-IN-CLUSTER-ACCOUNT"].detail


def test_a_trust_policy_that_would_pass_its_length_quota_keeps_it_on_irsa():
    subjects = [f"system:serviceaccount:orders:worker-{number:03d}" for number in range(40)]
    long_trust = {"Version": "2012-10-17", "Statement": [irsa_statement(PROVIDER, subjects)]}
    assert len(json.dumps(long_trust, separators=(",", ":"))) < 2048
    findings = judged(
        KubernetesObjects(
            service_accounts=[service_account("orders", "api")], deployments=[deployment("orders", "api", "api")]
        ),
        role={"Arn": ROLE, "AssumeRolePolicyDocument": long_trust},
    )
    assert keeps_on_irsa(findings) == ["PI-TRUST-POLICY-FITS"]


def test_an_association_with_another_role_is_a_named_conflict():
    association = {
        "associationId": "a-123",
        "namespace": "orders",
        "serviceAccount": "api",
        "roleArn": "arn:aws:iam::123456789012:role/other",
    }
    findings = judged(
        KubernetesObjects(
            service_accounts=[service_account("orders", "api")], deployments=[deployment("orders", "api", "api")]
        ),
        associations=[association],
    )
    assert keeps_on_irsa(findings) == ["PI-NO-CONFLICTING-ASSOCIATION"]
    assert "a-123" in findings["PI-NO-CONFLICTING-ASSOCIATION"].detail


def test_cluster_checks_block_a_platform_version_without_pod_identity_and_a_full_quota():
    old = {**CLUSTER, "version": "1.28", "platformVersion": "eks.3"}
    findings = {
        f.check_id: f
        for f in judge(EligibilityInputs("c", old, "123456789012", planned_associations=5001), Scope.CLUSTER)
    }
    assert findings["PI-CLUSTER-SUPPORTS-POD-IDENTITY"].blocks_run
    assert findings["PI-ASSOCIATION-QUOTA"].blocks_run
    assert findings["PI-AGENT-READY"].status is Status.WARN and not findings["PI-AGENT-READY"].blocks_run


def test_a_service_account_an_earlier_run_returned_to_irsa_stays_there_until_the_mark_is_removed():
    returned = service_account("orders", "api")
    returned["metadata"]["annotations"]["eks-runbooks/returned-to-irsa"] = "run r1: pod api-1 crash-looping"
    findings = judged(KubernetesObjects(service_accounts=[returned], deployments=[deployment("orders", "api", "api")]))
    assert keeps_on_irsa(findings) == ["PI-NOT-RETURNED-BEFORE"]
    assert "crash-looping" in findings["PI-NOT-RETURNED-BEFORE"].detail

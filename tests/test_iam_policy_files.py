"""The runbooks' IAM policies (include/iam/<dag id>.json): one per runbook, decidable, every change scoped.

What each runbook really calls is checked against its policy on the sandbox (tests/integration/
test_runbook_access.py); here, the shape every policy must keep, and the evaluator those checks rely on.
"""

from __future__ import annotations

import re

import pytest

from tests.helpers import REPO
from tests.iam_policy import AwsCall, as_list, is_allowed, load_policy, wildcard_match

POLICIES = sorted((REPO / "include" / "iam").glob("*.json"))
#: Actions that change nothing (IAM's read and list access levels follow these verbs in every service used).
READ_ONLY_ACTION = re.compile(r"^[a-z0-9-]+:(Describe|List|Get)[A-Za-z]*$")
#: Conditions that tie a statement to the caller's own resources when the ARN cannot name the account (S3).
OWNERSHIP_CONDITION_KEYS = {"aws:ResourceAccount", "aws:ResourceTag", "aws:ResourceOrgID"}
#: Creates that name no resource (Service Authorization Reference, KMS: CreateKey has no resource type) make it in
#: the caller's own account; a request-tag condition holds them to the runbook's own.
ACCOUNT_LOCAL_CREATES = {"kms:CreateKey"}
ACCOUNT = "123456789012"


def _names_the_account(resource: str) -> bool:
    """An ARN whose account field is the caller's account (a policy variable) or one account id."""
    parts = resource.replace("${aws:PrincipalAccount}", "CALLER").split(":", 5)
    return len(parts) == 6 and bool(re.fullmatch(r"CALLER|\d{12}", parts[4]))


def _owned_by_condition(statement: dict) -> bool:
    keys = {key.split("/")[0] for operator in statement.get("Condition", {}).values() for key in operator}
    if set(as_list(statement["Action"])) <= ACCOUNT_LOCAL_CREATES and "aws:RequestTag" in keys:
        return True
    return bool(keys & OWNERSHIP_CONDITION_KEYS)


def test_every_runbook_dag_ships_its_policy():
    dags = {path.stem for path in (REPO / "dags").glob("*.py") if not path.name.startswith("_")}
    assert {path.stem for path in POLICIES} == dags


@pytest.mark.parametrize("path", POLICIES, ids=lambda path: path.stem)
def test_every_statement_that_changes_something_is_scoped_to_the_callers_account(path):
    unscoped = [
        statement.get("Sid")
        for statement in load_policy(path)["Statement"]
        if not all(READ_ONLY_ACTION.match(action) for action in as_list(statement["Action"]))
        and not (all(_names_the_account(r) for r in as_list(statement["Resource"])) or _owned_by_condition(statement))
    ]
    assert not unscoped, f"{path.name}: statements that change something in any account: {unscoped}"


def _call(action: str, resource: str, **context) -> AwsCall:
    return AwsCall("arn:aws:iam::123456789012:role/eks-runbooks", ACCOUNT, "us-east-1", action, resource, context)


UPGRADE = REPO / "include" / "iam" / "eks_cluster_upgrade.json"


def test_the_evaluator_allows_an_update_of_a_cluster_in_the_callers_account_only():
    policy = load_policy(UPGRADE)
    assert is_allowed(policy, _call("eks:UpdateClusterVersion", "arn:aws:eks:eu-west-1:123456789012:cluster/prod"))
    assert not is_allowed(policy, _call("eks:UpdateClusterVersion", "arn:aws:eks:eu-west-1:210987654321:cluster/x"))
    assert not is_allowed(policy, _call("eks:DeleteCluster", "arn:aws:eks:eu-west-1:123456789012:cluster/prod"))


def test_the_evaluator_holds_the_claim_statement_to_its_tag_key():
    policy = load_policy(UPGRADE)
    cluster = "arn:aws:eks:us-east-1:123456789012:cluster/payments-prod"
    assert is_allowed(policy, _call("eks:TagResource", cluster, **{"aws:TagKeys": ["eks-runbooks/claimed-by"]}))
    assert not is_allowed(policy, _call("eks:TagResource", cluster, **{"aws:TagKeys": ["eks-runbooks/x", "team"]}))


def test_the_evaluator_holds_s3_writes_to_the_runbooks_folder_in_a_bucket_of_the_callers_account():
    policy = load_policy(UPGRADE)
    key = "arn:aws:s3:::reports/prod/eks_cluster_upgrade/ticket__CHG-1/report.md"
    assert is_allowed(policy, _call("s3:PutObject", key, **{"aws:ResourceAccount": ACCOUNT}))
    assert not is_allowed(policy, _call("s3:PutObject", key, **{"aws:ResourceAccount": "210987654321"}))
    elsewhere = "arn:aws:s3:::reports/prod/eks_compliance_audit/latest/report.json"
    assert not is_allowed(policy, _call("s3:PutObject", elsewhere, **{"aws:ResourceAccount": ACCOUNT}))


def test_the_evaluator_lets_a_deny_win_and_refuses_what_it_cannot_decide():
    allow = {"Effect": "Allow", "Action": "eks:*", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "eks:Delete*", "Resource": "*"}
    policy = {"Statement": [allow, deny]}
    assert is_allowed(policy, _call("eks:describecluster", "arn:aws:eks:us-east-1:123456789012:cluster/a"))
    assert not is_allowed(policy, _call("eks:DeleteCluster", "arn:aws:eks:us-east-1:123456789012:cluster/a"))
    odd = {"Statement": [{**allow, "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2026-01-01"}}}]}
    with pytest.raises(ValueError, match="DateGreaterThan"):
        is_allowed(odd, _call("eks:DescribeCluster", "*"))


def test_iam_wildcards_span_slashes_and_colons_and_question_mark_is_one_character():
    assert wildcard_match("arn:aws:s3:::*/eks_cluster_upgrade/*", "arn:aws:s3:::b/p/q/eks_cluster_upgrade/r/f.md")
    assert wildcard_match("arn:aws:eks:*:1?3:cluster/*", "arn:aws:eks:us-east-1:123:cluster/a")
    assert not wildcard_match("arn:aws:eks:*:1?3:cluster/*", "arn:aws:eks:us-east-1:1234:cluster/a")


BOOTSTRAP = REPO / "include" / "iam" / "eks_cluster_bootstrap.json"
RUN_TAG = {"aws:RequestTag/eks-runbooks/bootstrapped-by": "run-1", "aws:TagKeys": ["eks-runbooks/bootstrapped-by"]}
ITS_ROLE = "arn:aws:iam::123456789012:role/eks-runbooks/payments-us-east-1-cluster"


def test_the_bootstrap_attaches_exactly_the_managed_policies_its_facts_list():
    from eks_runbooks.core.bootstrap.facts import load_bootstrap_facts

    facts = load_bootstrap_facts()
    listed = {*facts.cluster_role.managed_policies, *facts.node_role.managed_policies}
    listed |= {policy for role in facts.addon_roles.values() for policy in role.managed_policies}
    statements = [s for s in load_policy(BOOTSTRAP)["Statement"] if "iam:AttachRolePolicy" in as_list(s["Action"])]
    attachable = {arn for s in statements for arn in as_list(s["Condition"]["StringEquals"]["iam:PolicyARN"])}
    assert attachable == {f"arn:aws:iam::aws:policy/{name}" for name in listed}


def test_the_bootstrap_policy_refuses_a_role_outside_its_path_or_an_admin_policy_or_a_role_for_ec2():
    policy = load_policy(BOOTSTRAP)
    assert is_allowed(policy, _call("iam:CreateRole", ITS_ROLE, **RUN_TAG))
    assert not is_allowed(policy, _call("iam:CreateRole", "arn:aws:iam::123456789012:role/payments", **RUN_TAG))
    assert not is_allowed(policy, _call("iam:CreateRole", ITS_ROLE))  # untagged
    admin = {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}
    assert not is_allowed(policy, _call("iam:AttachRolePolicy", ITS_ROLE, **admin))
    assert is_allowed(policy, _call("iam:PassRole", ITS_ROLE, **{"iam:PassedToService": "eks.amazonaws.com"}))
    assert not is_allowed(policy, _call("iam:PassRole", ITS_ROLE, **{"iam:PassedToService": "ec2.amazonaws.com"}))


def test_the_bootstrap_policy_tears_down_and_grants_only_what_is_its_own():
    policy = load_policy(BOOTSTRAP)
    nodegroup = "arn:aws:eks:us-east-1:123456789012:nodegroup/payments/general/0000"
    owned = {"aws:ResourceTag/eks-runbooks/bootstrapped-by": "run-1"}
    assert is_allowed(policy, _call("eks:DeleteNodegroup", nodegroup, **owned))
    assert not is_allowed(policy, _call("eks:DeleteNodegroup", nodegroup))
    assert not is_allowed(policy, _call("eks:DeleteCluster", "arn:aws:eks:us-east-1:123456789012:cluster/payments"))
    entry = "arn:aws:eks:us-east-1:123456789012:access-entry/payments/role/123456789012/admins/0000"
    admin = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    assert is_allowed(policy, _call("eks:AssociateAccessPolicy", entry, **{"eks:policyArn": admin}))
    other = admin.replace("ClusterAdmin", "Edit")
    assert not is_allowed(policy, _call("eks:AssociateAccessPolicy", entry, **{"eks:policyArn": other}))
    key = "arn:aws:kms:us-east-1:123456789012:key/1234"
    assert not is_allowed(policy, _call("kms:ScheduleKeyDeletion", key))
    assert not is_allowed(policy, _call("kms:CreateGrant", key))
    assert is_allowed(policy, _call("kms:CreateGrant", key, **{"kms:ViaService": "eks.us-east-1.amazonaws.com"}))


def test_the_evaluator_lets_get_caller_identity_through_any_policy():
    # AWS STS API Reference, GetCallerIdentity: "No permissions are required to perform this operation."
    assert is_allowed({"Statement": []}, _call("sts:GetCallerIdentity", "*"))

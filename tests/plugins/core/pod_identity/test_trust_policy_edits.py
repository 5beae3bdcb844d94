"""Role trust policies: the Pod Identity statement once, this cluster's OIDC statement only."""

from __future__ import annotations

import copy

from eks_runbooks.core.pod_identity.trust import (
    irsa_statement,
    oidc_provider_arn,
    policy_length,
    trusts_pod_identity,
    trusts_service_account_via_irsa,
    with_irsa_trust,
    with_pod_identity_trust,
    without_irsa_trust,
)

ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789"
PROVIDER = oidc_provider_arn("aws", "123456789012", ISSUER)
OTHER_PROVIDER = oidc_provider_arn("aws", "123456789012", "https://oidc.eks.us-east-1.amazonaws.com/id/FFFF")


def irsa_role(*subjects: str, provider: str = PROVIDER) -> dict:
    return {"Version": "2012-10-17", "Statement": [irsa_statement(provider, subjects)]}


def test_the_provider_arn_is_the_issuer_without_its_scheme():
    assert PROVIDER == "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789"


def test_adding_pod_identity_trust_keeps_the_oidc_statement_and_twice_adds_it_once():
    document = irsa_role("system:serviceaccount:orders:api")
    once = with_pod_identity_trust(document)
    assert once is not None and trusts_pod_identity(once)
    assert once["Statement"][0] == document["Statement"][0]
    assert with_pod_identity_trust(once) is None
    assert document == irsa_role("system:serviceaccount:orders:api")  # the input is not changed


def test_a_pod_identity_statement_without_tag_session_is_not_trust_enough():
    document = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": ["pods.eks.amazonaws.com"]}, "Action": "sts:AssumeRole"}
        ]
    }
    assert not trusts_pod_identity(document)
    wildcard = copy.deepcopy(document)
    wildcard["Statement"][0]["Action"] = "sts:*"
    assert trusts_pod_identity(wildcard)


def test_irsa_trust_matches_string_equals_and_string_like_subjects():
    exact = irsa_role("system:serviceaccount:orders:api")
    assert trusts_service_account_via_irsa(exact, PROVIDER, "orders", "api")
    assert not trusts_service_account_via_irsa(exact, PROVIDER, "orders", "worker")
    assert not trusts_service_account_via_irsa(exact, OTHER_PROVIDER, "orders", "api")
    like = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": PROVIDER},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringLike": {f"{PROVIDER.partition('/')[2]}:sub": "system:serviceaccount:orders:*"}},
            }
        ]
    }
    assert trusts_service_account_via_irsa(like, PROVIDER, "orders", "worker")


def test_removing_irsa_trust_removes_this_clusters_statements_only():
    document = {
        "Statement": [
            irsa_statement(PROVIDER, ["system:serviceaccount:orders:api"]),
            irsa_statement(OTHER_PROVIDER, ["system:serviceaccount:orders:api"]),
        ]
    }
    trimmed = with_pod_identity_trust(document)
    cleaned = without_irsa_trust(trimmed, PROVIDER)
    assert cleaned is not None
    assert [s.get("Principal") for s in cleaned["Statement"]] == [
        {"Federated": OTHER_PROVIDER},
        {"Service": "pods.eks.amazonaws.com"},
    ]
    assert without_irsa_trust(cleaned, PROVIDER) is None


def test_restoring_irsa_trust_adds_a_statement_only_when_missing():
    restored = with_irsa_trust({"Statement": []}, PROVIDER, "orders", "api")
    assert restored is not None and trusts_service_account_via_irsa(restored, PROVIDER, "orders", "api")
    assert with_irsa_trust(restored, PROVIDER, "orders", "api") is None


def test_policy_length_ignores_white_space():
    document = irsa_role("system:serviceaccount:orders:api")
    import json

    assert policy_length(document) == len(json.dumps(document, indent=4).replace(" ", "").replace("\n", ""))

"""Pod Identity associations and the credential injection at pod creation (Pod Identity over IRSA)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/ledger"
IRSA_ROLE = "arn:aws:iam::123456789012:role/ledger-irsa"


def _env(pod):
    return {e["name"]: e.get("value") for e in pod["spec"]["containers"][0].get("env") or []}


def _deploy(kube, restarted_at=None):
    template_metadata = {"labels": {"app": "ledger"}}
    if restarted_at:
        # kubectl rollout restart: a new pod template, hence new pods
        template_metadata["annotations"] = {"kubectl.kubernetes.io/restartedAt": restarted_at}
    kube.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "ledger", "namespace": "payments"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "ledger"}},
                "template": {
                    "metadata": template_metadata,
                    "spec": {"serviceAccountName": "ledger", "containers": [{"name": "api", "image": "nginx:1.27"}]},
                },
            },
        }
    )


def _pods(kube):
    return kube.list("v1", "Pod", "payments", label_selector="app=ledger")


@pytest.fixture
def ledger(simulated_fleet):
    simulated_fleet.create_cluster(version="1.31")
    simulated_fleet.create_nodegroup(size=1)
    kube = simulated_fleet.kube("prod")
    with simulated_fleet.sandbox.transaction():
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}})
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {
                    "name": "ledger",
                    "namespace": "payments",
                    "annotations": {"eks.amazonaws.com/role-arn": IRSA_ROLE},
                },
            }
        )
        _deploy(kube)
    return kube


def test_irsa_annotated_service_account_gets_web_identity_env(simulated_fleet, ledger):
    (pod,) = _pods(ledger)
    env = _env(pod)
    assert env["AWS_ROLE_ARN"] == IRSA_ROLE
    assert env["AWS_WEB_IDENTITY_TOKEN_FILE"] == "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"
    assert (env["AWS_STS_REGIONAL_ENDPOINTS"], env["AWS_REGION"], env["AWS_DEFAULT_REGION"]) == (
        "regional",
        "us-east-1",
        "us-east-1",
    )
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "aws-iam-token")
    assert volume["projected"]["sources"][0]["serviceAccountToken"]["audience"] == "sts.amazonaws.com"
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" not in env


def test_association_takes_effect_after_rollout_restart_and_wins_over_irsa(simulated_fleet, ledger):
    simulated_fleet.role("ledger", "pods.eks.amazonaws.com")
    association = simulated_fleet.eks.create_pod_identity_association(
        clusterName="prod", namespace="payments", serviceAccount="ledger", roleArn=ROLE
    )["association"]
    assert association["associationId"].startswith("a-") and len(association["associationId"]) == 19
    assert association["associationArn"].endswith(f"podidentityassociation/prod/{association['associationId']}")
    # running pods keep what they started with: the webhook mutates at creation only
    (before,) = _pods(ledger)
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" not in _env(before)
    with simulated_fleet.sandbox.transaction():
        _deploy(ledger, restarted_at="2025-09-01T13:00:00Z")
    fresh = [p for p in _pods(ledger) if p["metadata"]["name"] != before["metadata"]["name"]]
    assert fresh
    env = _env(fresh[0])
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == "http://169.254.170.23/v1/credentials"
    assert env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] == (
        "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"
    )
    assert "AWS_ROLE_ARN" not in env
    volume = next(v for v in fresh[0]["spec"]["volumes"] if v["name"] == "eks-pod-identity-token")
    assert volume["projected"]["sources"][0]["serviceAccountToken"]["audience"] == "pods.eks.amazonaws.com"


def test_association_crud_and_duplicates(simulated_fleet):
    simulated_fleet.create_cluster()
    simulated_fleet.role("ledger", "pods.eks.amazonaws.com")
    other = simulated_fleet.role("other", "pods.eks.amazonaws.com")
    created = simulated_fleet.eks.create_pod_identity_association(
        clusterName="prod", namespace="payments", serviceAccount="ledger", roleArn=ROLE
    )["association"]
    with pytest.raises(ClientError) as excinfo:
        simulated_fleet.eks.create_pod_identity_association(
            clusterName="prod", namespace="payments", serviceAccount="ledger", roleArn=ROLE
        )
    assert excinfo.value.response["Error"] == {
        "Code": "ResourceInUseException",
        "Message": f"Association already exists: {created['associationId']}",
    }
    listed = simulated_fleet.eks.list_pod_identity_associations(clusterName="prod", namespace="payments")[
        "associations"
    ]
    assert [a["associationId"] for a in listed] == [created["associationId"]]
    assert (
        simulated_fleet.eks.list_pod_identity_associations(clusterName="prod", namespace="other")["associations"] == []
    )
    updated = simulated_fleet.eks.update_pod_identity_association(
        clusterName="prod", associationId=created["associationId"], roleArn=other
    )["association"]
    assert updated["roleArn"] == other
    assert (
        simulated_fleet.eks.describe_pod_identity_association(
            clusterName="prod", associationId=created["associationId"]
        )["association"]["roleArn"]
        == updated["roleArn"]
    )
    simulated_fleet.eks.delete_pod_identity_association(clusterName="prod", associationId=created["associationId"])
    assert simulated_fleet.eks.list_pod_identity_associations(clusterName="prod")["associations"] == []


def test_addon_pod_identity_associations_are_owned_by_the_addon(simulated_fleet):
    simulated_fleet.create_cluster()
    cni_role = simulated_fleet.role("cni", "pods.eks.amazonaws.com")
    addon = simulated_fleet.eks.create_addon(
        clusterName="prod",
        addonName="vpc-cni",
        podIdentityAssociations=[{"serviceAccount": "aws-node", "roleArn": cni_role}],
    )["addon"]
    (association,) = simulated_fleet.eks.list_pod_identity_associations(clusterName="prod")["associations"]
    assert association["ownerArn"] == addon["addonArn"]
    assert addon["podIdentityAssociations"] == [association["associationArn"]]
    simulated_fleet.sandbox.settle()
    simulated_fleet.eks.update_addon(clusterName="prod", addonName="vpc-cni", podIdentityAssociations=[])
    assert simulated_fleet.eks.list_pod_identity_associations(clusterName="prod")["associations"] == []

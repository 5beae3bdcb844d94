"""The AWS credentials a pod really gets (IRSA and EKS Pod Identity), seen as a client sees them.

A container whose SDK would get no credentials fails like an application getting AccessDenied: CrashLoopBackOff,
its last run terminated with exit code 1, restarts backing off, the pod not Ready; the cause is re-checked at each
restart and when a running SDK refreshes its credentials. Every cluster here is built by the fleet loader and read
through boto3 and the official Kubernetes client (bearer token of the fleet's administrators).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.helpers import PLATFORM_ADMIN_ROLE_ARN, assumed_role_credentials, eks_token, sandbox_control

TIMEOUT = 30.0
CLUSTER = "creds"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{{}}"
OLD_BOTO3 = "registry.example.com/ledger:old-boto3"


def wait_for(read: Callable[[], Any], done: Callable[[Any], bool], what: str) -> Any:
    """Poll ``read`` on the real clock until ``done`` holds for its answer; returns that answer."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        answer = read()
        if done(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {TIMEOUT} s; last answer: {answer!r}")
        time.sleep(0.02)


def service_account(name: str, namespace: str = "payments", role: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if role:
        metadata["annotations"] = {"eks.amazonaws.com/role-arn": ROLE.format(role)}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def deployment(name: str, account: str, image: str = "public.ecr.aws/nginx/nginx:1.27", **pod: Any) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "payments"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"serviceAccountName": account, "containers": [{"name": "app", "image": image}], **pod},
            },
        },
    }


BASE_FLEET: dict[str, Any] = {
    "accounts": [
        {
            "id": ACCOUNT,
            "regions": {
                "us-east-1": {
                    "network": {
                        "vpc_cidr": "10.0.0.0/16",
                        "subnets": [
                            {"name": "a", "az": "us-east-1a", "cidr": "10.0.0.0/19"},
                            {"name": "b", "az": "us-east-1b", "cidr": "10.0.32.0/19"},
                        ],
                    },
                    "clusters": [
                        {
                            "name": CLUSTER,
                            "version": "1.33",
                            "authentication_mode": "API",
                            "addons": ["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"],
                            "nodegroups": [{"name": "general", "size": 1}],
                            "access_entries": [
                                {"principal_arn": PLATFORM_ADMIN_ROLE_ARN, "policies": ["AmazonEKSClusterAdminPolicy"]}
                            ],
                            "aws_sdks": {OLD_BOTO3: "boto3/1.28.0"},
                            "kubernetes": [
                                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}},
                                service_account("ledger", role="ledger"),
                            ],
                        }
                    ],
                }
            },
        }
    ]
}


@dataclass
class Cluster:
    """The test's cluster as its clients see it: boto3 EKS and IAM, and the Kubernetes API."""

    sandbox: Any
    eks: Any
    iam: Any
    core: Any  # kubernetes.client.CoreV1Api
    apps: Any  # kubernetes.client.AppsV1Api

    def deploy(self, manifest: dict[str, Any]) -> None:
        self.apps.create_namespaced_deployment("payments", manifest)

    def pods(self, app: str) -> list[Any]:
        return [
            pod
            for pod in self.core.list_namespaced_pod("payments", label_selector=f"app={app}").items
            if pod.metadata.deletion_timestamp is None
        ]

    def one_pod(self, app: str, done: Callable[[Any], bool], what: str) -> Any:
        (pod,) = wait_for(lambda: self.pods(app), lambda pods: len(pods) == 1 and done(pods[0]), what)
        return pod

    def restart(self, app: str, at: str) -> None:
        """``kubectl rollout restart``: a new pod template, hence new pods through admission."""
        self.apps.patch_namespaced_deployment(
            app, "payments", {"spec": {"template": {"metadata": {"annotations": {"restartedAt": at}}}}}
        )

    def associate(self, account: str, role: str, **extra: Any) -> str:
        return self.eks.create_pod_identity_association(
            clusterName=CLUSTER, namespace="payments", serviceAccount=account, roleArn=ROLE.format(role), **extra
        )["association"]["associationId"]

    def trust(self, role: str, *statements: dict[str, Any]) -> None:
        self.iam.update_assume_role_policy(
            RoleName=role, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
        )

    def trust_statements(self, role: str) -> list[dict[str, Any]]:
        return self.iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]["Statement"]

    def clock(self, path: str, body: Any = None) -> None:
        status, answer = sandbox_control(self.sandbox.base_url, "POST", f"/clock/{path}", body)
        assert status == 200, answer


def running_and_ready(pod: Any) -> bool:
    conditions = {c.type: c.status for c in pod.status.conditions or []}
    return (
        pod.status.phase == "Running"
        and conditions.get("Ready") == "True"
        and all(s.state.running is not None for s in pod.status.container_statuses or [])
    )


def crash_looping(pod: Any) -> bool:
    statuses = pod.status.container_statuses or []
    return bool(statuses) and all(
        s.state.waiting is not None and s.state.waiting.reason == "CrashLoopBackOff" for s in statuses
    )


def assert_fails_like_access_denied(cluster: Cluster, pod: Any) -> None:
    (status,) = pod.status.container_statuses
    assert status.state.waiting.reason == "CrashLoopBackOff"
    assert status.state.waiting.message.startswith("back-off ")
    assert (status.last_state.terminated.exit_code, status.last_state.terminated.reason) == (1, "Error")
    assert status.ready is False
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "False"
    log = cluster.core.read_namespaced_pod_log(pod.metadata.name, "payments")
    assert "AccessDenied" in log, log


def env(pod: Any) -> dict[str, str]:
    return {variable.name: variable.value for variable in pod.spec.containers[0].env or []}


def pods_statement(*actions: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": list(actions)}


def build(sandbox: Any, tmp_path: Any, fleet: dict[str, Any]) -> Cluster:
    from kubernetes import client

    from eks_sandbox.fleet import load_fleet

    load_fleet(sandbox, fleet)
    session = boto3.session.Session(region_name="us-east-1")
    eks = session.client("eks", endpoint_url=sandbox.base_url)
    described = eks.describe_cluster(name=CLUSTER)["cluster"]
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(base64.b64decode(described["certificateAuthority"]["data"]))
    configuration = client.Configuration()
    configuration.host = described["endpoint"]
    configuration.ssl_ca_cert = str(ca_file)
    credentials = assumed_role_credentials(sandbox.base_url, PLATFORM_ADMIN_ROLE_ARN)
    configuration.api_key = {"BearerToken": eks_token(CLUSTER, sandbox.base_url, credentials)}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    kube = client.ApiClient(configuration)
    return Cluster(
        sandbox,
        eks,
        session.client("iam", endpoint_url=sandbox.base_url),
        client.CoreV1Api(kube),
        client.AppsV1Api(kube),
    )


def fleet_with(**changes: Any) -> dict[str, Any]:
    fleet = copy.deepcopy(BASE_FLEET)
    spec = fleet["accounts"][0]["regions"]["us-east-1"]["clusters"][0]
    for key, value in changes.items():
        if value is None:
            spec.pop(key, None)
        elif key == "kubernetes":
            spec["kubernetes"] = spec["kubernetes"] + value
        else:
            spec[key] = value
    return fleet


@pytest.fixture
def cluster(sandbox, tmp_path) -> Cluster:
    return build(sandbox, tmp_path, fleet_with())


# --- EKS Pod Identity -----------------------------------------------------------------------------------------


def test_a_pod_whose_role_does_not_trust_pods_eks_crash_loops_and_recovers_once_the_statement_is_added(cluster):
    # EKS refuses the association of a role without the statement, so it goes after the association is made.
    irsa_only = cluster.trust_statements("ledger")
    cluster.trust("ledger", *irsa_only, pods_statement("sts:AssumeRole", "sts:TagSession"))
    cluster.associate("ledger", "ledger")
    cluster.trust("ledger", *irsa_only)
    cluster.deploy(deployment("ledger", "ledger"))
    pod = cluster.one_pod("ledger", crash_looping, "the ledger pod crash-looping")
    assert env(pod)["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == "http://169.254.170.23/v1/credentials"
    assert_fails_like_access_denied(cluster, pod)
    first_count = pod.status.container_statuses[0].restart_count

    cluster.trust("ledger", *cluster.trust_statements("ledger"), pods_statement("sts:AssumeRole", "sts:TagSession"))
    recovered = cluster.one_pod("ledger", running_and_ready, "the ledger pod Running and Ready at its next restart")
    assert recovered.metadata.name == pod.metadata.name
    assert recovered.status.container_statuses[0].restart_count > first_count
    assert recovered.status.container_statuses[0].last_state.terminated.exit_code == 1


def test_without_tag_session_only_an_association_that_disables_session_tags_gets_credentials(cluster):
    cluster.trust("ledger", pods_statement("sts:AssumeRole", "sts:TagSession"))
    cluster.associate("ledger", "ledger")
    cluster.trust("ledger", pods_statement("sts:AssumeRole"))
    cluster.deploy(deployment("ledger", "ledger"))
    cluster.one_pod("ledger", crash_looping, "the ledger pod crash-looping without sts:TagSession")

    cluster.iam.create_role(
        RoleName="ledger-untagged",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [pods_statement("sts:AssumeRole")]}),
    )
    cluster.core.create_namespaced_service_account("payments", service_account("untagged"))
    cluster.associate("untagged", "ledger-untagged", disableSessionTags=True)
    cluster.deploy(deployment("untagged", "untagged"))
    cluster.one_pod("untagged", running_and_ready, "the pod of an association without session tags Ready")


def test_a_deleted_association_breaks_new_pods_at_once_and_running_pods_when_the_agent_cache_expires(cluster):
    cluster.core.create_namespaced_service_account("payments", service_account("reports"))
    cluster.iam.create_role(
        RoleName="reports",
        AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [pods_statement("sts:AssumeRole", "sts:TagSession")]}
        ),
    )
    association = cluster.associate("reports", "reports")
    cluster.clock("pause")
    cluster.deploy(deployment("reports", "reports"))
    cluster.clock("skip", {"minutes": 1})
    running = cluster.one_pod("reports", running_and_ready, "the reports pod on Pod Identity")

    cluster.eks.delete_pod_identity_association(clusterName=CLUSTER, associationId=association)
    # A pod that still carries the Pod Identity variables (here from its spec) asks the agent in vain.
    variables = [{"name": "AWS_CONTAINER_CREDENTIALS_FULL_URI", "value": "http://169.254.170.23/v1/credentials"}]
    cluster.deploy(
        deployment(
            "orphan",
            "reports",
            containers=[{"name": "app", "image": "public.ecr.aws/nginx/nginx:1.27", "env": variables}],
        )
    )
    orphan = cluster.one_pod("orphan", crash_looping, "a new pod of the unassociated service account crash-looping")
    assert_fails_like_access_denied(cluster, orphan)
    cluster.clock("skip", {"minutes": 60})
    assert running_and_ready(cluster.one_pod("reports", lambda pod: True, "the running reports pod"))

    cluster.clock("skip", {"minutes": 6 * 60})
    broken = cluster.one_pod("reports", crash_looping, "the running pod broken once the agent's cache expired")
    assert broken.metadata.name == running.metadata.name
    cluster.clock("resume")


def test_a_pod_identity_pod_needs_a_ready_agent_on_its_node(sandbox, tmp_path):
    cluster = build(sandbox, tmp_path, fleet_with(addons=["vpc-cni", "coredns", "kube-proxy"]))
    cluster.trust("ledger", pods_statement("sts:AssumeRole", "sts:TagSession"))
    cluster.associate("ledger", "ledger")
    cluster.deploy(deployment("ledger", "ledger"))
    pod = cluster.one_pod("ledger", crash_looping, "the ledger pod crash-looping without the agent")
    assert_fails_like_access_denied(cluster, pod)

    cluster.eks.create_addon(clusterName=CLUSTER, addonName="eks-pod-identity-agent")
    cluster.one_pod("ledger", running_and_ready, "the ledger pod Ready once the agent runs on its node")


def test_an_image_with_an_old_sdk_crash_loops_on_pod_identity_and_runs_on_irsa(cluster):
    cluster.deploy(deployment("ledger", "ledger", image=OLD_BOTO3))
    on_irsa = cluster.one_pod("ledger", running_and_ready, "the old-SDK pod Ready on IRSA")
    assert "AWS_ROLE_ARN" in env(on_irsa)

    cluster.trust("ledger", *cluster.trust_statements("ledger"), pods_statement("sts:AssumeRole", "sts:TagSession"))
    cluster.associate("ledger", "ledger")
    cluster.restart("ledger", "2026-01-20T01:00:00Z")
    pods = wait_for(
        lambda: cluster.pods("ledger"),
        lambda pods: any(crash_looping(p) and "AWS_CONTAINER_CREDENTIALS_FULL_URI" in env(p) for p in pods),
        "the restarted old-SDK pod crash-looping on Pod Identity",
    )
    new = next(p for p in pods if p.metadata.name != on_irsa.metadata.name)
    assert_fails_like_access_denied(cluster, new)
    log = cluster.core.read_namespaced_pod_log(new.metadata.name, "payments")
    assert "boto3/1.28.0" in log and "1.34.41" in log
    # the rollout stalls: the old pod, still on IRSA, keeps serving
    assert any(p.metadata.name == on_irsa.metadata.name and running_and_ready(p) for p in cluster.pods("ledger"))


# --- IRSA -----------------------------------------------------------------------------------------------------


def test_removing_the_oidc_trust_breaks_a_running_irsa_pod_at_its_next_credential_refresh(cluster):
    cluster.clock("pause")
    cluster.deploy(deployment("ledger", "ledger"))
    cluster.clock("skip", {"minutes": 1})
    pod = cluster.one_pod("ledger", running_and_ready, "the ledger pod on IRSA")

    # what `eksctl utils migrate-to-pod-identity --remove-oidc-provider-trust-relationship` leaves
    cluster.trust("ledger", pods_statement("sts:AssumeRole", "sts:TagSession"))
    cluster.clock("skip", {"minutes": 30})
    assert running_and_ready(cluster.one_pod("ledger", lambda p: True, "the ledger pod"))

    cluster.clock("skip", {"minutes": 30})
    broken = cluster.one_pod("ledger", crash_looping, "the running IRSA pod broken at its next refresh")
    assert broken.metadata.name == pod.metadata.name
    assert_fails_like_access_denied(cluster, broken)
    assert "AssumeRoleWithWebIdentity" in cluster.core.read_namespaced_pod_log(pod.metadata.name, "payments")
    cluster.clock("resume")


def test_an_irsa_trust_for_another_service_account_is_refused_and_string_like_matches(cluster):
    issuer = cluster.eks.describe_cluster(name=CLUSTER)["cluster"]["identity"]["oidc"]["issuer"].removeprefix(
        "https://"
    )
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer}"

    def web_identity(operator: str, subject: str) -> dict[str, Any]:
        return {
            "Effect": "Allow",
            "Principal": {"Federated": provider},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {operator: {f"{issuer}:sub": subject, f"{issuer}:aud": "sts.amazonaws.com"}},
        }

    cluster.trust("ledger", web_identity("StringEquals", "system:serviceaccount:payments:other"))
    cluster.deploy(deployment("ledger", "ledger"))
    cluster.one_pod("ledger", crash_looping, "the pod of a service account the role does not trust")
    cluster.trust("ledger", web_identity("StringLike", "system:serviceaccount:payments:*"))
    cluster.one_pod("ledger", running_and_ready, "the pod Ready once a StringLike subject matches")


def test_an_irsa_pod_without_the_clusters_oidc_provider_crash_loops(sandbox, tmp_path):
    cluster = build(sandbox, tmp_path, fleet_with(irsa=False))
    cluster.iam.create_role(
        RoleName="ledger",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [pods_statement("sts:AssumeRole")]}),
    )
    cluster.deploy(deployment("ledger", "ledger"))
    pod = cluster.one_pod("ledger", crash_looping, "the IRSA pod of a cluster without an IAM OIDC provider")
    assert "No OpenIDConnect provider found" in cluster.core.read_namespaced_pod_log(pod.metadata.name, "payments")


def test_hard_coded_irsa_env_wins_over_an_association(cluster):
    cluster.trust("ledger", *cluster.trust_statements("ledger"), pods_statement("sts:AssumeRole", "sts:TagSession"))
    cluster.core.create_namespaced_service_account("payments", service_account("pinned"))
    cluster.iam.create_role(
        RoleName="pinned-pods",
        AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [pods_statement("sts:AssumeRole", "sts:TagSession")]}
        ),
    )
    cluster.associate("pinned", "pinned-pods")
    token_dir = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
    cluster.deploy(
        deployment(
            "pinned",
            "pinned",
            containers=[
                {
                    "name": "app",
                    "image": "public.ecr.aws/nginx/nginx:1.27",
                    "env": [
                        {"name": "AWS_ROLE_ARN", "value": ROLE.format("ledger")},
                        {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": f"{token_dir}/token"},
                    ],
                    "volumeMounts": [{"name": "aws-iam-token", "mountPath": token_dir, "readOnly": True}],
                }
            ],
            volumes=[
                {
                    "name": "aws-iam-token",
                    "projected": {
                        "sources": [{"serviceAccountToken": {"audience": "sts.amazonaws.com", "path": "token"}}]
                    },
                }
            ],
        )
    )
    # both sets of variables are there; the SDK takes web identity first, and the role trusts ledger only
    pod = cluster.one_pod("pinned", crash_looping, "the pinned pod on its hard-coded IRSA role")
    assert {"AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} <= set(env(pod))
    assert "AssumeRoleWithWebIdentity" in cluster.core.read_namespaced_pod_log(pod.metadata.name, "payments")


def test_a_crash_looping_container_backs_off_ten_seconds_doubling_up_to_five_minutes(cluster):
    cluster.clock("pause")
    cluster.trust("ledger", pods_statement("sts:AssumeRole", "sts:TagSession"))  # no OIDC trust: IRSA denied
    cluster.deploy(deployment("ledger", "ledger"))
    back_offs, counts = [], []
    for _ in range(7):
        pod = cluster.one_pod("ledger", crash_looping, "the ledger pod crash-looping")
        status = pod.status.container_statuses[0]
        back_offs.append(status.state.waiting.message.split()[1])
        counts.append(status.restart_count)
        # past the restart (kept to whole simulated seconds), well before the one after it
        cluster.clock("skip", {"minutes": (_seconds(back_offs[-1]) + 1.5) / 60})
    cluster.clock("resume")
    assert back_offs == ["10s", "20s", "40s", "1m20s", "2m40s", "5m0s", "5m0s"]
    assert counts == [0, 1, 2, 3, 4, 5, 6]


def _seconds(duration: str) -> int:
    minutes, _, seconds = duration.rstrip("s").rpartition("m")
    return int(minutes or 0) * 60 + int(seconds)


def test_the_association_quota_is_five_thousand_per_cluster(cluster):
    from eks_sandbox.eks import pod_identity

    described = cluster.eks.describe_cluster(name=CLUSTER)["cluster"]
    with cluster.sandbox.lock:
        state = cluster.sandbox.eks.cluster(ACCOUNT, "us-east-1", described["name"])
        template = pod_identity.PodIdentityAssociation(
            "a-0", "arn", CLUSTER, "bulk", "sa", ROLE.format("ledger"), state.created_at, state.created_at, {}
        )
        for index in range(4999):
            state.pod_identity_associations[f"a-{index}"] = dataclasses.replace(template, id=f"a-{index}")
    cluster.trust("ledger", pods_statement("sts:AssumeRole", "sts:TagSession"))
    cluster.associate("ledger", "ledger")  # the 5,000th
    with pytest.raises(cluster.eks.exceptions.ResourceLimitExceededException):
        cluster.associate("one-more", "ledger")


def test_settling_finishes_what_is_in_flight_while_a_pod_crash_loops(cluster):
    cluster.trust("ledger", pods_statement("sts:AssumeRole", "sts:TagSession"))  # no OIDC trust: IRSA denied
    cluster.deploy(deployment("ledger", "ledger"))
    cluster.one_pod("ledger", crash_looping, "the ledger pod crash-looping")
    cluster.eks.create_addon(clusterName=CLUSTER, addonName="aws-ebs-csi-driver")
    status, answer = sandbox_control(cluster.sandbox.base_url, "POST", "/settle")
    assert (status, answer) == (200, {"settled": True})
    assert (
        cluster.eks.describe_addon(clusterName=CLUSTER, addonName="aws-ebs-csi-driver")["addon"]["status"] == "ACTIVE"
    )
    assert crash_looping(cluster.one_pod("ledger", lambda pod: True, "the ledger pod"))


def test_a_fleet_declaring_an_unknown_sdk_is_refused_naming_it(sandbox, tmp_path):
    from eks_sandbox.fleet import FleetError

    with pytest.raises(FleetError, match="unknown AWS SDK 'boto'"):
        build(sandbox, tmp_path, fleet_with(aws_sdks={OLD_BOTO3: "boto/1.28.0"}))

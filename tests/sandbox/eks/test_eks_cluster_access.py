"""Who gets into a cluster's Kubernetes API, and what they may do there, as on EKS: EKS tokens, access entries and
their access policies, aws-auth per authentication mode, the creator's bootstrap admin, RBAC, kubectl auth."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import assumed_role_credentials, eks_token

POLICY = "arn:aws:eks::aws:cluster-access-policy/"
READER_ROLE = "arn:aws:iam::123456789012:role/readers"
kubectl_required = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


@pytest.fixture(autouse=True)
def readers_role(simulated_fleet) -> str:
    """The IAM role the tests give access to: an access entry's principal must exist, as on EKS."""
    return simulated_fleet.role(READER_ROLE.rpartition("/")[2])


def _call(
    fleet,
    cluster: str,
    path: str,
    token: str,
    method: str = "GET",
    body: dict | None = None,
    headers: dict[str, str] | None = None,
):
    """(status, JSON body) of one request to the cluster's API at the endpoint DescribeCluster reports."""
    endpoint = fleet.eks.describe_cluster(name=cluster)["cluster"]["endpoint"]
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        endpoint + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, context=fleet.sandbox.tls.client_context()) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _as_role(fleet, role_arn: str, cluster: str) -> str:
    """A token for ``cluster`` signed with ``role_arn``'s assumed-role keys (which the sandbox can check)."""
    return eks_token(cluster, fleet.url, assumed_role_credentials(fleet.url, role_arn))


def _grant(fleet, cluster: str, role_arn: str, policy: str, namespaces: list[str] | None = None, **entry) -> None:
    fleet.eks.create_access_entry(clusterName=cluster, principalArn=role_arn, **entry)
    scope = {"type": "namespace", "namespaces": namespaces} if namespaces else {"type": "cluster"}
    fleet.eks.associate_access_policy(
        clusterName=cluster, principalArn=role_arn, policyArn=POLICY + policy, accessScope=scope
    )


def test_a_principal_with_no_access_entry_gets_401(simulated_fleet):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    status, body = _call(simulated_fleet, "prod", "/api/v1/pods", _as_role(simulated_fleet, READER_ROLE, "prod"))
    assert (status, body["reason"], body["message"]) == (401, "Unauthorized", "Unauthorized")


def test_access_taken_away_or_given_applies_to_the_next_request_of_a_principal_already_let_in(simulated_fleet):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    _grant(simulated_fleet, "prod", READER_ROLE, "AmazonEKSViewPolicy")
    token = _as_role(simulated_fleet, READER_ROLE, "prod")
    assert _call(simulated_fleet, "prod", "/api/v1/namespaces/default/pods", token)[0] == 200
    simulated_fleet.eks.disassociate_access_policy(
        clusterName="prod", principalArn=READER_ROLE, policyArn=POLICY + "AmazonEKSViewPolicy"
    )
    assert _call(simulated_fleet, "prod", "/api/v1/namespaces/default/pods", token)[0] == 403
    simulated_fleet.eks.delete_access_entry(clusterName="prod", principalArn=READER_ROLE)
    assert _call(simulated_fleet, "prod", "/api/v1/namespaces/default/pods", token)[0] == 401
    _grant(simulated_fleet, "prod", READER_ROLE, "AmazonEKSAdminViewPolicy")
    assert _call(simulated_fleet, "prod", "/api/v1/secrets", token)[0] == 200


def test_a_token_for_one_cluster_is_refused_by_another(simulated_fleet):
    for name in ("alpha", "beta"):
        simulated_fleet.create_cluster(name, accessConfig={"authenticationMode": "API"})
        _grant(simulated_fleet, name, READER_ROLE, "AmazonEKSClusterAdminPolicy")
    alpha_token = _as_role(simulated_fleet, READER_ROLE, "alpha")
    assert _call(simulated_fleet, "alpha", "/api/v1/pods", alpha_token)[0] == 200
    assert _call(simulated_fleet, "beta", "/api/v1/pods", alpha_token)[0] == 401


def test_an_expired_token_gets_401(simulated_fleet, monkeypatch):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    _grant(simulated_fleet, "prod", READER_ROLE, "AmazonEKSClusterAdminPolicy")
    credentials = assumed_role_credentials(simulated_fleet.url, READER_ROLE)
    # Tokens live 15 minutes after X-Amz-Date on the real clock, whatever the simulated one says.
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: datetime.now(UTC) - timedelta(minutes=16))
    expired = eks_token("prod", simulated_fleet.url, credentials)
    monkeypatch.undo()
    assert _call(simulated_fleet, "prod", "/api/v1/pods", expired)[0] == 401
    assert _call(simulated_fleet, "prod", "/api/v1/pods", eks_token("prod", simulated_fleet.url, credentials))[0] == 200


def test_the_creator_gets_cluster_admin_through_a_visible_access_entry(simulated_fleet):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    creator = "arn:aws:iam::123456789012:user/moto"  # who the tests' plain credentials are
    assert simulated_fleet.eks.list_access_entries(clusterName="prod")["accessEntries"] == [creator]
    policies = simulated_fleet.eks.list_associated_access_policies(clusterName="prod", principalArn=creator)
    assert [p["policyArn"] for p in policies["associatedAccessPolicies"]] == [POLICY + "AmazonEKSClusterAdminPolicy"]
    status, _ = _call(
        simulated_fleet, "prod", "/api/v1/namespaces/default/secrets", eks_token("prod", simulated_fleet.url)
    )
    assert status == 200


def test_without_bootstrap_admin_permissions_the_creator_is_not_let_in(simulated_fleet):
    simulated_fleet.create_cluster(
        "prod", accessConfig={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    )
    assert simulated_fleet.eks.list_access_entries(clusterName="prod")["accessEntries"] == []
    assert _call(simulated_fleet, "prod", "/api/v1/pods", eks_token("prod", simulated_fleet.url))[0] == 401


def test_view_policy_reads_pods_but_not_secrets_and_the_refusal_reads_like_kube_apiserver(simulated_fleet):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    _grant(simulated_fleet, "prod", READER_ROLE, "AmazonEKSViewPolicy")
    token = _as_role(simulated_fleet, READER_ROLE, "prod")
    assert _call(simulated_fleet, "prod", "/api/v1/namespaces/default/pods", token)[0] == 200
    status, body = _call(simulated_fleet, "prod", "/api/v1/namespaces/default/secrets", token)
    assert (status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        'secrets is forbidden: User "arn:aws:sts::123456789012:assumed-role/readers/tests" cannot list resource '
        '"secrets" in API group "" in the namespace "default"'
    )
    status, body = _call(simulated_fleet, "prod", "/api/v1/namespaces/kube-system", token, method="DELETE")
    assert status == 403 and body["message"].startswith('namespaces "kube-system" is forbidden:')
    # Discovery needs authentication only (system:discovery is bound to system:authenticated).
    assert _call(simulated_fleet, "prod", "/apis", token)[0] == 200


def test_admin_view_policy_reads_secrets_too(simulated_fleet):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    _grant(simulated_fleet, "prod", READER_ROLE, "AmazonEKSAdminViewPolicy")
    token = _as_role(simulated_fleet, READER_ROLE, "prod")
    assert _call(simulated_fleet, "prod", "/api/v1/secrets", token)[0] == 200
    assert _call(simulated_fleet, "prod", "/api/v1/namespaces/default/configmaps", token, "POST", {})[0] == 403


def test_a_namespace_scoped_policy_applies_only_in_its_namespaces(simulated_fleet):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    simulated_fleet.kube("prod").apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    _grant(simulated_fleet, "prod", READER_ROLE, "AmazonEKSEditPolicy", namespaces=["team-a"])
    token = _as_role(simulated_fleet, READER_ROLE, "prod")
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}
    assert _call(simulated_fleet, "prod", "/api/v1/namespaces/team-a/configmaps", token, "POST", config_map)[0] == 201
    assert _call(simulated_fleet, "prod", "/api/v1/namespaces/default/configmaps", token, "POST", config_map)[0] == 403
    assert _call(simulated_fleet, "prod", "/api/v1/configmaps", token)[0] == 403  # every namespace: cluster scope


def test_kubernetes_groups_of_an_access_entry_are_bound_by_rbac(simulated_fleet):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    simulated_fleet.eks.create_access_entry(clusterName="prod", principalArn=READER_ROLE, kubernetesGroups=["auditors"])
    token = _as_role(simulated_fleet, READER_ROLE, "prod")
    assert _call(simulated_fleet, "prod", "/api/v1/nodes", token)[0] == 403
    simulated_fleet.kube("prod").apply(_binding("auditors-view", "auditors", "view"))
    assert _call(simulated_fleet, "prod", "/api/v1/namespaces/default/pods", token)[0] == 200


def _binding(name: str, group: str, role: str) -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
    }


def _map_role_in_aws_auth(fleet, cluster: str, role_arn: str, group: str) -> None:
    kube = fleet.kube(cluster)
    mapping = [{"rolearn": role_arn, "username": "reader:{{SessionName}}", "groups": [group]}]
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "aws-auth", "namespace": "kube-system"},
            "data": {"mapRoles": json.dumps(mapping)},
        }
    )
    kube.apply(_binding(f"{group}-view", group, "view"))


def _set_mode(fleet, cluster: str, mode: str) -> None:
    fleet.eks.update_cluster_config(name=cluster, accessConfig={"authenticationMode": mode})
    fleet.sandbox.settle()


def test_moving_config_map_to_api_changes_who_gets_in_and_can_lock_everyone_out(simulated_fleet):
    simulated_fleet.create_cluster("legacy")  # the API's default authentication mode: CONFIG_MAP
    _map_role_in_aws_auth(simulated_fleet, "legacy", READER_ROLE, "readers")
    creator = eks_token("legacy", simulated_fleet.url)
    reader = _as_role(simulated_fleet, READER_ROLE, "legacy")
    # CONFIG_MAP: the aws-auth mapping and the creator's implicit system:masters, which no API shows.
    assert _call(simulated_fleet, "legacy", "/api/v1/namespaces/default/pods", reader)[0] == 200
    assert _call(simulated_fleet, "legacy", "/api/v1/namespaces/default/secrets", reader)[0] == 403
    assert _call(simulated_fleet, "legacy", "/api/v1/secrets", creator)[0] == 200
    _set_mode(simulated_fleet, "legacy", "API_AND_CONFIG_MAP")
    assert simulated_fleet.eks.list_access_entries(clusterName="legacy")["accessEntries"] == []
    assert _call(simulated_fleet, "legacy", "/api/v1/namespaces/default/pods", reader)[0] == 200
    assert _call(simulated_fleet, "legacy", "/api/v1/secrets", creator)[0] == 200
    # API: aws-auth is ignored, and without access entries nobody is let in any more (the lock-out to rehearse).
    _set_mode(simulated_fleet, "legacy", "API")
    assert _call(simulated_fleet, "legacy", "/api/v1/namespaces/default/pods", reader)[0] == 401
    assert _call(simulated_fleet, "legacy", "/api/v1/secrets", creator)[0] == 401


def test_an_aws_auth_mapping_is_ignored_under_api(simulated_fleet):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    _map_role_in_aws_auth(simulated_fleet, "prod", READER_ROLE, "readers")
    assert _call(simulated_fleet, "prod", "/api/v1/pods", _as_role(simulated_fleet, READER_ROLE, "prod"))[0] == 401


def test_the_default_cluster_roles_and_bindings_are_served(simulated_fleet):
    simulated_fleet.create_cluster("prod")
    token = eks_token("prod", simulated_fleet.url)
    _, roles = _call(simulated_fleet, "prod", "/apis/rbac.authorization.k8s.io/v1/clusterroles", token)
    names = {role["metadata"]["name"] for role in roles["items"]}
    assert {"cluster-admin", "admin", "edit", "view", "system:discovery", "system:basic-user"} <= names
    assert "system:public-info-viewer" in names
    _, bindings = _call(simulated_fleet, "prod", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", token)
    by_name = {binding["metadata"]["name"]: binding for binding in bindings["items"]}
    assert by_name["cluster-admin"]["subjects"][0]["name"] == "system:masters"


def _kubeconfig(fleet, cluster: str, token: str, path: Path) -> Path:
    described = fleet.eks.describe_cluster(name=cluster)["cluster"]
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": cluster,
                        "cluster": {
                            "server": described["endpoint"],
                            "certificate-authority-data": described["certificateAuthority"]["data"],
                        },
                    }
                ],
                "users": [{"name": "me", "user": {"token": token}}],
                "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": "me"}}],
                "current-context": cluster,
            }
        )
    )
    return path


def _kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(kubeconfig.parent / "cache"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_rules_review_lists_what_the_access_policy_grants_in_the_namespace_asked(simulated_fleet):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    simulated_fleet.kube("prod").apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    _grant(simulated_fleet, "prod", READER_ROLE, "AmazonEKSEditPolicy", namespaces=["team-a"])
    token = _as_role(simulated_fleet, READER_ROLE, "prod")

    def rules(namespace: str) -> list[dict]:
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview"}
        review["spec"] = {"namespace": namespace}
        path = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
        status, body = _call(simulated_fleet, "prod", path, token, "POST", review)
        assert status == 201, body
        return body["status"]["resourceRules"]

    def verbs(resource_rules: list[dict], resource: str) -> set[str]:
        return {
            verb
            for rule in resource_rules
            if "" in rule.get("apiGroups", []) and resource in rule.get("resources", [])
            for verb in rule["verbs"]
        }

    assert {"create", "delete", "list"} <= verbs(rules("team-a"), "configmaps")
    assert verbs(rules("default"), "configmaps") == set()


def test_the_self_review_names_the_principal_its_groups_and_its_role(simulated_fleet):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    _grant(simulated_fleet, "prod", READER_ROLE, "AmazonEKSViewPolicy", kubernetesGroups=["readers"])
    token = _as_role(simulated_fleet, READER_ROLE, "prod")
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    status, body = _call(
        simulated_fleet, "prod", "/apis/authentication.k8s.io/v1/selfsubjectreviews", token, "POST", review
    )
    assert status == 201, body
    user = body["status"]["userInfo"]
    assert user["username"] == "arn:aws:sts::123456789012:assumed-role/readers/tests"
    assert user["groups"] == ["readers", "system:authenticated"]
    assert user["extra"]["canonicalArn"] == [READER_ROLE]


@pytest.mark.wall_clock  # kubectl checks the sandbox's certificate against the real clock
@kubectl_required
def test_kubectl_auth_can_i_answers_per_the_access_policy(simulated_fleet, tmp_path):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    _grant(simulated_fleet, "prod", READER_ROLE, "AmazonEKSViewPolicy")
    kubeconfig = _kubeconfig(simulated_fleet, "prod", _as_role(simulated_fleet, READER_ROLE, "prod"), tmp_path / "kc")
    listed = _kubectl(kubeconfig, "auth", "can-i", "--list", "-n", "default")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:] if line.strip()}
    assert "list" in rows["pods"] and "delete" not in rows["pods"]
    assert "secrets" not in rows
    assert _kubectl(kubeconfig, "auth", "can-i", "list", "pods").stdout.strip() == "yes"
    assert _kubectl(kubeconfig, "auth", "can-i", "get", "secrets").stdout.strip() == "no"
    assert _kubectl(kubeconfig, "auth", "can-i", "delete", "pods").stdout.strip() == "no"


@pytest.mark.wall_clock  # kubectl checks the sandbox's certificate against the real clock
@kubectl_required
def test_kubectl_auth_whoami_names_the_assumed_role_session(simulated_fleet, tmp_path):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    _grant(simulated_fleet, "prod", READER_ROLE, "AmazonEKSViewPolicy")
    kubeconfig = _kubeconfig(simulated_fleet, "prod", _as_role(simulated_fleet, READER_ROLE, "prod"), tmp_path / "kc")
    whoami = _kubectl(kubeconfig, "auth", "whoami", "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    user = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user["username"] == "arn:aws:sts::123456789012:assumed-role/readers/tests"
    assert user["groups"] == ["system:authenticated"]
    assert user["extra"]["canonicalArn"] == [READER_ROLE]


DEPLOYER = "system:serviceaccount:rehearsal:deployer"


def _rehearsal_namespace_with_a_reading_service_account(fleet, cluster: str) -> None:
    """Namespace rehearsal, service account deployer and a RoleBinding that lets it get and list pods only."""
    kube = fleet.kube(cluster)
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "rehearsal"}})
    rbac = "rbac.authorization.k8s.io"
    kube.apply(
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "Role",
            "metadata": {"name": "reader", "namespace": "rehearsal"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
        }
    )
    kube.apply(
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "deployer-reads", "namespace": "rehearsal"},
            "roleRef": {"apiGroup": rbac, "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "rehearsal"}],
        }
    )


def _may(fleet, cluster: str, token: str, verb: str, headers: dict[str, str]) -> bool:
    """What SelfSubjectAccessReview (``kubectl auth can-i``) answers for ``verb`` on pods in rehearsal."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "resource": "pods", "namespace": "rehearsal"}},
    }
    path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    status, body = _call(fleet, cluster, path, token, "POST", review, headers)
    assert status == 201, body
    return body["status"]["allowed"]


def test_an_admin_impersonating_a_service_account_may_do_only_what_its_bindings_grant(simulated_fleet):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    _rehearsal_namespace_with_a_reading_service_account(simulated_fleet, "prod")
    admin = eks_token("prod", simulated_fleet.url)  # the creator: AmazonEKSClusterAdminPolicy
    as_deployer = {"Impersonate-User": DEPLOYER}
    pods = "/api/v1/namespaces/rehearsal/pods"
    assert _call(simulated_fleet, "prod", pods, admin, headers=as_deployer)[0] == 200
    status, body = _call(simulated_fleet, "prod", pods + "/web", admin, "DELETE", headers=as_deployer)
    assert (status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        f'pods "web" is forbidden: User "{DEPLOYER}" cannot delete resource "pods" in API group "" '
        'in the namespace "rehearsal"'
    )
    assert _call(simulated_fleet, "prod", "/api/v1/namespaces/default/pods", admin, headers=as_deployer)[0] == 403
    assert _may(simulated_fleet, "prod", admin, "get", as_deployer)
    assert not _may(simulated_fleet, "prod", admin, "delete", as_deployer)
    assert _may(simulated_fleet, "prod", admin, "delete", {})  # without the header: the admin itself


def test_a_view_policy_principal_may_not_impersonate_and_the_refusal_names_the_verb(simulated_fleet):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    _grant(simulated_fleet, "prod", READER_ROLE, "AmazonEKSViewPolicy")
    token = _as_role(simulated_fleet, READER_ROLE, "prod")
    reader = "arn:aws:sts::123456789012:assumed-role/readers/tests"
    pods = "/api/v1/namespaces/default/pods"
    status, body = _call(simulated_fleet, "prod", pods, token, headers={"Impersonate-User": "alice"})
    assert (status, body["reason"], body["details"]) == (403, "Forbidden", {"name": "alice", "kind": "users"})
    assert body["message"] == (
        f'users "alice" is forbidden: User "{reader}" cannot impersonate resource "users" in API group "" '
        "at the cluster scope"
    )
    status, body = _call(simulated_fleet, "prod", pods, token, headers={"Impersonate-User": DEPLOYER})
    assert status == 403
    assert body["message"] == (
        f'serviceaccounts "deployer" is forbidden: User "{reader}" cannot impersonate resource "serviceaccounts" '
        'in API group "" in the namespace "rehearsal"'
    )


def test_the_edit_policy_impersonates_service_accounts_of_its_namespaces_but_no_user(simulated_fleet):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    _rehearsal_namespace_with_a_reading_service_account(simulated_fleet, "prod")
    # AmazonEKSEditPolicy holds the edit role's rules, which include impersonate on serviceaccounts.
    _grant(simulated_fleet, "prod", READER_ROLE, "AmazonEKSEditPolicy", namespaces=["rehearsal"])
    token = _as_role(simulated_fleet, READER_ROLE, "prod")
    pods = "/api/v1/namespaces/rehearsal/pods"
    assert _call(simulated_fleet, "prod", pods, token, headers={"Impersonate-User": DEPLOYER})[0] == 200
    other_namespace = "system:serviceaccount:default:builder"
    assert _call(simulated_fleet, "prod", pods, token, headers={"Impersonate-User": other_namespace})[0] == 403
    assert _call(simulated_fleet, "prod", pods, token, headers={"Impersonate-User": "alice"})[0] == 403


def test_the_self_review_under_impersonation_names_the_impersonated_user_and_its_groups(simulated_fleet):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    admin = eks_token("prod", simulated_fleet.url)
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"

    def whoami(headers: dict[str, str]) -> dict:
        status, body = _call(simulated_fleet, "prod", path, admin, "POST", review, headers)
        assert status == 201, body
        return body["status"]["userInfo"]

    assert whoami({"Impersonate-User": "alice", "Impersonate-Group": "developers"}) == {
        "username": "alice",
        "groups": ["developers", "system:authenticated"],
    }
    assert whoami({"Impersonate-User": DEPLOYER}) == {
        "username": DEPLOYER,
        "groups": ["system:serviceaccounts", "system:serviceaccounts:rehearsal", "system:authenticated"],
    }
    assert whoami({})["username"] == "arn:aws:iam::123456789012:user/moto"


@pytest.mark.wall_clock  # kubectl checks the sandbox's certificate against the real clock
@kubectl_required
def test_kubectl_auth_can_i_as_a_service_account_answers_per_its_binding(simulated_fleet, tmp_path):
    simulated_fleet.create_cluster("prod", accessConfig={"authenticationMode": "API"})
    _rehearsal_namespace_with_a_reading_service_account(simulated_fleet, "prod")
    kubeconfig = _kubeconfig(simulated_fleet, "prod", eks_token("prod", simulated_fleet.url), tmp_path / "kc")
    as_deployer = ("-n", "rehearsal", f"--as={DEPLOYER}")
    assert _kubectl(kubeconfig, "auth", "can-i", "get", "pods", *as_deployer).stdout.strip() == "yes"
    assert _kubectl(kubeconfig, "auth", "can-i", "delete", "pods", *as_deployer).stdout.strip() == "no"
    assert _kubectl(kubeconfig, "auth", "can-i", "delete", "pods", "-n", "rehearsal").stdout.strip() == "yes"

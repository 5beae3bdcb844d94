"""RBAC as kube-apiserver evaluates it: requests described as its RequestInfo does, rules matched as rbac/v1 does."""

from __future__ import annotations

import http.client
import json
import urllib.error
from urllib.parse import urlsplit

import pytest

from eks_sandbox.kube.impersonation import impersonation_requests
from eks_sandbox.kube.rbac import RequestAttributes, request_attributes, rule_allows


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/v1/pods", RequestAttributes("list", "/api/v1/pods", True, "", "pods")),
        (
            "GET",
            "/api/v1/namespaces/default/pods/web",
            RequestAttributes("get", "/api/v1/namespaces/default/pods/web", True, "", "pods", "", "default", "web"),
        ),
        (
            "POST",
            "/api/v1/namespaces/default/pods/web/eviction",
            RequestAttributes(
                "create", "/api/v1/namespaces/default/pods/web/eviction", True, "", "pods", "eviction", "default", "web"
            ),
        ),
        (
            "PUT",
            "/api/v1/namespaces/team/status",
            RequestAttributes(
                "update", "/api/v1/namespaces/team/status", True, "", "namespaces", "status", "team", "team"
            ),
        ),
        (
            "DELETE",
            "/apis/apps/v1/namespaces/default/deployments",
            RequestAttributes(
                "deletecollection",
                "/apis/apps/v1/namespaces/default/deployments",
                True,
                "apps",
                "deployments",
                "",
                "default",
            ),
        ),
        ("GET", "/apis/apps/v1", RequestAttributes("get", "/apis/apps/v1")),
        ("GET", "/version", RequestAttributes("get", "/version")),
    ],
)
def test_requests_are_described_as_kube_apiserver_describes_them(method, path, expected):
    assert request_attributes(method, path) == expected


def test_rules_match_subresources_names_and_non_resource_urls():
    scale = request_attributes("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale")
    assert rule_allows({"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["patch"]}, scale)
    assert not rule_allows({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}, scale)
    named = {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["*"], "resourceNames": ["api"]}
    assert not rule_allows(named, scale)
    assert rule_allows({"nonResourceURLs": ["/apis/*"], "verbs": ["get"]}, request_attributes("GET", "/apis/apps"))
    assert not rule_allows({"nonResourceURLs": ["/api"], "verbs": ["get"]}, request_attributes("GET", "/apis"))


def test_a_role_binding_grants_only_in_its_namespace(kube):
    kube.cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "reader", "namespace": "kube-public"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
        }
    )
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "reader", "namespace": "kube-public"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "test-admin"}],
    }
    kube.cluster.apply(binding)
    # The fixture's user is in system:masters: take it out to see the binding alone.
    kube.cluster.delete("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "cluster-admin")
    with kube.open("/api/v1/namespaces/kube-public/configmaps") as response:
        assert response.status == 200
    with pytest.raises(urllib.error.HTTPError) as refused:
        kube.open("/api/v1/namespaces/default/configmaps").close()
    status = json.load(refused.value)
    assert (refused.value.code, status["reason"]) == (403, "Forbidden")
    assert status["message"] == (
        'configmaps is forbidden: User "test-admin" cannot list resource "configmaps" in API group "" '
        'in the namespace "default"'
    )


def _bind_cluster_role(kube, role: str, subject_kind: str, subject: str) -> None:
    """Bind the ClusterRole ``role`` to one User or Group, cluster-wide."""
    rbac = "rbac.authorization.k8s.io"
    kube.cluster.apply(
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{role}-{subject}".replace(":", "-")},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": rbac, "kind": subject_kind, "name": subject}],
        }
    )


def _whoami(kube, headers: list[tuple[str, str]]) -> tuple[int, dict]:
    """(status, body) of a SelfSubjectReview sent with ``headers``, repeated names sent as separate lines."""
    url = urlsplit(kube.url)
    connection = http.client.HTTPSConnection(url.hostname, url.port, context=kube.ssl_context)
    body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode()
    connection.putrequest("POST", url.path + "/apis/authentication.k8s.io/v1/selfsubjectreviews")
    for name, value in [
        ("Authorization", f"Bearer {kube.token}"),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        *headers,
    ]:
        connection.putheader(name, value)
    connection.endheaders(body)
    response = connection.getresponse()
    try:
        return response.status, json.load(response)
    finally:
        connection.close()


def test_impersonation_sets_the_user_its_groups_uid_and_extras_as_sent(kube):
    status, body = _whoami(
        kube,
        [
            ("Impersonate-User", "alice"),
            ("Impersonate-Group", "developers"),
            ("Impersonate-Group", "on-call"),
            ("Impersonate-Uid", "1234"),
            ("Impersonate-Extra-Reason%2FTicket", "INC-7"),
            ("impersonate-extra-reason%2fticket", "INC-8"),
        ],
    )
    assert status == 201, body
    assert body["status"]["userInfo"] == {
        "username": "alice",
        "uid": "1234",
        "groups": ["developers", "on-call", "system:authenticated"],
        "extra": {"reason/ticket": ["INC-7", "INC-8"]},
    }


@pytest.mark.parametrize(
    ("headers", "groups"),
    [
        ([("Impersonate-User", "system:anonymous")], ["system:unauthenticated"]),
        ([("Impersonate-User", "bob"), ("Impersonate-Group", "system:unauthenticated")], ["system:unauthenticated"]),
        # Not a valid service account name: an ordinary user of that name, with no service account groups.
        ([("Impersonate-User", "system:serviceaccount:Team:x")], ["system:authenticated"]),
        (
            [("Impersonate-User", "system:serviceaccount:team:builder"), ("Impersonate-Group", "builders")],
            ["builders", "system:authenticated"],
        ),
    ],
)
def test_impersonated_groups_follow_kube_apiserver(kube, headers, groups):
    # Only authenticated users may ask who they are by default: let the unauthenticated ones ask too.
    _bind_cluster_role(kube, "system:basic-user", "Group", "system:unauthenticated")
    status, body = _whoami(kube, headers)
    assert status == 201, body
    assert body["status"]["userInfo"]["groups"] == groups


def test_groups_uid_or_extras_without_a_user_are_a_bad_request(kube):
    status, body = _whoami(kube, [("Impersonate-Group", "developers"), ("Impersonate-Uid", "1234")])
    assert (status, body["reason"]) == (400, "BadRequest")
    assert body["message"] == (
        "requested [{Group  developers    } {UID  1234  authentication.k8s.io/v1  }] without impersonating a user"
    )


def test_each_impersonated_attribute_needs_its_own_permission(kube):
    rbac = "rbac.authorization.k8s.io"
    kube.cluster.apply(
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "impersonate-users"},
            "rules": [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]}],
        }
    )
    _bind_cluster_role(kube, "impersonate-users", "User", "test-admin")
    kube.cluster.delete(f"{rbac}/v1", "ClusterRoleBinding", "cluster-admin")
    assert _whoami(kube, [("Impersonate-User", "alice")])[0] == 201
    status, body = _whoami(kube, [("Impersonate-User", "alice"), ("Impersonate-Extra-Reason", "INC-7")])
    assert (status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        'userextras.authentication.k8s.io "INC-7" is forbidden: User "test-admin" cannot impersonate resource '
        '"userextras/reason" in API group "authentication.k8s.io" at the cluster scope'
    )
    status, body = _whoami(kube, [("Impersonate-User", "alice"), ("Impersonate-Group", "developers")])
    assert status == 403 and body["message"].startswith('groups "developers" is forbidden: User "test-admin" cannot')
    status, body = _whoami(kube, [("Impersonate-User", "alice"), ("Impersonate-Uid", "1234")])
    assert status == 403 and body["message"].startswith('uids.authentication.k8s.io "1234" is forbidden:')


def test_an_extra_key_is_percent_decoded_unless_an_escape_is_malformed():
    requests = impersonation_requests(
        [("Impersonate-User", "alice"), ("Impersonate-Extra-Scope%2FTeam", "a"), ("Impersonate-Extra-Bad%zz", "b")]
    )
    assert [(request.kind, request.extra_key, request.name) for request in requests] == [
        ("User", "", "alice"),
        ("UserExtra", "scope/team", "a"),
        ("UserExtra", "bad%zz", "b"),
    ]
    assert impersonation_requests([("Accept", "application/json")]) == []

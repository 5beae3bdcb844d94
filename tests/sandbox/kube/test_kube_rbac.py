"""RBAC as kube-apiserver evaluates it: requests described as its RequestInfo does, rules matched as rbac/v1 does."""

from __future__ import annotations

import json
import urllib.error

import pytest

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

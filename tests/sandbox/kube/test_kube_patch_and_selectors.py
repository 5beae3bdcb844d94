"""Patch formats and selectors on plain dicts: the semantics clients rely on, without a server."""

from __future__ import annotations

import pytest

from eks_sandbox.kube.errors import KubeApiError
from eks_sandbox.kube.patch import json_patch, merge_patch, strategic_merge_patch
from eks_sandbox.kube.selectors import parse_field_selector, parse_label_selector

POD_SPEC = {
    "containers": [
        {
            "name": "app",
            "image": "app:1",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        },
        {"name": "sidecar", "image": "envoy:1.30"},
    ],
    "tolerations": [{"key": "a", "operator": "Exists"}],
}


def test_strategic_merge_patch_merges_containers_env_and_ports_by_key():
    patched = strategic_merge_patch(
        POD_SPEC,
        {
            "containers": [
                {
                    "name": "app",
                    "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                    "ports": [{"containerPort": 9090}],
                },
            ]
        },
    )
    app, sidecar = patched["containers"]
    assert app["image"] == "app:1" and sidecar == POD_SPEC["containers"][1]
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]
    assert [p["containerPort"] for p in app["ports"]] == [8080, 9090]
    assert POD_SPEC["containers"][0]["env"][1]["value"] == "2", "the target must not be modified in place"


def test_strategic_merge_patch_directives_and_lists_without_merge_key():
    patched = strategic_merge_patch(
        POD_SPEC,
        {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [{"name": "sidecar", "$patch": "delete"}],
            "tolerations": [{"key": "b", "operator": "Exists"}],
        },
    )
    assert [c["name"] for c in patched["containers"]] == ["app"]
    assert patched["tolerations"] == [{"key": "b", "operator": "Exists"}]
    assert strategic_merge_patch({"a": {"x": 1, "y": 2}}, {"a": {"$patch": "replace", "z": 3}}) == {"a": {"z": 3}}


def test_merge_patch_replaces_lists_and_null_deletes():
    patched = merge_patch(POD_SPEC, {"containers": [{"name": "app", "image": "app:2"}], "tolerations": None})
    assert patched == {"containers": [{"name": "app", "image": "app:2"}]}


def test_json_patch_operations():
    document = {"spec": {"replicas": 1, "items": ["a", "b"]}, "metadata": {"labels": {"x/y": "1"}}}
    patched = json_patch(
        document,
        [
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/spec/items/-", "value": "c"},
            {"op": "remove", "path": "/metadata/labels/x~1y"},
            {"op": "test", "path": "/spec/items/0", "value": "a"},
            {"op": "copy", "from": "/spec/replicas", "path": "/spec/copied"},
        ],
    )
    assert patched == {"spec": {"replicas": 3, "items": ["a", "b", "c"], "copied": 3}, "metadata": {"labels": {}}}
    with pytest.raises(KubeApiError) as failed:
        json_patch(document, [{"op": "test", "path": "/spec/replicas", "value": 2}])
    assert failed.value.code == 422


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("app=web", True),
        ("app==web,tier!=db", True),
        ("app in (web, api),tier notin (db)", True),
        ("tier", True),
        ("!canary", True),
        ("canary", False),
        ("app notin (web)", False),
        ("", True),
    ],
)
def test_label_selector_operators(selector: str, matches: bool):
    assert parse_label_selector(selector)({"app": "web", "tier": "frontend"}) is matches


def test_field_selector_compares_missing_fields_as_empty_and_booleans_as_words():
    node = {"metadata": {"name": "n1"}, "spec": {"unschedulable": True}}
    assert parse_field_selector("metadata.name=n1,spec.unschedulable=true")(node)
    assert parse_field_selector("spec.providerID=")(node)
    assert not parse_field_selector("metadata.name!=n1")(node)
    with pytest.raises(KubeApiError):
        parse_field_selector("metadata.name")

"""Patch formats and selectors on plain dicts: the semantics clients rely on, without a server."""

from __future__ import annotations

import pytest

from eks_sandbox.kube.errors import KubeApiError
from eks_sandbox.kube.managed_fields import field_set
from eks_sandbox.kube.patch import (
    json_patch,
    json_patch_fields,
    merge_patch,
    merge_patch_fields,
    strategic_merge_patch,
    strategic_merge_patch_fields,
)
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


def test_a_merge_patch_sends_its_fields_but_not_the_ones_it_deletes():
    sent = merge_patch_fields({"metadata": {"labels": {"a": None, "b": "2"}, "annotations": {"c": None}}})
    assert sent == {"metadata": {"labels": {"b": "2"}}}


def test_a_strategic_merge_patch_sends_its_fields_without_directives_or_deleted_items():
    patch = {
        "$setElementOrder/containers": [{"name": "app"}],
        "$retainKeys": ["containers"],
        "containers": [{"name": "app", "image": "app:2"}, {"name": "sidecar", "$patch": "delete"}],
        "tolerations": [{"key": "b", "operator": "Exists"}],
        "securityContext": {"$patch": "replace", "runAsUser": 1000},
        "affinity": {"$patch": "delete"},
        "dnsConfig": None,
    }
    assert strategic_merge_patch_fields(patch) == {
        "containers": [{"name": "app", "image": "app:2"}],
        "tolerations": [{"key": "b", "operator": "Exists"}],
        "securityContext": {"runAsUser": 1000},
    }


def test_a_json_patch_sends_the_paths_it_adds_or_replaces():
    operations = [
        {"op": "replace", "path": "/spec/containers/0/image", "value": "app:2"},
        {"op": "add", "path": "/spec/containers/-", "value": {"name": "proxy", "image": "envoy:1.31"}},
        {"op": "add", "path": "/spec/tolerations/0", "value": {"key": "c", "operator": "Exists"}},
        {"op": "remove", "path": "/spec/containers/1/env"},
        {"op": "test", "path": "/spec/containers/1/name", "value": "sidecar"},
        {"op": "copy", "from": "/metadata/labels/x~1y", "path": "/metadata/labels/z"},
    ]
    document = {"metadata": {"labels": {"x/y": "1"}}, "spec": {**POD_SPEC, "containers": [*POD_SPEC["containers"]]}}
    document["spec"]["containers"][1] = {**document["spec"]["containers"][1], "env": []}
    patched = json_patch(document, operations)
    sent = json_patch_fields(operations, patched)
    assert sent == {
        "metadata": {"labels": {"z": "1"}},
        "spec": {
            # Items of a list keyed by name are owned one by one; a list without names is owned whole.
            "containers": [{"name": "app", "image": "app:2"}, {"name": "proxy", "image": "envoy:1.31"}],
            "tolerations": patched["spec"]["tolerations"],
        },
    }
    assert field_set(sent)["f:spec"]["f:containers"]['k:{"name":"app"}'] == {".": {}, "f:name": {}, "f:image": {}}
    # A path a later operation removed again is not sent.
    added_then_removed = [
        {"op": "add", "path": "/spec/containers/2", "value": {"name": "debug", "image": "busybox"}},
        {"op": "remove", "path": "/spec/containers/2"},
        {"op": "add", "path": "/metadata/annotations", "value": {"a": "1"}},
        {"op": "remove", "path": "/metadata/annotations"},
    ]
    assert json_patch_fields(added_then_removed, json_patch(document, added_then_removed)) == {}


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

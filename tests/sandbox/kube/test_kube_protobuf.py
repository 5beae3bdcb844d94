"""Protobuf request bodies (kubectl 1.32+'s reviews), built here as client-go's generated marshallers write them.

go-to-protobuf's Marshal writes every non-pointer field, empty strings included, and pointer fields (an
Eviction's ``gracePeriodSeconds``) only when set; the envelope is ``k8s\\x00`` + runtime.Unknown.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from kubernetes import client

from eks_sandbox.kube.protobuf import MAGIC, ProtobufError, UnknownKind, decode

PROTOBUF = "application/vnd.kubernetes.protobuf"


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64s are sent as their two's complement
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, value: int | str | bytes) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def envelope(api_version: str, kind: str, raw: bytes, content_encoding: str = "") -> bytes:
    type_meta = field(1, api_version) + field(2, kind)
    return MAGIC + field(1, type_meta) + field(2, raw) + field(3, content_encoding) + field(4, "")


def object_meta(name: str = "", namespace: str = "") -> bytes:
    """ObjectMeta as Go writes an unset one: its strings empty, creationTimestamp (8) an empty Time."""
    return field(1, name) + field(2, "") + field(3, namespace) + field(5, "") + field(6, "") + field(8, b"")


def resource_attributes(namespace: str, verb: str, group: str, version: str, resource: str) -> bytes:
    return (
        field(1, namespace) + field(2, verb) + field(3, group) + field(4, version) + field(5, resource)
        + field(6, "") + field(7, "")
    )  # fmt: skip


def self_subject_access_review(namespace: str, verb: str, resource: str) -> bytes:
    spec = field(1, resource_attributes(namespace, verb, "", "", resource))
    status = field(1, 0) + field(2, 0) + field(3, "") + field(4, "")  # allowed, denied, reason, evaluationError
    raw = field(1, object_meta()) + field(2, spec) + field(3, status)
    return envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", raw)


def test_a_self_subject_access_review_decodes_to_its_json_fields():
    assert decode(self_subject_access_review("payments", "list", "pods")) == {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {},
        "spec": {"resourceAttributes": {"namespace": "payments", "verb": "list", "resource": "pods"}},
    }


def test_non_resource_attributes_and_selector_attributes_are_read():
    requirement = field(1, "app") + field(2, "In") + field(3, "api") + field(3, "web")
    attributes = field(2, "list") + field(5, "pods") + field(9, field(2, requirement))
    spec = field(1, attributes) + field(2, field(1, "/healthz") + field(2, "get"))
    decoded = decode(envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", field(2, spec)))
    assert decoded["spec"] == {
        "resourceAttributes": {
            "verb": "list",
            "resource": "pods",
            "labelSelector": {"requirements": [{"key": "app", "operator": "In", "values": ["api", "web"]}]},
        },
        "nonResourceAttributes": {"path": "/healthz", "verb": "get"},
    }


def test_a_rules_review_and_a_self_subject_review_decode():
    rules = envelope(
        "authorization.k8s.io/v1", "SelfSubjectRulesReview", field(1, object_meta()) + field(2, field(1, "payments"))
    )
    assert decode(rules)["spec"] == {"namespace": "payments"}
    who = decode(envelope("authentication.k8s.io/v1", "SelfSubjectReview", field(1, object_meta()) + field(2, b"")))
    assert who == {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1", "metadata": {}}


def test_an_evictions_pointer_fields_keep_their_zero_values_and_int64s_their_sign():
    preconditions = field(1, "uid-1")
    options = field(1, 0) + field(2, preconditions) + field(3, 0) + field(4, "Foreground") + field(5, "All")
    label = field(1, "app") + field(2, "api")
    meta = field(1, "api-0") + field(3, "payments") + field(11, label) + field(12, field(1, "note"))
    decoded = decode(envelope("policy/v1", "Eviction", field(1, meta) + field(2, options)))
    assert decoded["metadata"] == {
        "name": "api-0",
        "namespace": "payments",
        "labels": {"app": "api"},
        "annotations": {"note": ""},
    }
    assert decoded["deleteOptions"] == {
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": "uid-1"},
        "orphanDependents": False,
        "propagationPolicy": "Foreground",
        "dryRun": ["All"],
    }
    negative = decode(envelope("policy/v1", "Eviction", field(2, field(1, -1))))
    assert negative["deleteOptions"] == {"gracePeriodSeconds": -1}


def test_unknown_fields_of_every_wire_type_are_skipped():
    fixed64 = varint(20 << 3 | 1) + bytes(8)
    fixed32 = varint(21 << 3 | 5) + bytes(4)
    spec = field(1, "payments") + field(19, 7) + field(22, b"nested") + fixed64 + fixed32
    decoded = decode(envelope("authorization.k8s.io/v1", "SelfSubjectRulesReview", field(2, spec) + field(9, 1)))
    assert decoded["spec"] == {"namespace": "payments"}


def test_a_kind_the_decoder_does_not_know_is_named():
    with pytest.raises(UnknownKind) as raised:
        decode(envelope("v1", "Pod", field(1, object_meta("api-0"))))
    assert (raised.value.api_version, raised.value.kind) == ("v1", "Pod")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"kind": "Pod"}', "expected prefix [107 56 115 0]"),
        (MAGIC + field(2, b"abc")[:-1], "runs past the end"),
        (MAGIC + b"\x0a\xff", "varint"),
        (MAGIC + varint(1 << 3 | 3), "unsupported wire type 3"),
        (envelope("policy/v1", "Eviction", field(2, field(1, "30"))), "wrong wire type 2"),
        (envelope("policy/v1", "Eviction", field(1, field(1, b"\xff"))), "invalid UTF-8"),
        (envelope("policy/v1", "Eviction", b"", content_encoding="gzip"), "content encoding"),
    ],
)
def test_malformed_bodies_are_refused(body: bytes, message: str):
    with pytest.raises(ProtobufError, match=message.replace("[", r"\[").replace("]", r"\]")):
        decode(body)


def post(kube, path: str, body: bytes) -> tuple[int, dict]:
    headers = {
        "Authorization": f"Bearer {kube.token}",
        "Content-Type": PROTOBUF,
        "Accept": f"{PROTOBUF}, application/json",
    }
    request = urllib.request.Request(kube.url + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, context=kube.ssl_context) as response:
            assert response.headers["Content-Type"] == "application/json"  # a JSON answer: the Accept lists it
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_the_api_answers_a_protobuf_access_review_in_json(kube):
    status, answer = post(
        kube, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", self_subject_access_review("", "list", "pods")
    )
    assert status == 201
    assert answer["status"]["allowed"] is True
    assert answer["spec"]["resourceAttributes"] == {"verb": "list", "resource": "pods"}


def test_a_protobuf_eviction_evicts_the_pod(kube, api_client):
    core = client.CoreV1Api(api_client)
    pod = {"metadata": {"name": "api-0"}, "spec": {"containers": [{"name": "api", "image": "nginx"}]}}
    core.create_namespaced_pod("default", pod)
    eviction = envelope("policy/v1", "Eviction", field(1, object_meta("api-0", "default")) + field(2, field(1, 0)))
    status, answer = post(kube, "/api/v1/namespaces/default/pods/api-0/eviction", eviction)
    assert (status, answer["status"]) == (201, "Success")
    assert "api-0" not in {
        item.metadata.name for item in core.list_namespaced_pod("default").items if not item.metadata.deletion_timestamp
    }


def test_a_protobuf_body_of_another_kind_answers_415_naming_the_accepted_types(kube):
    status, answer = post(
        kube, "/api/v1/namespaces/default/configmaps", envelope("v1", "ConfigMap", field(1, object_meta("c")))
    )
    assert status == 415
    assert answer["reason"] == "UnsupportedMediaType"
    assert "accepted media types include: application/json, application/yaml" in answer["message"]


def test_a_body_that_is_not_protobuf_is_a_bad_request(kube):
    status, answer = post(kube, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", b"{}")
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert "does not appear to be a protobuf message" in answer["message"]

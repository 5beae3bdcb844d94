"""Protobuf request bodies (kubectl 1.32+'s typed commands), built here as client-go's generated marshallers write them.

go-to-protobuf's Marshal writes every non-pointer field, empty strings, zero ints and empty messages included, and
pointer fields (a Deployment's ``replicas``, an Eviction's ``gracePeriodSeconds``) only when set; the envelope is
``k8s\\x00`` + runtime.Unknown. The decoded dicts are what encoding/json gives for the same Go object.
"""

from __future__ import annotations

import base64
import json
import struct
import urllib.error
import urllib.request

import pytest
import yaml
from kubernetes import client

from eks_sandbox.kube.protobuf import MAGIC, ProtobufError, UnknownKind, decode, go_duration, schemas
from eks_sandbox.kube.resources import CATALOGUE_PATH

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


def entry(number: int, key: str, value: str | bytes) -> bytes:
    """One entry of a map field: a message {1 key, 2 value}."""
    return field(number, field(1, key) + field(2, value))


def object_meta(name: str = "", namespace: str = "", labels: dict[str, str] | None = None) -> bytes:
    """ObjectMeta as Go writes it: strings (selfLink 4 too) and generation (7) even when empty, creationTimestamp (8)
    an empty Time, the pointers (deletionTimestamp 9, deletionGracePeriodSeconds 10) only when set."""
    strings = field(1, name) + field(2, "") + field(3, namespace) + field(4, "") + field(5, "") + field(6, "")
    return strings + field(7, 0) + field(8, b"") + b"".join(entry(11, k, v) for k, v in (labels or {}).items())


def int_or_string(value: int | str) -> bytes:
    """intstr.IntOrString {1 type, 2 intVal, 3 strVal}: Go writes all three."""
    if isinstance(value, int):
        return field(1, 0) + field(2, value) + field(3, "")
    return field(1, 1) + field(2, 0) + field(3, value)


def resource_attributes(namespace: str, verb: str, group: str, version: str, resource: str) -> bytes:
    return (
        field(1, namespace) + field(2, verb) + field(3, group) + field(4, version) + field(5, resource)
        + field(6, "") + field(7, "")
    )  # fmt: skip


def self_subject_access_review(namespace: str, verb: str, resource: str) -> bytes:
    spec = field(1, resource_attributes(namespace, verb, "", "", resource))
    status = field(1, 0) + field(4, 0) + field(2, "") + field(3, "")  # allowed, denied, reason, evaluationError
    raw = field(1, object_meta()) + field(2, spec) + field(3, status)
    return envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", raw)


def test_a_self_subject_access_review_decodes_to_its_json_fields():
    assert decode(self_subject_access_review("payments", "list", "pods")) == {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": {"resourceAttributes": {"namespace": "payments", "verb": "list", "resource": "pods"}},
        "status": {"allowed": False},  # allowed has no omitempty: encoding/json sends its false
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
    user_info = field(1, "") + field(2, "")  # UserInfo {1 username, 2 uid, 3 groups, 4 extra}
    raw = field(1, object_meta()) + field(2, field(1, user_info))
    who = decode(envelope("authentication.k8s.io/v1", "SelfSubjectReview", raw))
    assert who == {
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "status": {"userInfo": {}},
    }


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
        decode(envelope("example.com/v1", "Widget", field(1, object_meta("w"))))
    assert (raised.value.api_version, raised.value.kind) == ("example.com/v1", "Widget")


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


def container_port(port: int, name: str = "") -> bytes:
    """ContainerPort {1 name, 2 hostPort, 3 containerPort, 4 protocol, 5 hostIP}, every field written."""
    return field(1, name) + field(2, 0) + field(3, port) + field(4, "TCP") + field(5, "")


def http_probe(path: str, port: int | str, initial_delay: int) -> bytes:
    """Probe {1 handler (ProbeHandler, inline in JSON) {2 httpGet {1 path, 2 port, 3 host, 4 scheme}}, 2..6 ints}."""
    http_get = field(1, path) + field(2, int_or_string(port)) + field(3, "") + field(4, "HTTP")
    return (
        field(1, field(2, http_get)) + field(2, initial_delay) + field(3, 0) + field(4, 10) + field(5, 0) + field(6, 0)
    )


def container() -> bytes:
    """Container: name, image, ports, env (7), resources (8: limits 1 / requests 2, Quantities), probes (10, 11)."""
    env = field(7, field(1, "MODE") + field(2, "blue")) + field(7, field(1, "EMPTY") + field(2, ""))
    limits = field(1, field(1, "cpu") + field(2, field(1, "500m")))
    requests = field(2, field(1, "memory") + field(2, field(1, "128Mi")))
    return (
        field(1, "web") + field(2, "nginx:1.27") + field(5, "") + field(6, container_port(8080, "http")) + env
        + field(8, limits + requests) + field(10, http_probe("/healthz", 8080, 5))
        + field(11, http_probe("/ready", "http", 0)) + field(13, "") + field(14, "IfNotPresent")
        + field(16, 0) + field(17, 0) + field(18, 0)
    )  # fmt: skip


def deployment(replicas: int) -> bytes:
    """apps/v1 Deployment {1 metadata, 2 spec {1 replicas*, 2 selector*, 3 template, 4 strategy, 5, 7}, 3 status}."""
    labels = {"app": "web"}
    pod_spec = field(2, container()) + field(3, "Always") + field(6, "ClusterFirst") + field(11, 0)
    template = field(1, object_meta(labels=labels)) + field(2, pod_spec)
    selector = entry(1, "app", "web")
    spec = field(1, replicas) + field(2, selector) + field(3, template) + field(4, b"") + field(5, 0) + field(7, 0)
    status = field(1, 0) + field(2, 0) + field(3, 0)
    raw = field(1, object_meta("web", "payments", labels)) + field(2, spec) + field(3, status)
    return envelope("apps/v1", "Deployment", raw)


def test_a_deployment_with_a_full_pod_template_decodes_as_its_json():
    decoded = decode(deployment(2))
    assert decoded["metadata"] == {
        "name": "web",
        "namespace": "payments",
        "creationTimestamp": None,
        "labels": {"app": "web"},
    }
    assert decoded["status"] == {}  # zero omitempty ints are left out, as encoding/json leaves them out
    spec = decoded["spec"]
    assert {key: spec[key] for key in ("replicas", "selector", "strategy")} == {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {},
    }
    assert "minReadySeconds" not in spec and "paused" not in spec
    pod = spec["template"]
    assert pod["metadata"] == {"creationTimestamp": None, "labels": {"app": "web"}}
    assert pod["spec"] == {
        "containers": [
            {
                "name": "web",
                "image": "nginx:1.27",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "MODE", "value": "blue"}, {"name": "EMPTY"}],
                "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "128Mi"}},
                "livenessProbe": {
                    "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                    "initialDelaySeconds": 5,
                    "periodSeconds": 10,
                },
                "readinessProbe": {
                    "httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP"},
                    "periodSeconds": 10,
                },
                "imagePullPolicy": "IfNotPresent",
            }
        ],
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
    }


def test_zero_replicas_survive_because_replicas_is_a_pointer():
    assert decode(deployment(0))["spec"]["replicas"] == 0


def test_a_secrets_data_bytes_are_base64_as_in_json():
    raw = field(1, object_meta("db", "payments")) + entry(2, "password", b"s3cr\x00t\xff") + field(3, "Opaque")
    decoded = decode(envelope("v1", "Secret", raw))
    assert decoded["data"] == {"password": base64.b64encode(b"s3cr\x00t\xff").decode()}
    assert decoded["type"] == "Opaque"
    assert "immutable" not in decoded  # a nil pointer is not on the wire


def test_a_role_binding_decodes_with_its_subjects_and_role_ref():
    alice = field(1, "User") + field(2, "rbac.authorization.k8s.io") + field(3, "alice") + field(4, "")
    robot = field(1, "ServiceAccount") + field(2, "") + field(3, "deployer") + field(4, "payments")
    role_ref = field(1, "rbac.authorization.k8s.io") + field(2, "Role") + field(3, "reader")
    raw = field(1, object_meta("readers", "payments")) + field(2, alice) + field(2, robot) + field(3, role_ref)
    decoded = decode(envelope("rbac.authorization.k8s.io/v1", "RoleBinding", raw))
    assert decoded["subjects"] == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
        {"kind": "ServiceAccount", "name": "deployer", "namespace": "payments"},
    ]
    assert decoded["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}


def test_a_services_target_ports_are_an_int_or_a_name():
    def port(name: str, number: int, target: int | str) -> bytes:
        return field(1, name) + field(2, "TCP") + field(3, number) + field(4, int_or_string(target)) + field(5, 0)

    spec = field(1, port("http", 80, "web")) + field(1, port("https", 443, 8443)) + entry(2, "app", "web")
    spec += field(3, "") + field(4, "ClusterIP") + field(7, "None") + field(12, 0) + field(13, 0)
    raw = field(1, object_meta("web", "payments")) + field(2, spec) + field(3, field(1, b""))
    decoded = decode(envelope("v1", "Service", raw))
    assert decoded["spec"] == {
        "ports": [
            {"name": "http", "protocol": "TCP", "port": 80, "targetPort": "web"},
            {"name": "https", "protocol": "TCP", "port": 443, "targetPort": 8443},
        ],
        "selector": {"app": "web"},
        "type": "ClusterIP",
        "sessionAffinity": "None",
    }
    assert decoded["status"] == {"loadBalancer": {}}


def test_times_are_rfc3339_in_utc_and_gos_zero_time_is_null():
    go_zero = field(1, -62135596800)
    meta = field(1, "lease") + field(8, field(1, 1764720000) + field(2, 999)) + field(9, go_zero)
    renew = field(1, 1764720000) + field(2, 123456789)
    spec = field(1, "node-a") + field(2, 40) + field(3, b"") + field(4, renew)
    decoded = decode(envelope("coordination.k8s.io/v1", "Lease", field(1, meta) + field(2, spec)))
    # Time keeps whole seconds (metav1.Time.Unmarshal drops the nanos); MicroTime keeps microseconds.
    assert decoded["metadata"] == {
        "name": "lease",
        "creationTimestamp": "2025-12-03T00:00:00Z",
        "deletionTimestamp": None,
    }
    assert decoded["spec"] == {
        "holderIdentity": "node-a",
        "leaseDurationSeconds": 40,
        "acquireTime": None,
        "renewTime": "2025-12-03T00:00:00.123456Z",
    }


def test_repeated_scalars_packed_or_not_and_negative_int32s():
    packed = field(4, varint(1000) + varint(2000))
    security = field(2, 1000) + packed + field(4, 3000) + field(3, 1)
    pod_spec = field(14, security) + field(25, -5)
    decoded = decode(envelope("v1", "Pod", field(1, object_meta("api-0")) + field(2, pod_spec)))
    assert decoded["spec"]["securityContext"] == {
        "runAsUser": 1000,
        "runAsNonRoot": True,
        "supplementalGroups": [1000, 2000, 3000],
    }
    assert decoded["spec"]["priority"] == -5


def test_a_custom_resource_definitions_schema_keeps_its_json_names_doubles_and_raw_json():
    replicas = field(5, "integer") + varint(9 << 3 | 1) + struct.pack("<d", 10.5) + field(8, field(1, b"3"))
    schema = field(5, "object") + field(29, field(1, "replicas") + field(2, replicas)) + field(38, 1)
    schema += field(30, field(1, 0))  # additionalProperties: false
    version = field(1, "v1") + field(2, 1) + field(3, 1) + field(4, field(1, schema))
    names = field(1, "widgets") + field(4, "Widget")
    spec = field(1, "example.com") + field(3, names) + field(4, "Namespaced") + field(7, version)
    decoded = decode(envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition", field(2, spec)))
    assert decoded["spec"]["versions"][0]["schema"] == {
        "openAPIV3Schema": {
            "type": "object",
            "properties": {"replicas": {"type": "integer", "maximum": 10.5, "default": 3}},
            "additionalProperties": False,
            "x-kubernetes-preserve-unknown-fields": True,
        }
    }


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [(0, "0s"), (1500, "1.5µs"), (2_000_000, "2ms"), (90 * 10**9, "1m30s"), (3600 * 10**9 + 5 * 10**8, "1h0m0.5s")],
)
def test_durations_are_written_as_go_writes_them(nanoseconds: int, text: str):
    assert go_duration(nanoseconds) == text
    assert go_duration(-nanoseconds) == ("-" + text if nanoseconds else text)


def test_the_field_tables_cover_every_kind_and_version_the_sandbox_serves():
    """A kind added to api-resources.yaml needs scripts/generate_protobuf_schemas.py run again."""

    def api_version(group: str, version: str) -> str:
        return f"{group}/{version}" if group else version

    served = set()
    for resource in yaml.safe_load(CATALOGUE_PATH.read_text())["resources"]:
        served |= {(api_version(resource["group"], v["version"]), resource["kind"]) for v in resource["versions"]}
        served |= {
            (api_version(sub["group"], sub["version"]), sub["kind"])
            for sub in resource.get("subresources", [])
            if "kind" in sub
        }
    assert served <= set(schemas().kinds)
    assert schemas().tag.startswith("v0.")


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


def test_a_protobuf_configmap_is_created(kube, api_client):
    raw = field(1, object_meta("settings", "default")) + entry(2, "mode", "blue") + entry(2, "empty", "")
    status, answer = post(kube, "/api/v1/namespaces/default/configmaps", envelope("v1", "ConfigMap", raw))
    assert status == 201
    assert answer["data"] == {"mode": "blue", "empty": ""}
    stored = client.CoreV1Api(api_client).read_namespaced_config_map("settings", "default")
    assert stored.data == {"mode": "blue", "empty": ""}
    assert stored.metadata.creation_timestamp is not None


def test_a_protobuf_body_of_a_kind_the_sandbox_does_not_serve_answers_415_naming_the_accepted_types(kube):
    status, answer = post(
        kube,
        "/api/v1/namespaces/default/configmaps",
        envelope("example.com/v1", "Widget", field(1, object_meta("c"))),
    )
    assert status == 415
    assert answer["reason"] == "UnsupportedMediaType"
    assert "accepted media types include: application/json, application/yaml" in answer["message"]


def test_a_body_that_is_not_protobuf_is_a_bad_request(kube):
    status, answer = post(kube, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", b"{}")
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert "does not appear to be a protobuf message" in answer["message"]

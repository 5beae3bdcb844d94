"""Request bodies in Kubernetes' protobuf encoding, decoded into the dict their JSON encoding gives.

kubectl 1.32 and later post the reviews of ``auth can-i`` and ``auth whoami`` as
``application/vnd.kubernetes.protobuf`` and do not retry them as JSON, so the sandbox reads that encoding for the
kinds clients post typed (Eviction too, for client-go programs configured with protobuf; kubectl's drain posts it as
JSON); any other kind still answers 415. Answers stay JSON: the client's Accept header lists ``application/json``
after protobuf.

The envelope (k8s.io/apimachinery/pkg/runtime/serializer/protobuf/protobuf.go): the 4 bytes ``k8s\\x00``, then a
``runtime.Unknown`` (k8s.io/apimachinery/pkg/runtime/generated.proto): 1 typeMeta {1 apiVersion, 2 kind}, 2 raw
(the object's own message), 3 contentEncoding, 4 contentType.

Field numbers of the objects, from the generated.proto files of Kubernetes 1.32:
- k8s.io/api/authorization/v1: SelfSubjectAccessReview {1 metadata, 2 spec, 3 status};
  SelfSubjectAccessReviewSpec {1 resourceAttributes, 2 nonResourceAttributes}; ResourceAttributes {1 namespace,
  2 verb, 3 group, 4 version, 5 resource, 6 subresource, 7 name, 8 fieldSelector, 9 labelSelector};
  FieldSelectorAttributes / LabelSelectorAttributes {1 rawSelector, 2 requirements}; NonResourceAttributes
  {1 path, 2 verb}; SelfSubjectRulesReview {1 metadata, 2 spec, 3 status}; SelfSubjectRulesReviewSpec {1 namespace}.
- k8s.io/api/authentication/v1: SelfSubjectReview {1 metadata, 2 status}.
- k8s.io/api/policy/v1: Eviction {1 metadata, 2 deleteOptions}.
- k8s.io/apimachinery/pkg/apis/meta/v1: ObjectMeta {1 name, 2 generateName, 3 namespace, 5 uid, 6 resourceVersion,
  11 labels, 12 annotations, ...}; DeleteOptions {1 gracePeriodSeconds, 2 preconditions, 3 orphanDependents,
  4 propagationPolicy, 5 dryRun, 6 ignoreStoreReadErrorWithClusterBreakingPotential}; Preconditions {1 uid,
  2 resourceVersion}; FieldSelectorRequirement / LabelSelectorRequirement {1 key, 2 operator, 3 values}.
Status fields (what the server answers) are not read: unknown fields are skipped, as proto2 parsers skip them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MAGIC = b"k8s\x00"

#: Scalar field types. A STRING of Go's ``omitempty`` is left out when empty, as encoding/json leaves it out;
#: INT64 and BOOL are Go pointers (``*int64``, ``*bool``): present whenever they were sent, zero included.
STRING, INT64, BOOL, STRINGS, STRING_MAP = "string", "int64", "bool", "strings", "string_map"

Schema = dict[int, tuple[str, Any]]

_TYPE_META: Schema = {1: ("apiVersion", STRING), 2: ("kind", STRING)}
_UNKNOWN: Schema = {1: ("typeMeta", _TYPE_META), 2: ("raw", "bytes"), 3: ("contentEncoding", STRING)}

_OBJECT_META: Schema = {
    1: ("name", STRING),
    2: ("generateName", STRING),
    3: ("namespace", STRING),
    5: ("uid", STRING),
    6: ("resourceVersion", STRING),
    11: ("labels", STRING_MAP),
    12: ("annotations", STRING_MAP),
}
_PRECONDITIONS: Schema = {1: ("uid", STRING), 2: ("resourceVersion", STRING)}
_DELETE_OPTIONS: Schema = {
    1: ("gracePeriodSeconds", INT64),
    2: ("preconditions", _PRECONDITIONS),
    3: ("orphanDependents", BOOL),
    4: ("propagationPolicy", STRING),
    5: ("dryRun", STRINGS),
    6: ("ignoreStoreReadErrorWithClusterBreakingPotential", BOOL),
}
_REQUIREMENT: Schema = {1: ("key", STRING), 2: ("operator", STRING), 3: ("values", STRINGS)}
_SELECTOR_ATTRIBUTES: Schema = {1: ("rawSelector", STRING), 2: ("requirements", [_REQUIREMENT])}
_RESOURCE_ATTRIBUTES: Schema = {
    1: ("namespace", STRING),
    2: ("verb", STRING),
    3: ("group", STRING),
    4: ("version", STRING),
    5: ("resource", STRING),
    6: ("subresource", STRING),
    7: ("name", STRING),
    8: ("fieldSelector", _SELECTOR_ATTRIBUTES),
    9: ("labelSelector", _SELECTOR_ATTRIBUTES),
}
_NON_RESOURCE_ATTRIBUTES: Schema = {1: ("path", STRING), 2: ("verb", STRING)}

#: The kinds clients post typed to the sandbox, by (apiVersion, kind).
KINDS: dict[tuple[str, str], Schema] = {
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): {
        1: ("metadata", _OBJECT_META),
        2: (
            "spec",
            {1: ("resourceAttributes", _RESOURCE_ATTRIBUTES), 2: ("nonResourceAttributes", _NON_RESOURCE_ATTRIBUTES)},
        ),
    },
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): {
        1: ("metadata", _OBJECT_META),
        2: ("spec", {1: ("namespace", STRING)}),
    },
    ("authentication.k8s.io/v1", "SelfSubjectReview"): {1: ("metadata", _OBJECT_META)},
    ("policy/v1", "Eviction"): {1: ("metadata", _OBJECT_META), 2: ("deleteOptions", _DELETE_OPTIONS)},
}


class ProtobufError(ValueError):
    """The body is not a well-formed Kubernetes protobuf message."""


class UnknownKind(Exception):
    """A well-formed envelope around a kind the sandbox does not decode."""

    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(f"{api_version}, Kind={kind}")
        self.api_version = api_version
        self.kind = kind


def decode(body: bytes) -> dict[str, Any]:
    """The object a protobuf request body holds, as the dict its JSON encoding decodes to."""
    if not body.startswith(MAGIC):
        # The message of k8s.io/apimachinery/pkg/runtime/serializer/protobuf's Decode.
        raise ProtobufError("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")
    envelope = _message(body[len(MAGIC) :], _UNKNOWN)
    if envelope.get("contentEncoding"):
        raise ProtobufError(f"unsupported content encoding {envelope['contentEncoding']!r}")
    type_meta = envelope.get("typeMeta") or {}
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    schema = KINDS.get((api_version, kind))
    if schema is None:
        raise UnknownKind(api_version, kind)
    return {"kind": kind, "apiVersion": api_version, **_message(envelope.get("raw", b""), schema)}


def _message(data: bytes, schema: Schema) -> dict[str, Any]:
    decoded: dict[str, Any] = {}
    for number, wire_type, value in _fields(data):
        if number not in schema:
            continue
        name, field_type = schema[number]
        _set(decoded, name, field_type, _value(field_type, wire_type, value))
    return decoded


def _set(decoded: dict[str, Any], name: str, field_type: Any, value: Any) -> None:
    if field_type == STRINGS or isinstance(field_type, list):
        decoded.setdefault(name, []).append(value)
    elif field_type == STRING_MAP:
        decoded.setdefault(name, {}).update([value])
    elif field_type != STRING or value:
        decoded[name] = value


def _value(field_type: Any, wire_type: int, value: int | bytes) -> Any:
    """One field's value, checked against the wire type its declared type is encoded with."""
    if field_type in (INT64, BOOL):
        if wire_type != 0:
            raise ProtobufError(f"wrong wire type {wire_type} for a varint field")
        assert isinstance(value, int)
        return bool(value) if field_type == BOOL else value - (1 << 64) if value >= 1 << 63 else value
    if wire_type != 2:
        raise ProtobufError(f"wrong wire type {wire_type} for a length-delimited field")
    assert isinstance(value, bytes)
    if field_type == "bytes":
        return value
    if field_type in (STRING, STRINGS):
        return _text(value)
    if field_type == STRING_MAP:
        entry = _message(value, {1: ("key", STRING), 2: ("value", STRING)})
        return entry.get("key", ""), entry.get("value", "")
    return _message(value, field_type[0] if isinstance(field_type, list) else field_type)


def _text(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError as error:
        raise ProtobufError(f"invalid UTF-8 in a string field: {error}") from None


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field: varints as ints, everything else as its bytes."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _varint(data, position)
            yield number, wire_type, value
            continue
        if wire_type == 2:
            size, position = _varint(data, position)
        elif wire_type in (1, 5):
            size = 8 if wire_type == 1 else 4
        else:
            raise ProtobufError(f"unsupported wire type {wire_type} (field {number})")
        if position + size > len(data):
            raise ProtobufError(f"field {number} runs past the end of the message")
        yield number, wire_type, data[position : position + size]
        position += size


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while position < len(data) and shift < 64:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
    raise ProtobufError("truncated or overlong varint")

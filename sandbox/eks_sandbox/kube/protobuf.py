"""Request bodies in Kubernetes' protobuf encoding, decoded into the dict their JSON encoding gives.

kubectl 1.32 and later post the bodies of its typed commands (``create namespace|configmap|secret|deployment|...``,
``autoscale``, ``certificate approve``, ``auth can-i``) as ``application/vnd.kubernetes.protobuf`` and do not retry
them as JSON; kube-apiserver accepts protobuf for every built-in kind, so the sandbox reads it for every kind it
serves (api-resources.yaml, every version, subresource kinds such as Eviction and Scale too).
Answers stay JSON: the client's Accept header lists ``application/json`` after protobuf.

The envelope (k8s.io/apimachinery/pkg/runtime/serializer/protobuf/protobuf.go): the 4 bytes ``k8s\\x00``, then a
``runtime.Unknown`` (k8s.io/apimachinery/pkg/runtime/generated.proto): 1 typeMeta {1 apiVersion, 2 kind}, 2 raw
(the object's own message), 3 contentEncoding, 4 contentType.

The objects are decoded from data, not code: ``protobuf-schemas.json`` (written by
scripts/generate_protobuf_schemas.py from the generated.proto files of kubernetes/api, kubernetes/apimachinery and
kubernetes/apiextensions-apiserver at the release its header names) holds each reachable message's fields by number:
JSON name (``""`` for a Go struct embedded inline), type, and whether it is repeated, a map, or a scalar whose zero
value encoding/json omits. It is loaded on the first protobuf body.

Zero values: go-to-protobuf writes every non-pointer field, so a field on the wire is either set or a non-pointer
Go field. The decoder keeps what encoding/json would send for the same Go object: a zero scalar (``""``, 0, false) of
a non-pointer ``omitempty`` field is left out; a pointer field (``replicas: 0``, ``automountServiceAccountToken:
false``) and a field without omitempty keep their zero; messages are kept, empty ones as ``{}`` (encoding/json never
omits a struct). Lists and maps are never empty on the wire, so an empty one is absent (JSON might say ``[]``/null).

Messages whose JSON is not an object of their fields (custom MarshalJSON in Go): resource.Quantity {1 string} is
its string; intstr.IntOrString {1 type, 2 intVal, 3 strVal} an int or a string; meta/v1 Time and MicroTime
{1 seconds, 2 nanos} RFC 3339 in UTC (Time in whole seconds, as metav1.Time.Unmarshal drops the nanos; Go's zero time
or an empty message is null); meta/v1 Duration {1 nanoseconds} Go's duration string; RawExtension, FieldsV1 and
apiextensions' JSON {1 raw} the embedded JSON (or a nested protobuf object); apiextensions' JSONSchemaPropsOr*
a schema, a list or a bool; named slices (ExtraValue) a list. bytes are base64, as encoding/json writes []byte.
Unknown fields are skipped, as proto2 parsers skip them.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

MAGIC = b"k8s\x00"
SCHEMAS_PATH = Path(__file__).with_name("protobuf-schemas.json")

#: One field of a message: (JSON name, type, flags): the type a scalar's name or a message's index; the flags
#: "" (one value), "r" (repeated), "m:<key type>" (map), "o" (a scalar whose zero value JSON leaves out).
Field = tuple[str, str | int, str]
_GO_ZERO_SECONDS = -62135596800  # time.Time{}.Unix(): January 1, year 1, UTC
_NUMBERS = {"int32", "int64", "uint32", "uint64", "bool", "double", "float"}  # the types a packed field can hold


class ProtobufError(ValueError):
    """The body is not a well-formed Kubernetes protobuf message."""


class UnknownKind(Exception):
    """A well-formed envelope around a kind the sandbox does not serve."""

    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(f"{api_version}, Kind={kind}")
        self.api_version = api_version
        self.kind = kind


class _Schemas:
    """The data file, indexed for decoding: messages by index, kinds by (apiVersion, kind)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.tag: str = data["tag"]
        self.kinds: dict[tuple[str, str], int] = {tuple(key.split(" ")): index for key, index in data["kinds"].items()}
        self.special: dict[int, str] = {int(index): form for index, form in data["special"].items()}
        self.messages: list[dict[int, Field]] = [
            {int(number): tuple(spec) for number, spec in fields.items()} for _, fields in data["messages"]
        ]


@cache
def schemas() -> _Schemas:
    """The field tables, read once, on the first protobuf body (about 90 KB of JSON)."""
    return _Schemas(json.loads(SCHEMAS_PATH.read_text()))


def decode(body: bytes) -> dict[str, Any]:
    """The object a protobuf request body holds, as the dict its JSON encoding decodes to."""
    if not body.startswith(MAGIC):
        # The message of k8s.io/apimachinery/pkg/runtime/serializer/protobuf's Decode.
        raise ProtobufError("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")
    api_version, kind, raw = _envelope(body[len(MAGIC) :])
    index = schemas().kinds.get((api_version, kind))
    if index is None:
        raise UnknownKind(api_version, kind)
    return {"kind": kind, "apiVersion": api_version, **_message(raw, index)}


def _envelope(data: bytes) -> tuple[str, str, bytes]:
    """(apiVersion, kind, raw) of a runtime.Unknown; a content encoding (none is defined) is refused."""
    parts = {1: b"", 2: b"", 3: b""}  # typeMeta, raw, contentEncoding
    for number, wire_type, value in _fields(data):
        if number in parts:
            parts[number] = _length_delimited(wire_type, value)
    type_meta, raw, encoding = parts.values()
    if encoding:
        raise ProtobufError(f"unsupported content encoding {_text(encoding)!r}")
    names = {1: "", 2: ""}
    for number, wire_type, value in _fields(type_meta):
        if number in names:
            names[number] = _text(_length_delimited(wire_type, value))
    return names[1], names[2], raw


def _message(data: bytes, index: int) -> Any:
    """One message as its JSON value: an object of its fields, or a special message's own form."""
    form = schemas().special.get(index)
    if form is not None:
        return _SPECIAL[form](_by_number(data, index))
    decoded: dict[str, Any] = {}
    fields = schemas().messages[index]
    for number, wire_type, value in _fields(data):
        spec = fields.get(number)
        if spec is not None:
            _set(decoded, spec, wire_type, value)
    return decoded


def _set(decoded: dict[str, Any], spec: Field, wire_type: int, value: int | bytes) -> None:
    name, kind, flags = spec
    if flags == "r":
        decoded.setdefault(name, []).extend(_json(v) for v in _repeated(kind, wire_type, value))
    elif flags.startswith("m:"):
        key, item = _entry(flags[2:], kind, _length_delimited(wire_type, value))
        decoded.setdefault(name, {})[key] = item
    elif not name:  # a Go struct embedded inline: its fields are the parent's in JSON
        decoded.update(_value(kind, wire_type, value))
    else:
        item = _value(kind, wire_type, value)
        if flags != "o" or (item != 0 and item != b"" and item != ""):
            decoded[name] = _json(item)


def _by_number(data: bytes, index: int) -> dict[int, list[Any]]:
    """A special message's known fields by number, every value kept (bytes as bytes)."""
    values: dict[int, list[Any]] = {}
    fields = schemas().messages[index]
    for number, wire_type, value in _fields(data):
        if number in fields:
            values.setdefault(number, []).extend(_repeated(fields[number][1], wire_type, value))
    return values


def _repeated(kind: str | int, wire_type: int, value: int | bytes) -> list[Any]:
    """The values of one occurrence of a repeated field: packed numbers come several to a field."""
    if wire_type == 2 and kind in _NUMBERS:
        assert isinstance(value, bytes)
        return list(_packed(kind, value))
    return [_value(kind, wire_type, value)]


def _packed(kind: str | int, data: bytes) -> Iterator[Any]:
    position = 0
    while position < len(data):
        if kind in ("double", "float"):
            size = 8 if kind == "double" else 4
            yield _value(kind, 1 if size == 8 else 5, data[position : position + size])
            position += size
        else:
            number, position = _varint(data, position)
            yield _value(kind, 0, number)


def _entry(key_kind: str, kind: str | int, data: bytes) -> tuple[str, Any]:
    """A map entry {1 key, 2 value}; a missing value is its type's zero, as Go's map decoding leaves it."""
    key: Any = _zero(key_kind)
    item: Any = _zero(kind)
    for number, wire_type, value in _fields(data):
        if number == 1:
            key = _value(key_kind, wire_type, value)
        elif number == 2:
            item = _value(kind, wire_type, value)
    return str(key), _json(item)


def _zero(kind: str | int) -> Any:
    if isinstance(kind, int):
        return _message(b"", kind)
    return {"string": "", "bytes": b"", "bool": False, "double": 0.0, "float": 0.0}.get(kind, 0)


def _json(value: Any) -> Any:
    """bytes as encoding/json writes a []byte: base64."""
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value


def _value(kind: str | int, wire_type: int, value: int | bytes) -> Any:
    """One field's value, checked against the wire type its declared type is encoded with."""
    if isinstance(kind, int):
        return _message(_length_delimited(wire_type, value), kind)
    if kind in ("string", "bytes"):
        data = _length_delimited(wire_type, value)
        return _text(data) if kind == "string" else data
    if kind in ("double", "float"):
        expected = 1 if kind == "double" else 5
        if wire_type != expected:
            raise ProtobufError(f"wrong wire type {wire_type} for a {kind} field")
        assert isinstance(value, bytes)
        return struct.unpack("<d" if kind == "double" else "<f", value)[0]
    if wire_type != 0:
        raise ProtobufError(f"wrong wire type {wire_type} for a varint field")
    assert isinstance(value, int)
    if kind == "bool":
        return bool(value)
    if kind in ("int32", "int64") and value >= 1 << 63:
        return value - (1 << 64)  # two's complement, ten bytes on the wire even for an int32
    return value


def _length_delimited(wire_type: int, value: int | bytes) -> bytes:
    if wire_type != 2:
        raise ProtobufError(f"wrong wire type {wire_type} for a length-delimited field")
    assert isinstance(value, bytes)
    return value


def _text(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError as error:
        raise ProtobufError(f"invalid UTF-8 in a string field: {error}") from None


def _last(values: dict[int, list[Any]], number: int, default: Any = None) -> Any:
    return values[number][-1] if values.get(number) else default


def _quantity(values: dict[int, list[Any]]) -> str:
    return _last(values, 1, "0")  # the zero Quantity's String() is "0"


def _int_or_string(values: dict[int, list[Any]]) -> int | str:
    return _last(values, 3, "") if _last(values, 1, 0) == 1 else _last(values, 2, 0)


def _time(values: dict[int, list[Any]]) -> str | None:
    seconds = _last(values, 1, 0)
    if not values or seconds == _GO_ZERO_SECONDS:
        return None
    return _utc(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_time(values: dict[int, list[Any]]) -> str | None:
    seconds = _last(values, 1, 0)
    if not values or seconds == _GO_ZERO_SECONDS:
        return None
    micros = _last(values, 2, 0) // 1000
    return f"{_utc(seconds).strftime('%Y-%m-%dT%H:%M:%S')}.{micros:06d}Z"


def _utc(seconds: int) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise ProtobufError(f"time out of range: {seconds} seconds ({error})") from None


def go_duration(nanoseconds: int) -> str:
    """A duration as Go's time.Duration.String writes it (what meta/v1.Duration's JSON holds): 1h2m3.5s, 1.5µs."""
    if nanoseconds == 0:
        return "0s"
    sign, rest = ("-" if nanoseconds < 0 else ""), abs(nanoseconds)
    if rest < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if rest >= size:
                return sign + _decimal(rest, size) + unit
    hours, rest = divmod(rest, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = _decimal(rest, 10**9) + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    return sign + (f"{hours}h{text}" if hours else text)


def _decimal(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    digits = f"{fraction:0{len(str(unit)) - 1}d}".rstrip("0") if unit > 1 else ""
    return f"{whole}.{digits}" if digits else str(whole)


def _duration(values: dict[int, list[Any]]) -> str:
    return go_duration(_last(values, 1, 0))


def _raw_json(values: dict[int, list[Any]]) -> Any:
    raw = _last(values, 1, b"")
    if not raw:
        return None
    if raw.startswith(MAGIC):
        return decode(raw)
    try:
        return json.loads(raw)
    except ValueError as error:
        raise ProtobufError(f"an embedded object is neither JSON nor protobuf: {error}") from None


def _or_array(values: dict[int, list[Any]]) -> Any:
    return values.get(2) or _last(values, 1)  # JSONSchemaPropsOrArray: the list wins, as in its MarshalJSON


def _or_bool(values: dict[int, list[Any]]) -> Any:
    return _last(values, 2) if values.get(2) else bool(_last(values, 1, False))


def _or_strings(values: dict[int, list[Any]]) -> Any:
    return values.get(2) or _last(values, 1)


def _items(values: dict[int, list[Any]]) -> list[Any]:
    return values.get(1, [])


_SPECIAL: dict[str, Callable[[dict[int, list[Any]]], Any]] = {
    "quantity": _quantity,
    "intorstring": _int_or_string,
    "time": _time,
    "microtime": _micro_time,
    "duration": _duration,
    "rawjson": _raw_json,
    "orarray": _or_array,
    "orbool": _or_bool,
    "orstrings": _or_strings,
    "list": _items,
}


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

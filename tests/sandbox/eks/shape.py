"""Validate EKS responses as they travel on the wire against botocore's output shapes.

``assert_matches_output_shape`` walks the operation's output shape: unknown keys, wrong types, enum values
the model doesn't know and missing required members all fail. ``validate_every_response`` hooks it into a
boto3 EKS client so that every successful call a test makes is checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.model import Shape

_MODEL = botocore.session.get_session().get_service_model("eks")


def assert_matches_output_shape(operation: str, response_json: dict[str, Any]) -> None:
    """Fail (AssertionError naming the path) unless ``response_json`` fits ``operation``'s output shape."""
    output = _MODEL.operation_model(operation).output_shape
    problems: list[str] = []
    if output is None:
        if response_json:
            problems.append(f"$: {operation} has no output, got {response_json!r}")
    else:
        _check(output, response_json, "$", problems)
    assert not problems, f"{operation} response does not match botocore's output shape:\n" + "\n".join(problems)


def _check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    checker = _CHECKERS.get(shape.type_name)
    if checker is None:
        problems.append(f"{path}: shape type {shape.type_name} not handled by the validator")
        return
    checker(shape, value, path, problems)


def _check_structure(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{path}: expected object ({shape.name}), got {type(value).__name__}")
        return
    for key in value:
        if key not in shape.members:
            problems.append(f"{path}.{key}: not a member of {shape.name}")
    for required in shape.required_members:
        if required not in value:
            problems.append(f"{path}.{required}: required member of {shape.name} missing")
    for key, member in shape.members.items():
        if key in value:
            _check(member, value[key], f"{path}.{key}", problems)


def _check_list(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, list):
        problems.append(f"{path}: expected list ({shape.name}), got {type(value).__name__}")
        return
    for index, item in enumerate(value):
        _check(shape.member, item, f"{path}[{index}]", problems)


def _check_map(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{path}: expected map ({shape.name}), got {type(value).__name__}")
        return
    for key, item in value.items():
        _check(shape.key, key, f"{path} key", problems)
        _check(shape.value, item, f"{path}[{key!r}]", problems)


def _check_string(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        problems.append(f"{path}: expected string ({shape.name}), got {type(value).__name__}")
    elif shape.enum and value not in shape.enum:
        problems.append(f"{path}: {value!r} is not one of {shape.name} {shape.enum}")


def _check_integer(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        problems.append(f"{path}: expected integer ({shape.name}), got {value!r}")


def _check_boolean(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, bool):
        problems.append(f"{path}: expected boolean ({shape.name}), got {value!r}")


def _check_epoch_seconds(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    # botocore's rest-json timestamps travel as epoch seconds, the same JSON number a double is.
    if not isinstance(value, int | float) or isinstance(value, bool):
        problems.append(f"{path}: expected epoch seconds ({shape.name}), got {value!r}")


#: botocore shape type → its check; a type missing here is reported, never silently passed.
_CHECKERS: dict[str, Callable[[Shape, Any, str, list[str]], None]] = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
    "boolean": _check_boolean,
    "timestamp": _check_epoch_seconds,
    "double": _check_epoch_seconds,
    "float": _check_epoch_seconds,
}


def validate_every_response(client: Any) -> None:
    """Check each successful response of ``client`` (boto3 EKS) on the wire against its output shape."""

    def check(http_response: Any, model: Any, **_: Any) -> None:
        if http_response.status_code == 200:
            assert_matches_output_shape(model.name, json.loads(http_response.content or b"{}"))

    client.meta.events.register("after-call.eks", check)

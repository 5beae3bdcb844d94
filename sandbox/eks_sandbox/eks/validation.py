"""Every EKS operation's input checked against botocore's model before the operation runs, as EKS checks it.

boto3 validates client-side, but the AWS CLI with ``--cli-input-json``, other SDKs and hand-made requests do
not: EKS itself refuses what the model constrains (required members, string length and pattern, number range,
enums, list and map sizes). The answer is the one AWS services give for a constraint violation — every problem
at once, ``1 validation error detected: Value 'x' at 'name' failed to satisfy constraint: Member must ...`` —
under the error the operation's model lists for bad input (InvalidParameterException for most of EKS).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from botocore.model import OperationModel, Shape

from eks_sandbox.eks.errors import EksError

#: The error an operation answers for bad input: the first of these its model lists.
_INPUT_ERRORS = ("InvalidParameterException", "InvalidRequestException", "ClientException")


def validate_input(operation: OperationModel, params: dict[str, Any]) -> None:
    """Raise the operation's bad-input error listing every constraint ``params`` breaks; None when it is valid."""
    if operation.input_shape is None:
        return
    problems = list(_problems(operation.input_shape, params, ""))
    if problems:
        count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''} detected"
        raise EksError(input_error(operation), 400, f"{count}: {'; '.join(problems)}")


def input_error(operation: OperationModel) -> str:
    listed = {shape.name for shape in operation.error_shapes}
    return next((code for code in _INPUT_ERRORS if code in listed), "InvalidParameterException")


def _problems(shape: Shape, value: Any, path: str) -> Iterator[str]:
    if value is None:
        return
    check = _CHECKS.get(shape.type_name)
    if check is not None:
        yield from check(shape, value, path)


def _violation(value: Any, path: str, constraint: str) -> str:
    shown = "null" if value is None else f"'{value}'"
    return f"Value {shown} at '{path}' failed to satisfy constraint: Member must {constraint}"


def _structure(shape: Shape, value: Any, path: str) -> Iterator[str]:
    if not isinstance(value, dict):
        yield _violation(value, path, "be a structure")
        return
    for name in shape.required_members:
        if value.get(name) is None:
            yield _violation(None, _join(path, name), "not be null")
    for name, member in shape.members.items():
        if name in value:
            yield from _problems(member, value[name], _join(path, name))


def _string(shape: Shape, value: Any, path: str) -> Iterator[str]:
    if not isinstance(value, str):
        yield _violation(value, path, "be a string")
        return
    yield from _length(shape, value, path, "have length")
    if shape.enum and value not in shape.enum:
        yield _violation(value, path, f"satisfy enum value set: [{', '.join(shape.enum)}]")
    pattern = shape.metadata.get("pattern")
    # The service matches the whole value (Java's Pattern.matches), whether or not the model anchors it.
    if pattern and not _compiled(pattern).fullmatch(value):
        yield _violation(value, path, f"satisfy regular expression pattern: {pattern}")


def _number(shape: Shape, value: Any, path: str) -> Iterator[str]:
    if isinstance(value, bool) or not isinstance(value, int):
        yield _violation(value, path, "be a whole number")
        return
    if "min" in shape.metadata and value < shape.metadata["min"]:
        yield _violation(value, path, f"have value greater than or equal to {shape.metadata['min']}")
    if "max" in shape.metadata and value > shape.metadata["max"]:
        yield _violation(value, path, f"have value less than or equal to {shape.metadata['max']}")


def _boolean(shape: Shape, value: Any, path: str) -> Iterator[str]:
    if not isinstance(value, bool):
        yield _violation(value, path, "be a boolean")


def _list(shape: Shape, value: Any, path: str) -> Iterator[str]:
    if not isinstance(value, list):
        yield _violation(value, path, "be a list")
        return
    yield from _length(shape, value, path, "have length")
    for index, item in enumerate(value):
        yield from _problems(shape.member, item, f"{path}.{index + 1}.member")


def _map(shape: Shape, value: Any, path: str) -> Iterator[str]:
    if not isinstance(value, dict):
        yield _violation(value, path, "be a map")
        return
    yield from _length(shape, value, path, "have number of entries")
    for key, item in value.items():
        yield from _problems(shape.key, key, f"{path}.key")
        yield from _problems(shape.value, item, f"{path}.{key}.value")


def _length(shape: Shape, value: str | list[Any] | dict[str, Any], path: str, what: str) -> Iterator[str]:
    shown = value if isinstance(value, str) else f"[{len(value)} items]"
    if "min" in shape.metadata and len(value) < shape.metadata["min"]:
        yield _violation(shown, path, f"{what} greater than or equal to {shape.metadata['min']}")
    if "max" in shape.metadata and len(value) > shape.metadata["max"]:
        yield _violation(shown, path, f"{what} less than or equal to {shape.metadata['max']}")


_CHECKS: dict[str, Callable[[Shape, Any, str], Iterator[str]]] = {
    "structure": _structure,
    "string": _string,
    "integer": _number,
    "long": _number,
    "boolean": _boolean,
    "list": _list,
    "map": _map,
}


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name

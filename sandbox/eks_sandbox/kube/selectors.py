"""Label and field selectors, in the query-string syntax and in the ``LabelSelector`` object form.

Runbooks find pods by ``labelSelector=app in (web,api)`` and ``fieldSelector=spec.nodeName=ip-10-0-1-5``
(kubectl drain does the latter), so both must filter exactly as kube-apiserver does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from eks_sandbox.kube.errors import KubeApiError

LabelPredicate = Callable[[dict[str, str]], bool]

_REQUIREMENT = re.compile(
    r"""\s*(?:
        (?P<not_exists>!\s*(?P<ne_key>[\w./-]+))
      | (?P<set_key>[\w./-]+)\s+(?P<set_op>in|notin)\s*\((?P<values>[^)]*)\)
      | (?P<eq_key>[\w./-]+)\s*(?P<eq_op>==|=|!=)\s*(?P<eq_value>[\w.-]*)
      | (?P<exists_key>[\w./-]+)
    )\s*(?:,|$)""",
    re.VERBOSE,
)


def parse_label_selector(selector: str | None) -> LabelPredicate:
    """Compile a ``labelSelector`` query string; an empty selector matches everything."""
    if not selector or not selector.strip():
        return lambda labels: True
    predicates: list[LabelPredicate] = []
    position = 0
    while position < len(selector):
        match = _REQUIREMENT.match(selector, position)
        if not match or match.end() == position:
            raise KubeApiError.bad_request(f"unable to parse requirement: invalid label selector {selector!r}")
        position = match.end()
        predicates.append(_requirement_predicate(match))
    return lambda labels: all(predicate(labels) for predicate in predicates)


def _requirement_predicate(match: re.Match[str]) -> LabelPredicate:
    if match.group("not_exists"):
        key = match.group("ne_key")
        return lambda labels: key not in labels
    if match.group("set_key"):
        key = match.group("set_key")
        values = {value.strip() for value in match.group("values").split(",") if value.strip()}
        if match.group("set_op") == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match.group("eq_key"):
        key, value = match.group("eq_key"), match.group("eq_value")
        if match.group("eq_op") == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: key in labels and labels[key] == value
    key = match.group("exists_key")
    return lambda labels: key in labels


def matches_label_selector(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Whether ``labels`` satisfy a ``LabelSelector`` object (matchLabels and matchExpressions)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def label_selector_string(selector: dict[str, Any]) -> str:
    """The query-string form of a ``LabelSelector``, as the scale subresource reports it in status.selector."""
    parts = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In":
            parts.append(f"{key} in ({','.join(sorted(values))})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({','.join(sorted(values))})")
        elif operator == "Exists":
            parts.append(key)
        else:
            parts.append(f"!{key}")
    return ",".join(parts)


def parse_field_selector(selector: str | None) -> Callable[[dict[str, Any]], bool]:
    """Compile a ``fieldSelector`` (``metadata.name=x,spec.nodeName!=y``) over dotted object paths."""
    if not selector or not selector.strip():
        return lambda obj: True
    requirements = []
    for term in selector.split(","):
        match = re.fullmatch(r"\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*", term)
        if not match:
            raise KubeApiError.bad_request(f"invalid field selector: {selector!r}")
        requirements.append((match.group(1), match.group(2) == "!=", match.group(3)))

    def predicate(obj: dict[str, Any]) -> bool:
        return all((field_value(obj, path) == value) != negate for path, negate, value in requirements)

    return predicate


def field_value(obj: dict[str, Any], path: str) -> str:
    """A field as the apiserver compares it in selectors: missing is ``""``, booleans are ``true``/``false``."""
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

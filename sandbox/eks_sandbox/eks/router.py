"""Routing EKS rest-json requests by botocore's service model, so every operation is named exactly as boto3 does.

Each operation's ``http.method`` + ``requestUri`` becomes a regex; path parameters, querystring members
(``location: querystring``) and JSON body members are collected into one input dict keyed by botocore
member names (``clusterName``, not the URI's ``{name}``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qs, unquote

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from eks_sandbox.eks.errors import invalid_parameter

_TEMPLATE_PARAM = re.compile(r"\{([^}]+)\}")


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    strict: re.Pattern[str]
    # Matches paths whose %2F were decoded already (a WSGI PATH_INFO): ARNs in the path then contain "/".
    lenient: re.Pattern[str]
    literal_length: int
    uri_members: dict[str, str]  # URI template name → member name


@cache
def eks_service_model() -> ServiceModel:
    """botocore's EKS model, loaded once per process (a sandbox per test would otherwise reload it)."""
    return botocore.session.get_session().get_service_model("eks")


class EksRouter:
    """Names the EKS operation of a request and decodes its input."""

    def __init__(self, service_model: ServiceModel | None = None) -> None:
        self.model = service_model or eks_service_model()
        self._routes = sorted(
            (self._route(self.model.operation_model(name)) for name in self.model.operation_names),
            key=lambda route: -route.literal_length,
        )

    @staticmethod
    def _route(operation: OperationModel) -> _Route:
        uri = operation.http["requestUri"].split("?", 1)[0]
        literal_parts = _TEMPLATE_PARAM.split(uri)[::2]
        strict, lenient = [], []
        for index, part in enumerate(_TEMPLATE_PARAM.split(uri)):
            if index % 2 == 0:
                strict.append(re.escape(part))
                lenient.append(re.escape(part))
            else:
                group = part.rstrip("+")
                strict.append(f"(?P<{_group(group)}>[^/]+)")
                lenient.append(f"(?P<{_group(group)}>.+)")
        uri_members = {
            member.serialization.get("name", name): name
            for name, member in (operation.input_shape.members.items() if operation.input_shape else [])
            if member.serialization.get("location") == "uri"
        }
        return _Route(
            operation=operation.name,
            method=operation.http["method"],
            strict=re.compile("^" + "".join(strict) + "/?$"),
            lenient=re.compile("^" + "".join(lenient) + "/?$"),
            literal_length=sum(len(p) for p in literal_parts),
            uri_members=uri_members,
        )

    def match(
        self, method: str, path: str, query: str | dict[str, list[str]] = ""
    ) -> tuple[str, dict[str, Any]] | None:
        """(operation name, input from path and querystring) of a request, or None if no operation has this path.

        ``path`` is best passed still percent-encoded (werkzeug's ``RAW_URI``/``REQUEST_URI`` without the query):
        ARNs in paths then keep their ``%2F``. A decoded path works too, by a second, greedier pass.
        """
        path = path.split("?", 1)[0]
        for attempt in ("strict", "lenient"):
            for route in self._routes:
                if route.method != method.upper():
                    continue
                found = getattr(route, attempt).match(path)
                if found:
                    params = {
                        route.uri_members.get(_ungroup(key), _ungroup(key)): unquote(value)
                        for key, value in found.groupdict().items()
                    }
                    params.update(self._query_params(route.operation, query))
                    return route.operation, params
        return None

    def parse(
        self, method: str, path: str, query: str | dict[str, list[str]], body: bytes
    ) -> tuple[str, dict[str, Any]] | None:
        """Like ``match``, plus the JSON body members (``eks.validation`` then checks them against the model)."""
        matched = self.match(method, path, query)
        if matched is None:
            return None
        operation, params = matched
        input_shape = self.model.operation_model(operation).input_shape
        if body.strip():
            try:
                payload = json.loads(body)
            except ValueError as exc:
                raise invalid_parameter(f"Request body is not valid JSON: {exc}") from exc
            if not isinstance(payload, dict):
                raise invalid_parameter("Request body must be a JSON object")
            body_members = {
                name
                for name, member in (input_shape.members.items() if input_shape else [])
                if "location" not in member.serialization
            }
            params.update({key: value for key, value in payload.items() if key in body_members})
        return operation, params

    def _query_params(self, operation: str, query: str | dict[str, list[str]]) -> dict[str, Any]:
        values = parse_qs(query, keep_blank_values=True) if isinstance(query, str) else query
        input_shape = self.model.operation_model(operation).input_shape
        params: dict[str, Any] = {}
        if input_shape is None:
            return params
        for name, member in input_shape.members.items():
            if member.serialization.get("location") != "querystring":
                continue
            raw = values.get(member.serialization.get("name", name))
            if raw:
                params[name] = _decode_query_value(member, raw)
        return params


def _decode_query_value(member: Shape, raw: list[str]) -> Any:
    if member.type_name == "list":
        return list(raw)
    value = raw[-1]
    if member.type_name == "boolean":
        return value.lower() == "true"
    if member.type_name == "integer":
        try:
            return int(value)
        except ValueError as exc:
            raise invalid_parameter(f"{member.name}: {value!r} is not an integer") from exc
    return value


# URI template names may contain characters a regex group name can't (none do in EKS today; be safe).
def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


def _ungroup(group: str) -> str:
    return group[2:]

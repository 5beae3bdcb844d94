"""API errors as kube-apiserver reports them: a ``Status`` object with reason, code and details.

Clients branch on ``reason`` and ``code`` (kubectl drain retries on 429, controllers re-read on 409), so the
wording and codes follow the apiserver's own messages.
"""

from __future__ import annotations

from typing import Any


class KubeApiError(Exception):
    """A request the simulated apiserver refuses; ``status()`` is the body it answers with."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body

    @classmethod
    def not_found(cls, resource: str, name: str, group: str = "") -> KubeApiError:
        qualified = f"{resource}.{group}" if group else resource
        return cls(
            404,
            "NotFound",
            f'{qualified} "{name}" not found',
            {"name": name, "group": group, "kind": resource} if group else {"name": name, "kind": resource},
        )

    @classmethod
    def no_such_path(cls) -> KubeApiError:
        return cls(404, "NotFound", "the server could not find the requested resource", {})

    @classmethod
    def already_exists(cls, resource: str, name: str, group: str = "") -> KubeApiError:
        qualified = f"{resource}.{group}" if group else resource
        return cls(
            409,
            "AlreadyExists",
            f'{qualified} "{name}" already exists',
            {"name": name, "group": group, "kind": resource} if group else {"name": name, "kind": resource},
        )

    @classmethod
    def conflict(cls, resource: str, name: str, group: str = "") -> KubeApiError:
        qualified = f"{resource}.{group}" if group else resource
        return cls(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {qualified} "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again",
            {"name": name, "group": group, "kind": resource} if group else {"name": name, "kind": resource},
        )

    @classmethod
    def invalid(cls, kind: str, name: str, field: str, detail: str, group: str = "") -> KubeApiError:
        return cls(
            422,
            "Invalid",
            f'{kind}{"." + group if group else ""} "{name}" is invalid: {field}: {detail}',
            {
                "name": name,
                "group": group,
                "kind": kind,
                "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": field}],
            },
        )

    @classmethod
    def bad_request(cls, message: str) -> KubeApiError:
        return cls(400, "BadRequest", message)

    @classmethod
    def method_not_allowed(cls) -> KubeApiError:
        return cls(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})

    @classmethod
    def unsupported_media_type(cls, content_type: str) -> KubeApiError:
        return cls(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted "
            f"media types include: application/json-patch+json, application/merge-patch+json, "
            f"application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type})",
        )

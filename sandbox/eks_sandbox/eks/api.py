"""The simulated EKS as a WSGI application speaking EKS's rest-json protocol.

The sandbox's dispatcher sends every SigV4 request signed for service ``eks`` here, inside
``sandbox.transaction()``. Responses use botocore member names, timestamps as epoch seconds, and errors as
HTTP status + ``x-amzn-ErrorType`` + ``{"message": ...}`` — what botocore's rest-json parser expects.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from eks_sandbox import moto_compat
from eks_sandbox.eks.errors import EksError
from eks_sandbox.eks.references import check_references
from eks_sandbox.eks.router import EksRouter
from eks_sandbox.eks.validation import validate_input

if TYPE_CHECKING:
    from eks_sandbox.world import Sandbox

logger = logging.getLogger(__name__)


class EksApp:
    """WSGI callable; ``router`` names operations for the dispatcher's fault matching."""

    def __init__(self, sandbox: Sandbox, router: EksRouter | None = None) -> None:
        self.sandbox = sandbox
        self.router = router or EksRouter()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        # The raw path keeps ARNs' %2F intact (werkzeug's dev server provides it; PATH_INFO is decoded).
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(environ.get("PATH_INFO", ""))
        path = raw.split("?", 1)[0]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            parsed = self.router.parse(method, path, environ.get("QUERY_STRING", ""), body)
            if parsed is None:
                return _respond(
                    start_response,
                    404,
                    {"message": f"No EKS operation matches {method} {path}"},
                    error="UnknownOperationException",
                )
            operation, params = parsed
            validate_input(self.router.model.operation_model(operation), params)
            account, region = moto_compat.account_and_region(environ)
            check_references(operation, params, account, region)
            scope = moto_compat.signing_scope(environ)
            result = self.sandbox.eks.handle(operation, params, account, region, scope[0] if scope else "")
        except EksError as error:
            return _respond(start_response, error.status, {"message": error.message}, error=error.code)
        except Exception as error:  # a sandbox bug must still reach the caller as an AWS error, not HTML
            logger.exception("EKS sandbox: %s %s failed", method, path)
            return _respond(
                start_response,
                500,
                {"message": f"The EKS sandbox failed on {method} {path}: {type(error).__name__}: {error}"},
                error="InternalFailure",
            )
        return _respond(start_response, 200, result)


def make_eks_app(sandbox: Sandbox) -> EksApp:
    """The WSGI application of the simulated EKS control plane."""
    return EksApp(sandbox)


def _respond(
    start_response: Callable[..., Any], status: int, document: dict[str, Any], error: str | None = None
) -> list[bytes]:
    payload = json.dumps(_wire(document)).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    if error:
        headers.append(("x-amzn-ErrorType", error))
    start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
    return [payload]


def _wire(value: Any) -> Any:
    """JSON as EKS sends it: timestamps as epoch seconds, absent members left out."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {key: _wire(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_wire(item) for item in value]
    return value


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}

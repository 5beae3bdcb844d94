"""One loopback port for the whole simulated fleet.

Requests are dispatched by what they are, the way the real endpoints would tell them apart:

- ``/k8s/<cluster id>/...`` — the Kubernetes API of one cluster (the ``endpoint`` DescribeCluster reports);
- ``/_sandbox/...`` — the sandbox's own control API (health, faults, clock, fleet loading);
- SigV4-signed requests for service ``eks`` — the simulated EKS control plane;
- every other AWS request — moto.

Fault rules are applied here, before a request reaches EKS or moto, so every service can be throttled.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

from eks_sandbox import moto_compat
from eks_sandbox.control import make_control_app
from eks_sandbox.eks.api import make_eks_app
from eks_sandbox.faults import ErrorFault
from eks_sandbox.kube.api import make_kube_app
from eks_sandbox.world import Sandbox

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

KUBE_PREFIX = "/k8s/"
CONTROL_PREFIX = "/_sandbox"


class SandboxDispatcher:
    """The WSGI application behind ``eks-sandbox serve`` and the in-process test server."""

    def __init__(self, sandbox: Sandbox) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app

        self.sandbox = sandbox
        self.eks_app = make_eks_app(sandbox)
        self.kube_app = make_kube_app()
        self.control_app = make_control_app(sandbox)
        self.moto_app = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(KUBE_PREFIX):
            return self._kubernetes(environ, start_response)
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return self.control_app(environ, start_response)
        return self._aws(environ, start_response)

    def _kubernetes(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        cluster_id, _, rest = environ["PATH_INFO"][len(KUBE_PREFIX) :].partition("/")
        with self.sandbox.transaction():
            cluster = self.sandbox.kube_clusters.get(cluster_id)
            if cluster is None:
                return _kube_not_found(cluster_id)(environ, start_response)
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + KUBE_PREFIX + cluster_id
            environ["PATH_INFO"] = "/" + rest
            environ["eks_sandbox.kube_cluster"] = cluster
            return list(self.kube_app(environ, start_response))

    def _aws(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = _buffer_body(environ)
        scope = moto_compat.signing_scope(environ)
        service = scope[2] if scope else ""
        operation, params = self._operation(service, environ, body)
        with self.sandbox.lock:
            self.sandbox.api_calls[(service, operation)] += 1
        fault = self.sandbox.faults.error_for(service, operation, params)
        if fault is not None:
            return _fault_response(fault, environ)(environ, start_response)
        app = self.eks_app if service == "eks" else self.moto_app
        with self.sandbox.transaction():
            return list(app(environ, start_response))

    def _operation(self, service: str, environ: dict[str, Any], body: bytes) -> tuple[str, dict[str, Any]]:
        """Name the AWS operation of a request (for fault matching), with its flat parameters."""
        if service == "eks":
            match = self.eks_app.router.match(
                environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")
            )
            if match is None:
                return "", {}
            return match[0], {key: value for key, value in match[1].items() if isinstance(value, str)}
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return target.rpartition(".")[2], _flat_json(body)
        form = parse_qs(environ.get("QUERY_STRING", "")) | parse_qs(body.decode("utf-8", "replace"))
        params = {key: values[0] for key, values in form.items()}
        return params.pop("Action", ""), params


class _QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without its per-request access log (a fleet load makes hundreds of requests)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class SandboxServer:
    """Serves a sandbox on loopback from a background thread (tests) or the foreground (the CLI)."""

    def __init__(
        self,
        sandbox: Sandbox,
        host: str = "127.0.0.1",
        port: int = 5055,
        advertise_url: str | None = None,
        log_requests: bool = False,
    ) -> None:
        self.sandbox = sandbox
        handler = WSGIRequestHandler if log_requests else _QuietRequestHandler
        self._server: BaseWSGIServer = make_server(
            host, port, SandboxDispatcher(sandbox), threaded=True, request_handler=handler
        )
        self._thread: threading.Thread | None = None
        self.url = f"http://{host}:{self._server.server_port}"
        # Cluster endpoints must be reachable by clients: in a container network that is not the bind address.
        sandbox.base_url = (advertise_url or self.url).rstrip("/")

    def start(self) -> SandboxServer:
        # A short poll interval makes stop() quick (tests start and stop a server per test).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="eks-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _buffer_body(environ: dict[str, Any]) -> bytes:
    """Read the request body once and put it back, so both fault matching and the backend can read it."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _flat_json(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return {}
    if not isinstance(document, dict):
        return {}
    return {key: value for key, value in document.items() if isinstance(value, str)}


def _fault_response(fault: ErrorFault, environ: dict[str, Any]) -> Response:
    """An injected AWS error, encoded the way the request's protocol encodes errors."""
    scope = moto_compat.signing_scope(environ)
    service = scope[2] if scope else ""
    code, message = escape(fault.error), escape(fault.message)
    if environ.get("HTTP_X_AMZ_TARGET"):
        body = json.dumps({"__type": fault.error, "message": fault.message})
        return Response(body, fault.status, content_type="application/x-amz-json-1.1")
    if service == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            "</Errors><RequestID>sandbox-fault</RequestID></Response>"
        )
        return Response(body, fault.status, content_type="text/xml")
    if service == "s3":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        return Response(body, fault.status, content_type="application/xml")
    if service in ("eks", "") or environ.get("CONTENT_TYPE", "").startswith("application/json"):
        response = Response(json.dumps({"message": fault.message}), fault.status, content_type="application/json")
        response.headers["x-amzn-ErrorType"] = fault.error
        return response
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
        "</Error><RequestId>sandbox-fault</RequestId></ErrorResponse>"
    )
    return Response(body, fault.status, content_type="text/xml")


def _kube_not_found(cluster_id: str) -> Response:
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"no simulated cluster has endpoint id {cluster_id!r} (was it deleted, or the sandbox restarted?)",
        "reason": "NotFound",
        "code": 404,
    }
    return Response(json.dumps(status), 404, content_type="application/json")

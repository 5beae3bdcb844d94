"""The simulated fleet's network face: one port for the AWS APIs, and one per cluster for its Kubernetes API.

AWS SDKs, the AWS CLI and the control API speak plain HTTP to the server's port. Every cluster's Kubernetes API
is HTTPS on a port of its own with no path (``eks_sandbox.endpoints``), as each EKS cluster has an endpoint of
its own, with a certificate signed by the CA that DescribeCluster reports (``eks_sandbox.tls``), and, as on
EKS, needs a bearer token: an EKS token, verified and mapped to a Kubernetes user (``eks_sandbox.kube.auth``).
Each connection's first byte tells TLS from plain HTTP (a TLS ClientHello starts with 0x16, which no HTTP method
does), so a plain request to a cluster's port gets kube-apiserver's answer. Requests are dispatched by where they
arrive and what they are, the way the real endpoints would tell them apart:

- a cluster's port — the Kubernetes API of that cluster (the ``endpoint`` DescribeCluster reports);
- ``/_sandbox/...`` — the sandbox's own control API (health, faults, clock, fleet loading);
- SigV4-signed requests for service ``eks`` — the simulated EKS control plane;
- every other AWS request — moto.

Fault rules are applied here, before a request reaches EKS or moto, so every service can be throttled.
"""

from __future__ import annotations

import io
import json
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Response

from eks_sandbox import moto_compat
from eks_sandbox.control import make_control_app
from eks_sandbox.eks.api import make_eks_app
from eks_sandbox.endpoints import ClusterListeners
from eks_sandbox.faults import ErrorFault
from eks_sandbox.kube.api import (
    CLUSTER_ENVIRON_KEY,
    HEADER_LINES_ENVIRON_KEY,
    STREAM_ENVIRON_KEY,
    TICK_ENVIRON_KEY,
    USER_ENVIRON_KEY,
    make_kube_app,
)
from eks_sandbox.kube.auth import ANONYMOUS, KubeUser, TokenRefused, TokenVerifier
from eks_sandbox.kube.cluster import KubeCluster
from eks_sandbox.prices import (
    PRICING_REGIONS,
    load_price_snapshot,
    make_pricing_app,
    spot_price_history,
    spot_price_history_xml,
)
from eks_sandbox.world import Sandbox

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: The local port a request arrived on (set by the request handler): which cluster's endpoint, if any.
LOCAL_PORT_KEY = "eks_sandbox.local_port"
CONTROL_PREFIX = "/_sandbox"
#: Kubernetes paths EKS serves without authentication (ClusterRole system:public-info-viewer).
PUBLIC_KUBE_PATHS = frozenset({"version", "healthz", "livez", "readyz"})
#: The first byte of every TLS connection: record type 22, handshake (the ClientHello).
TLS_HANDSHAKE = 0x16
#: How long a new connection may take to send its first byte and complete the TLS handshake.
HANDSHAKE_TIMEOUT = 30.0


class SandboxDispatcher:
    """The WSGI application behind ``eks-sandbox serve`` and the in-process test server."""

    def __init__(self, sandbox: Sandbox) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app

        self.sandbox = sandbox
        self.eks_app = make_eks_app(sandbox)
        self.kube_app = make_kube_app()
        #: EKS token verification; the sandbox's own address counts as an STS endpoint (it is one).
        self.tokens = TokenVerifier(lambda: {urlsplit(sandbox.base_url).netloc})
        self.control_app = make_control_app(sandbox)
        self.moto_app = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        cluster = self.sandbox.kube_clusters.at_port(environ.get(LOCAL_PORT_KEY, 0))
        if cluster is not None:
            return self._kubernetes(cluster, environ, start_response)
        path = environ.get("PATH_INFO", "")
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return self.control_app(environ, start_response)
        return self._aws(environ, start_response)

    def _kubernetes(
        self, cluster: KubeCluster, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("wsgi.url_scheme") != "https":
            # What kube-apiserver (Go's HTTP server) answers a plain-HTTP request on its TLS port.
            return Response("Client sent an HTTP request to an HTTPS server.\n", 400, mimetype="text/plain")(
                environ, start_response
            )
        with self.sandbox.transaction():
            user = self._kube_user(cluster, environ)
            if user is None:
                # EKS's answer to a request without a token, with one it cannot verify, or from a principal that
                # no access entry or aws-auth mapping lets into the cluster.
                return _kube_status(401, "Unauthorized", "Unauthorized")(environ, start_response)
            environ[USER_ENVIRON_KEY] = user
            environ[CLUSTER_ENVIRON_KEY] = cluster
            environ[TICK_ENVIRON_KEY] = lambda: self._tick(cluster)
            body = self.kube_app(environ, start_response)
            if not environ.get(STREAM_ENVIRON_KEY):
                return list(body)
        # A watch streams its events after the lock is released: it waits on its cluster's store, not on us.
        return body

    def _tick(self, cluster: KubeCluster) -> None:
        """What the start of a request does, for a watch that waits: apply the transitions now due."""
        with self.sandbox.transaction():
            cluster.advance()

    def _kube_user(self, cluster: KubeCluster, environ: dict[str, Any]) -> KubeUser | None:
        """Who a Kubernetes request runs as, or None for 401: anonymous only on the public paths."""
        token = _bearer_token(environ)
        if not token:
            return ANONYMOUS if environ.get("PATH_INFO", "").strip("/") in PUBLIC_KUBE_PATHS else None
        try:
            identity = self.tokens.verify(token, cluster.name)
        except TokenRefused:
            return None
        return cluster.access(identity) if cluster.access is not None else None

    def _aws(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = _buffer_body(environ)
        scope = moto_compat.signing_scope(environ)
        service = scope[2] if scope else ""
        operation, params = self._operation(service, environ, body)
        with self.sandbox.lock:
            self.sandbox.api_calls[(service, operation)] += 1
        account = moto_compat.account_and_region(environ)[0]
        fault = self.sandbox.faults.error_for(service, operation, params, account)
        if fault is not None:
            return _fault_response(fault, environ)(environ, start_response)
        if service == "pricing":  # moto has no Price List: the sandbox's price snapshot answers
            return self._pricing(environ, start_response)
        if service == "ec2" and operation == "DescribeSpotPriceHistory":
            return self._spot_price_history(environ, params)(environ, start_response)
        if service != "eks" and not moto_compat.moto_serves(self.moto_app, environ):
            message = f"The sandbox does not simulate service {service or '(unsigned request)'}; nothing was changed"
            return _unknown_operation(environ, message)(environ, start_response)
        app = self.eks_app if service == "eks" else self.moto_app
        try:
            with self.sandbox.transaction():
                if service == "ssm":
                    # AWS publishes the EKS optimized AMIs' parameters: what they say depends on the world date.
                    account, region = moto_compat.account_and_region(environ)
                    self.sandbox.eks.ami_parameters.publish(account, region, self.sandbox.clock.now().date())
                return list(app(environ, start_response))
        except NotImplementedError:  # moto's answer to an action it has not implemented
            message = f"The sandbox does not simulate {service} {operation or 'this operation'}; nothing was changed"
            return _unknown_operation(environ, message)(environ, start_response)

    def _pricing(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """The Price List Query API, at its three endpoints only: elsewhere AWS has no host to answer."""
        region = moto_compat.account_and_region(environ)[1]
        if region not in PRICING_REGIONS:
            message = (
                f"The Price List Query API has no endpoint in {region}: call it in "
                f"{', '.join(sorted(PRICING_REGIONS))}; nothing was changed"
            )
            return _unknown_operation(environ, message)(environ, start_response)
        return make_pricing_app(load_price_snapshot(self.sandbox.include_dir))(environ, start_response)

    def _spot_price_history(self, environ: dict[str, Any], params: dict[str, Any]) -> Response:
        """The snapshot's spot prices for the request's region, where moto answers $0.00001 dated 2006."""
        account, region = moto_compat.account_and_region(environ)
        zones = moto_compat.availability_zones(account, region)
        prices = load_price_snapshot(self.sandbox.include_dir)  # read once per process, on first use
        history = spot_price_history(prices, region, zones, params, self.sandbox.clock.now())
        return Response(spot_price_history_xml(history), 200, content_type="text/xml")

    def _operation(self, service: str, environ: dict[str, Any], body: bytes) -> tuple[str, dict[str, Any]]:
        """Name the AWS operation of a request (for fault matching), with its flat parameters."""
        if service == "eks":
            match = self.eks_app.router.match(
                environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")
            )
            if match is None:
                return "", {}
            # rest-json: the URI and query carry some members, the JSON body the others (a service account).
            path_and_query = {key: value for key, value in match[1].items() if isinstance(value, str)}
            return match[0], _flat_json(body) | path_and_query
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return target.rpartition(".")[2], _flat_json(body)
        form = parse_qs(environ.get("QUERY_STRING", "")) | parse_qs(body.decode("utf-8", "replace"))
        params = {key: values[0] for key, values in form.items()}
        return params.pop("Action", ""), params


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, telling the app which connections are TLS (the server itself has no ssl_context)."""

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ[LOCAL_PORT_KEY] = self.connection.getsockname()[1]
        environ[HEADER_LINES_ENVIRON_KEY] = self.headers.items()
        if isinstance(self.connection, ssl.SSLSocket):
            environ["wsgi.url_scheme"] = "https"
        return environ

    def handle(self) -> None:
        try:
            super().handle()
        except ssl.SSLError as error:  # a TLS client gone mid-request: like a dropped plain connection
            self.connection_dropped(error)


class _QuietRequestHandler(_RequestHandler):
    """The handler without its per-request access log (a fleet load makes hundreds of requests)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class _DualProtocolServer(ThreadedWSGIServer):
    """Werkzeug's threaded server, serving plain HTTP and TLS on one port by the first byte of each connection.

    The sniffing and the handshake run in the connection's own thread, never in the accept loop, so a client
    that connects and sends nothing (or handshakes slowly) delays nobody else.
    """

    def __init__(self, *args: Any, tls_context: ssl.SSLContext, log_tls_errors: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tls_context = tls_context
        self.log_tls_errors = log_tls_errors

    def finish_request(self, request: Any, client_address: Any) -> None:
        connection = request
        try:
            # Werkzeug writes headers and body separately; over TLS, Nagle's algorithm would hold the body back
            # until the client's delayed ACK of the headers: ~12 ms per response instead of ~2.
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request.settimeout(HANDSHAKE_TIMEOUT)
            first = request.recv(1, socket.MSG_PEEK)
            if not first:
                return  # closed before sending anything (a port probe)
            if first[0] == TLS_HANDSHAKE:
                connection = self.tls_context.wrap_socket(request, server_side=True)
            connection.settimeout(None)
        except OSError as error:  # timeouts, resets and failed handshakes (ssl.SSLError) alike
            if self.log_tls_errors:
                print(f"eks-sandbox: connection from {client_address[0]} dropped: {error}", file=sys.stderr)
            return
        try:
            self.RequestHandlerClass(connection, client_address, self)
        finally:
            if connection is not request:  # wrap_socket took over the socket: close the TLS one
                self.shutdown_request(connection)


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
        advertise_host = urlsplit(advertise_url).hostname if advertise_url else None
        #: The certificate TLS clients are served: for the loopback names, the bind and the advertise host.
        self.certificate = sandbox.tls.issue_server_certificate(filter(None, [host, advertise_host]))
        self._server = _DualProtocolServer(
            host,
            port,
            SandboxDispatcher(sandbox),
            _RequestHandler if log_requests else _QuietRequestHandler,
            tls_context=self.certificate.server_context(),
            log_tls_errors=log_requests,
        )
        self._thread: threading.Thread | None = None
        self.url = f"http://{host}:{self._server.server_port}"
        # Cluster endpoints must be reachable by clients: in a container network that is not the bind address.
        sandbox.base_url = (advertise_url or self.url).rstrip("/")
        self._listeners = ClusterListeners(host, self._server.process_request)
        sandbox.kube_clusters.serve_with(self._listeners, advertise_host or host)

    def start(self) -> SandboxServer:
        # A short poll interval makes stop() quick (tests start and stop a server per test).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="eks-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._listeners.stop()
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
    return _aws_error(environ, fault.error, fault.message, fault.status)


def _aws_error(environ: dict[str, Any], error: str, text: str, status: int) -> Response:
    """An AWS error encoded the way the request's protocol encodes errors."""
    scope = moto_compat.signing_scope(environ)
    service = scope[2] if scope else ""
    code, message = escape(error), escape(text)
    if environ.get("HTTP_X_AMZ_TARGET"):
        body = json.dumps({"__type": error, "message": text})
        return Response(body, status, content_type="application/x-amz-json-1.1")
    if service == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            "</Errors><RequestID>sandbox-fault</RequestID></Response>"
        )
        return Response(body, status, content_type="text/xml")
    if service == "s3":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        return Response(body, status, content_type="application/xml")
    if service in ("eks", "") or environ.get("CONTENT_TYPE", "").startswith("application/json"):
        return _rest_json_error(error, text, status)
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
        "</Error><RequestId>sandbox-fault</RequestId></ErrorResponse>"
    )
    return Response(body, status, content_type="text/xml")


def _rest_json_error(error: str, text: str, status: int) -> Response:
    response = Response(json.dumps({"message": text}), status, content_type="application/json")
    response.headers["x-amzn-ErrorType"] = error
    return response


def _unknown_operation(environ: dict[str, Any], text: str) -> Response:
    """What AWS answers an operation it does not know, in the request's protocol: a client error SDKs do not
    retry, where moto would answer an HTML 500 that every SDK retries.

    awsJson (``X-Amz-Target``): 400 ``UnknownOperationException``; query (IAM, STS, EC2, ...): 400
    ``InvalidAction``; S3: 501 ``NotImplemented``; rest-json: 404 ``UnknownOperationException``, as the simulated
    EKS answers a path no operation has.
    """
    scope = moto_compat.signing_scope(environ)
    service = scope[2] if scope else ""
    if environ.get("HTTP_X_AMZ_TARGET"):
        return _aws_error(environ, "UnknownOperationException", text, 400)
    if _speaks_query(environ, service):
        return _aws_error(environ, "InvalidAction", text, 400)
    if service == "s3":
        return _aws_error(environ, "NotImplemented", text, 501)
    return _rest_json_error("UnknownOperationException", text, 404)


def _speaks_query(environ: dict[str, Any], service: str) -> bool:
    """Query protocol (IAM, STS, EC2, ...): a form-encoded body naming the ``Action``."""
    return service == "ec2" or environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")


def _bearer_token(environ: dict[str, Any]) -> str:
    """The bearer token of a request (``Authorization: Bearer <token>``), or ``""``."""
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _kube_status(code: int, reason: str, message: str) -> Response:
    """A Kubernetes ``Status`` failure, as kube-apiserver answers errors outside any resource."""
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return Response(json.dumps(status), code, content_type="application/json")

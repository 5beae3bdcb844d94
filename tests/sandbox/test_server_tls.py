"""The server's ports: plain HTTP for AWS, and HTTPS with no path for each cluster's Kubernetes API."""

from __future__ import annotations

import json
import socket
import ssl
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from eks_sandbox.kube.cluster import KubeCluster
from eks_sandbox.server import SandboxServer
from eks_sandbox.tls import CertificateAuthority
from eks_sandbox.world import Sandbox


@pytest.fixture
def served() -> SandboxServer:
    sandbox = Sandbox()
    sandbox.kube_clusters["c1"] = KubeCluster("c1", "1.32", sandbox.clock)
    with SandboxServer(sandbox, port=0) as server:
        yield server


def _kube_version(server: SandboxServer, timeout: float = 10) -> str:
    request = urllib.request.Request(server.sandbox.kube_endpoint("c1") + "/version")
    with urllib.request.urlopen(request, context=server.sandbox.tls.client_context(), timeout=timeout) as response:
        return json.load(response)["minor"]


def _port(url: str) -> int:
    return int(url.rpartition(":")[2])


def test_aws_and_each_cluster_answer_on_their_own_ports(served):
    endpoint = served.sandbox.kube_endpoint("c1")
    assert endpoint.startswith("https://127.0.0.1:") and _port(endpoint) != _port(served.url)
    for _ in range(3):
        with urllib.request.urlopen(f"{served.url}/_sandbox/health", timeout=10) as response:
            assert json.load(response)["status"] == "ok"
        assert _kube_version(served) == "32"


def test_a_cluster_endpoint_has_no_path_so_absolute_paths_work(served):
    served.sandbox.kube_clusters["c2"] = KubeCluster("c2", "1.33", served.sandbox.clock)
    endpoints = {served.sandbox.kube_endpoint(cluster) for cluster in ("c1", "c2")}
    assert len(endpoints) == 2 and all(urllib.parse.urlsplit(url).path == "" for url in endpoints)
    request = urllib.request.Request(served.sandbox.kube_endpoint("c2") + "/version")
    with urllib.request.urlopen(request, context=served.sandbox.tls.client_context(), timeout=10) as response:
        assert json.load(response)["minor"] == "33"


def test_a_deleted_cluster_endpoint_refuses_connections(served):
    endpoint = served.sandbox.kube_endpoint("c1")
    with served.sandbox.lock:
        del served.sandbox.kube_clusters["c1"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the accepting thread closes the listener right after
        try:
            socket.create_connection(("127.0.0.1", _port(endpoint)), timeout=1).close()
        except (ConnectionRefusedError, ConnectionResetError):  # reset: it closed while this connect was queued
            break
        time.sleep(0.01)
    else:
        pytest.fail(f"{endpoint} still accepts connections after its cluster was deleted")


def test_plain_http_to_a_cluster_endpoint_gets_kube_apiservers_answer(served):
    plain = served.sandbox.kube_endpoint("c1").replace("https://", "http://", 1)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(plain + "/version", timeout=10)
    assert refused.value.code == 400
    assert refused.value.read() == b"Client sent an HTTP request to an HTTPS server.\n"


def test_a_client_that_sends_nothing_or_half_a_handshake_blocks_nobody(served):
    port = _port(served.sandbox.kube_endpoint("c1"))
    silent = socket.create_connection(("127.0.0.1", port))
    stalled = socket.create_connection(("127.0.0.1", port))
    stalled.sendall(b"\x16\x03\x01")  # the start of a TLS record, then nothing
    try:
        started = time.monotonic()
        assert _kube_version(served, timeout=5) == "32"
        with urllib.request.urlopen(f"{served.url}/_sandbox/health", timeout=5):
            pass
        assert time.monotonic() - started < 5
    finally:
        silent.close()
        stalled.close()


def test_a_failed_handshake_leaves_the_server_serving(served):
    port = _port(served.sandbox.kube_endpoint("c1"))
    with socket.create_connection(("127.0.0.1", port)) as raw, pytest.raises(ssl.SSLCertVerificationError):
        ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")
    assert _kube_version(served) == "32"


def test_the_certificate_names_the_advertise_host_for_docker_compose():
    sandbox = Sandbox()
    sandbox.kube_clusters["c1"] = KubeCluster("c1", "1.32", sandbox.clock)
    with SandboxServer(sandbox, port=0, advertise_url="http://sandbox:5055") as server:
        assert sandbox.base_url == "http://sandbox:5055"
        port = _port(sandbox.kube_endpoint("c1"))
        assert sandbox.kube_endpoint("c1") == f"https://sandbox:{port}"
        assert {"sandbox", "127.0.0.1", "localhost"} <= set(server.certificate.hosts)
        # Reach the loopback port, but verify the name a container would use: "sandbox", a DNS SAN.
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            sandbox.tls.client_context().wrap_socket(raw, server_hostname="sandbox") as tls,
        ):
            tls.sendall(b"GET /version HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n\r\n")
            assert tls.recv(64).startswith(b"HTTP/1.1 200")
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            sandbox.tls.client_context().wrap_socket(raw, server_hostname="elsewhere")


def test_key_and_certificate_touch_disk_only_privately_and_only_while_loaded(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen: dict[str, int] = {}
    load = ssl.SSLContext.load_cert_chain

    def recording_load(context, certfile, keyfile=None, password=None):
        for path in (Path(certfile).parent, Path(certfile), Path(keyfile)):
            seen[path.name] = stat.S_IMODE(path.stat().st_mode)
        return load(context, certfile, keyfile, password)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", recording_load)
    CertificateAuthority.generate().issue_server_certificate(["sandbox"]).server_context()
    assert sorted(seen.values()) == [0o600, 0o600, 0o700], seen
    assert not list(tmp_path.iterdir())  # removed as soon as loaded


def test_ca_and_server_certificate_generation_is_cheap():
    started = time.perf_counter()
    for _ in range(10):
        CertificateAuthority.generate().issue_server_certificate(["sandbox"]).server_context()
    assert (time.perf_counter() - started) / 10 < 0.25  # a few ms each with P-256; generous for loaded machines

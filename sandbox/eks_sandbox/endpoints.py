"""Each cluster's Kubernetes API on its own port, with no path, as each EKS cluster has its own endpoint.

EKS gives every cluster an endpoint of its own with no path (``https://<id>.gr7.<region>.eks.amazonaws.com``),
and clients build absolute paths on it (``kubectl get --raw /version``). The sandbox gives each cluster a
listening port of its own on the server's address — ``https://127.0.0.1:<port>`` — so nothing needs an
``/etc/hosts`` entry. One thread accepts on every cluster's port and hands each connection to the server,
which serves it like any other (TLS, a thread per connection, the dispatcher) and tells the clusters apart by
the port a connection arrived on.
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import suppress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster

#: Called with each accepted connection and its peer address (``socketserver``'s ``process_request``).
Accept = Callable[[socket.socket, object], None]

#: The endpoint a cluster reports while no server serves the sandbox (in-process use): never reachable.
UNSERVED_ENDPOINT = "https://127.0.0.1:0"


class ClusterListeners:
    """Listening sockets, one per cluster, and the one thread that accepts connections on all of them."""

    def __init__(self, host: str, accept: Accept) -> None:
        self._host = host
        self._accept = accept
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._sockets: dict[str, socket.socket] = {}
        self._clusters_by_port: dict[int, str] = {}
        self._changes: list[tuple[bool, socket.socket]] = []
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._selector.register(self._wake_reader, selectors.EVENT_READ)
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="eks-sandbox-endpoints", daemon=True)
        self._thread.start()

    def open(self, cluster_id: str) -> int:
        """Listen for a cluster (idempotent) and return its port."""
        with self._lock:
            listening = self._sockets.get(cluster_id)
            if listening is None:
                listening = socket.create_server((self._host, 0))
                listening.setblocking(False)
                self._sockets[cluster_id] = listening
                self._clusters_by_port[listening.getsockname()[1]] = cluster_id
                self._changes.append((True, listening))
        self._wake()
        return listening.getsockname()[1]

    def close(self, cluster_id: str) -> None:
        """Stop listening for a cluster: its endpoint refuses connections, as a deleted cluster's does."""
        with self._lock:
            listening = self._sockets.pop(cluster_id, None)
            if listening is None:
                return
            self._clusters_by_port.pop(listening.getsockname()[1], None)
            self._changes.append((False, listening))
        self._wake()

    def port_of(self, cluster_id: str) -> int | None:
        with self._lock:
            listening = self._sockets.get(cluster_id)
            return listening.getsockname()[1] if listening is not None else None

    def cluster_at(self, port: int) -> str | None:
        """The cluster whose endpoint is ``port``, or None (the AWS APIs' port, or a closed endpoint)."""
        with self._lock:
            return self._clusters_by_port.get(port)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            for cluster_id in list(self._sockets):
                self._changes.append((False, self._sockets.pop(cluster_id)))
            self._clusters_by_port.clear()
        self._wake()
        self._thread.join(timeout=10)

    def _wake(self) -> None:
        self._wake_writer.send(b"\0")

    def _serve(self) -> None:
        try:
            while self._apply_changes():
                for key, _ in self._selector.select():
                    if key.fileobj is self._wake_reader:
                        self._wake_reader.recv(4096)
                    else:
                        self._accept_one(key.fileobj)
        finally:
            self._selector.close()
            self._wake_reader.close()
            self._wake_writer.close()

    def _apply_changes(self) -> bool:
        """Register new listeners and close removed ones, in this thread only; False once stopping."""
        with self._lock:
            changes, self._changes = self._changes, []
            stopping = self._stopping
        for added, listening in changes:
            if added:
                self._selector.register(listening, selectors.EVENT_READ)
            else:
                with suppress(KeyError):
                    self._selector.unregister(listening)
                listening.close()
        return not stopping

    def _accept_one(self, listening: socket.socket) -> None:
        try:
            connection, address = listening.accept()
        except (BlockingIOError, OSError):  # another accept took it, or the listener closed meanwhile
            return
        connection.setblocking(True)
        self._accept(connection, address)


class KubeEndpoints(MutableMapping[str, "KubeCluster"]):
    """Every cluster's Kubernetes API by the opaque id EKS gives the cluster, and the endpoint it is served at.

    Registering a cluster here serves it: once a server is attached, each cluster gets its own port.
    """

    def __init__(self) -> None:
        self._clusters: dict[str, KubeCluster] = {}
        self._listeners: ClusterListeners | None = None
        self._host = "127.0.0.1"

    def serve_with(self, listeners: ClusterListeners, advertise_host: str) -> None:
        """Give every cluster, present and future, a port on ``listeners``; endpoints name ``advertise_host``."""
        self._listeners = listeners
        self._host = advertise_host
        for cluster_id in self._clusters:
            listeners.open(cluster_id)

    def endpoint(self, cluster_id: str) -> str:
        """``https://<host>:<port>``: DescribeCluster's ``endpoint``, a kubeconfig's ``server``."""
        port = self._listeners.port_of(cluster_id) if self._listeners is not None else None
        if port is None:
            return UNSERVED_ENDPOINT
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"https://{host}:{port}"

    def at_port(self, port: int) -> KubeCluster | None:
        """The cluster served on ``port``, if any."""
        cluster_id = self._listeners.cluster_at(port) if self._listeners is not None else None
        return self._clusters.get(cluster_id) if cluster_id is not None else None

    def at_endpoint(self, endpoint: str) -> KubeCluster:
        """The cluster DescribeCluster's ``endpoint`` names (what an in-process caller holds), or KeyError."""
        cluster = self.at_port(urlsplit(endpoint).port or 0)
        if cluster is None:
            raise KeyError(f"no simulated cluster is served at {endpoint}")
        return cluster

    def __getitem__(self, cluster_id: str) -> KubeCluster:
        return self._clusters[cluster_id]

    def __setitem__(self, cluster_id: str, cluster: KubeCluster) -> None:
        self._clusters[cluster_id] = cluster
        if self._listeners is not None:
            self._listeners.open(cluster_id)

    def __delitem__(self, cluster_id: str) -> None:
        del self._clusters[cluster_id]
        if self._listeners is not None:
            self._listeners.close(cluster_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self._clusters)

    def __len__(self) -> int:
        return len(self._clusters)

"""Watches stream: ADDED for what exists, then MODIFIED and DELETED as objects change, until timeoutSeconds."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from kubernetes import client, watch


def _config_map(name: str, value: str = "1") -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels={"app": "watched"}), data={"a": value})


def _changes_while_watching(api_client: client.ApiClient, changes) -> list[tuple[str, str, str]]:
    core = client.CoreV1Api(api_client)
    seen: list[tuple[str, str, str]] = []

    def consume() -> None:
        for event in watch.Watch().stream(
            core.list_namespaced_config_map, "default", label_selector="app=watched", timeout_seconds=3
        ):
            seen.append((event["type"], event["object"].metadata.name, (event["object"].data or {}).get("a", "")))
            if event["type"] == "DELETED":
                return

    watcher = threading.Thread(target=consume)
    watcher.start()
    time.sleep(0.3)  # the watch is open (and holds no lock): writes go through meanwhile
    changes(core)
    watcher.join(timeout=10)
    assert not watcher.is_alive()
    return seen


def test_a_watch_streams_added_modified_and_deleted_events(api_client: client.ApiClient):
    client.CoreV1Api(api_client).create_namespaced_config_map("default", _config_map("before"))

    def changes(core: client.CoreV1Api) -> None:
        core.create_namespaced_config_map("default", _config_map("during"))
        core.patch_namespaced_config_map("during", "default", {"data": {"a": "2"}})
        core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="other")))
        core.delete_namespaced_config_map("during", "default")

    assert _changes_while_watching(api_client, changes) == [
        ("ADDED", "before", "1"),
        ("ADDED", "during", "1"),
        ("MODIFIED", "during", "2"),
        ("DELETED", "during", "2"),
    ]


def test_a_watch_ends_at_its_timeout_and_resumes_from_a_resource_version(kube, api_client: client.ApiClient):
    core = client.CoreV1Api(api_client)
    listed = core.list_namespaced_config_map("default")
    core.create_namespaced_config_map("default", _config_map("later"))
    started = time.monotonic()
    response = kube.open(
        f"/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1"
        f"&resourceVersion={listed.metadata.resource_version}"
    )
    events = [json.loads(line) for line in response.read().splitlines()]
    assert 0.9 < time.monotonic() - started < 5
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "later")]


@pytest.mark.wall_clock
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_kubectl_get_watch_sees_a_deletion(kube, api_client: client.ApiClient, tmp_path: Path):
    client.CoreV1Api(api_client).create_namespaced_config_map("default", _config_map("short-lived"))
    kubectl = kube.kubectl_command(tmp_path)
    watching = subprocess.Popen(
        [
            *kubectl,
            *("get", "configmaps"),
            *("-l", "app=watched", "--watch", "--output-watch-events", "--request-timeout=5s", "-o", "name"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    client.CoreV1Api(api_client).delete_namespaced_config_map("short-lived", "default")
    out, err = watching.communicate(timeout=20)
    assert "configmap/short-lived" in out, err
    # ADDED, then DELETED (-o name prints each event as the object's name).
    assert out.splitlines() == ["configmap/short-lived", "configmap/short-lived"], out

"""Rollouts take simulated time: pods turn Ready ``pod_startup`` after they start, and Deployments and DaemonSets
move one maxSurge/maxUnavailable step at a time, reporting status as the real controllers do."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from kubernetes import client

STARTUP = timedelta(seconds=15)


@pytest.fixture
def paced(kube) -> Iterator:
    """The test's cluster with pods that take STARTUP to turn Ready; the clock stands still unless skipped."""
    kube.cluster.clock.pause()
    kube.cluster.pod_startup = STARTUP
    yield kube
    kube.cluster.clock.resume()


def _deployment(replicas: int, image: str, max_surge: int | str, max_unavailable: int | str) -> dict:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable},
            },
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "web", "image": image}]}},
        },
    }


def _status(api_client, kind: str = "deployment") -> dict:
    apps = client.AppsV1Api(api_client)
    if kind == "deployment":
        return apps.read_namespaced_deployment_status("web", "default").to_dict()["status"]
    return apps.read_namespaced_daemon_set_status("agent", "default").to_dict()["status"]


def _pass(kube) -> None:
    """Let one start-up pass (wake-ups fall on whole simulated seconds)."""
    kube.cluster.clock.skip(STARTUP + timedelta(seconds=1))


def test_new_pods_turn_ready_after_their_start_up(paced, api_client):
    paced.cluster.apply(_deployment(2, "nginx:1.27", 1, 0))
    assert _status(api_client)["ready_replicas"] is None
    pods = client.CoreV1Api(api_client).list_namespaced_pod("default", label_selector="app=web").items
    assert {p.status.phase for p in pods} == {"Running"}
    ready = {c.type: (c.status, c.reason) for c in pods[0].status.conditions}
    assert ready["Ready"] == ("False", "ContainersNotReady")
    _pass(paced)
    assert _status(api_client)["ready_replicas"] == 2


def test_a_deployment_rolls_one_surge_step_at_a_time(paced, api_client):
    paced.cluster.pod_startup = timedelta(0)
    paced.cluster.apply(_deployment(3, "nginx:1.27", 1, 0))
    paced.cluster.pod_startup = STARTUP
    client.AppsV1Api(api_client).patch_namespaced_deployment(
        "web", "default", {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}}
    )
    steps = []
    for _ in range(5):
        status = _status(api_client)
        steps.append((status["replicas"], status["updated_replicas"], status["available_replicas"]))
        _pass(paced)
    # maxSurge 1, maxUnavailable 0: one extra pod, an old one goes when it is available; never below 3.
    assert steps == [(4, 1, 3), (4, 2, 3), (4, 3, 3), (3, 3, 3), (3, 3, 3)]
    conditions = {c["type"]: c["reason"] for c in _status(api_client)["conditions"]}
    assert conditions == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}


def test_a_daemon_set_replaces_max_unavailable_pods_at_a_time(paced, api_client):
    labels = {"app": "agent"}
    daemon_set = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "a", "image": "agent:1"}]}},
        },
    }
    paced.cluster.pod_startup = timedelta(0)
    paced.cluster.apply(daemon_set)
    paced.cluster.pod_startup = STARTUP
    daemon_set["spec"]["template"]["spec"]["containers"][0]["image"] = "agent:2"
    paced.cluster.apply(daemon_set)
    steps = []
    for _ in range(4):
        status = _status(api_client, "daemonset")
        steps.append((status["updated_number_scheduled"], status["number_available"], status["observed_generation"]))
        _pass(paced)
    assert steps == [(1, 2, 2), (2, 2, 2), (3, 2, 2), (3, 3, 2)]


@pytest.mark.wall_clock
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_kubectl_rollout_status_waits_for_the_rollout(kube, api_client, tmp_path: Path):
    kube.cluster.apply(_deployment(3, "nginx:1.27", 1, 0))
    kube.cluster.pod_startup = timedelta(seconds=0.5)  # the kube test clock runs at wall speed
    client.AppsV1Api(api_client).patch_namespaced_deployment(
        "web", "default", {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}}
    )
    kubectl = kube.kubectl_command(tmp_path)
    result = subprocess.run(
        [
            *kubectl,
            *("rollout", "status", "deployment/web", "--timeout=30s"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Waiting for deployment" in result.stdout
    assert 'deployment "web" successfully rolled out' in result.stdout


def test_a_stateful_set_replaces_one_pod_at_a_time_from_the_highest_ordinal(paced, api_client):
    labels = {"app": "db"}
    stateful_set = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "serviceName": "db",
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "db", "image": "pg:16"}]}},
        },
    }
    paced.cluster.pod_startup = timedelta(0)
    paced.cluster.apply(stateful_set)
    paced.cluster.pod_startup = STARTUP
    stateful_set["spec"]["template"]["spec"]["containers"][0]["image"] = "pg:17"
    paced.cluster.apply(stateful_set)
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    steps = []
    for _ in range(4):
        status = apps.read_namespaced_stateful_set_status("db", "default").status
        images = [core.read_namespaced_pod(f"db-{i}", "default").spec.containers[0].image for i in range(3)]
        steps.append((status.updated_replicas, status.current_revision == status.update_revision, images))
        _pass(paced)
    assert steps == [
        (1, False, ["pg:16", "pg:16", "pg:17"]),
        (2, False, ["pg:16", "pg:17", "pg:17"]),
        (3, True, ["pg:17", "pg:17", "pg:17"]),
        (3, True, ["pg:17", "pg:17", "pg:17"]),
    ]

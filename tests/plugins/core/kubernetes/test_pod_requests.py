"""A pod's requests as the scheduler counts them when it fits the pod on a node."""

from __future__ import annotations

from eks_runbooks.core.kubernetes.pod_requests import pod_requests


def container(cpu: str | None = None, memory: str | None = None, **extra) -> dict:
    requests = {key: value for key, value in (("cpu", cpu), ("memory", memory)) if value is not None}
    return {"name": "c", "image": "x", "resources": {"requests": requests}, **extra}


def test_a_pods_containers_requests_are_summed():
    spec = {"containers": [container("250m", "256Mi"), container("1", "1Gi")]}
    assert pod_requests(spec) == (1250, 1280)


def test_a_larger_init_container_decides_the_request():
    spec = {"containers": [container("100m", "64Mi")], "initContainers": [container("2", "32Mi")]}
    assert pod_requests(spec) == (2000, 64)


def test_a_sidecar_init_container_runs_alongside_the_containers_and_the_init_containers_after_it():
    sidecar = container("100m", "100Mi", restartPolicy="Always")
    spec = {
        "containers": [container("200m", "200Mi")],
        "initContainers": [sidecar, container("500m", "50Mi")],
    }
    # containers + sidecar = 300m/300Mi; the second init container runs with the sidecar: 600m/150Mi
    assert pod_requests(spec) == (600, 300)


def test_the_runtime_class_overhead_is_added():
    spec = {"containers": [container("250m", "256Mi")], "overhead": {"cpu": "250m", "memory": "120Mi"}}
    assert pod_requests(spec) == (500, 376)


def test_a_container_with_limits_only_requests_its_limits_as_the_api_server_defaults_them():
    spec = {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}
    assert pod_requests(spec) == (1000, 1024)


def test_a_container_without_requests_requests_nothing():
    assert pod_requests({"containers": [{"name": "c", "image": "x"}]}) == (0, 0)


def test_pod_level_requests_replace_the_containers_sum():
    spec = {"containers": [container("100m", "64Mi")], "resources": {"requests": {"cpu": "2"}}}
    assert pod_requests(spec) == (2000, 64)

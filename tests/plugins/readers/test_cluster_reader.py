"""The reader every runbook lists Kubernetes objects through: in chunks, never missing a page."""

from __future__ import annotations

import logging

from eks_runbooks.readers import cluster as cluster_reader
from eks_runbooks.readers.cluster import KubernetesReader
from eks_runbooks.readers.kube_client import eks_kubernetes_client


def every_pod(api_client) -> set[tuple[str, str]]:
    """(namespace, name) of every pod, read in one request."""
    from kubernetes.client import CoreV1Api

    return {
        (pod.metadata.namespace, pod.metadata.name) for pod in CoreV1Api(api_client).list_pod_for_all_namespaces().items
    }


def test_a_list_longer_than_one_chunk_is_read_whole(demo_fleet, monkeypatch):
    from kubernetes.client import CoreV1Api

    monkeypatch.setattr(cluster_reader, "LIST_CHUNK_SIZE", 2)
    with eks_kubernetes_client("payments-prod", region_name="us-east-1") as api_client:
        everything = every_pod(api_client)
        first_chunk = CoreV1Api(api_client).list_pod_for_all_namespaces(limit=2)
        listed = KubernetesReader(api_client).list("v1", "Pod")
    assert len(first_chunk.items) == 2 and first_chunk.metadata._continue  # the cluster pages as asked
    assert len(everything) > 2
    keys = [(pod["metadata"]["namespace"], pod["metadata"]["name"]) for pod in listed]
    assert len(keys) == len(everything) and set(keys) == everything  # every page, none twice
    assert {(pod["apiVersion"], pod["kind"]) for pod in listed} == {("v1", "Pod")}


class _Records(logging.Handler):
    """Every record that reaches the root logger (Airflow configures logging lazily, replacing caplog's handler)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_reading_a_cluster_logs_no_discovery_cache_error_and_leaves_no_cache_file(demo_fleet, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the Kubernetes client keeps its cache
    records = _Records()
    with eks_kubernetes_client("payments-prod", region_name="us-east-1") as api_client:
        logging.getLogger().addHandler(records)
        try:
            reader = KubernetesReader(api_client)
            assert reader.serves("policy/v1", "PodDisruptionBudget")
            assert reader.list("apps/v1", "Deployment")
            assert not reader.serves("policy/v1beta1", "PodDisruptionBudget")
        finally:
            logging.getLogger().removeHandler(records)
    assert [record.getMessage() for record in records.records if record.levelno >= logging.WARNING] == []
    assert list(tmp_path.iterdir()) == []


def test_a_list_by_path_is_read_whole_in_chunks_and_as_the_api_serves_it(demo_fleet, monkeypatch):
    from eks_runbooks.readers.cluster import list_objects

    monkeypatch.setattr(cluster_reader, "LIST_CHUNK_SIZE", 2)
    with eks_kubernetes_client("payments-prod", region_name="us-east-1") as api_client:
        everything = every_pod(api_client)
        listed = list_objects(api_client, "/api/v1/pods")
    keys = [(pod["metadata"]["namespace"], pod["metadata"]["name"]) for pod in listed]
    assert len(everything) > 2 and len(keys) == len(everything) and set(keys) == everything
    assert all("creationTimestamp" in pod["metadata"] for pod in listed)  # the wire's camelCase, not the models'

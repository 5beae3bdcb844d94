"""Controllers, scheduling, eviction and admission of the simulated cluster, seen through the API."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from eks_sandbox.kube.cluster import EvictionBlock, KubeCluster
from eks_sandbox.kube.disruption import EVICTION_REFUSED_MESSAGE


def _apply_deployment(cluster: KubeCluster, name: str, replicas: int, namespace: str = "default") -> dict:
    return cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "containers": [
                            {
                                "name": name,
                                "image": "nginx:1.25",
                                "readinessProbe": {"httpGet": {"path": "/", "port": 80}},
                            }
                        ]
                    },
                },
            },
        }
    )


def _apply_pdb(cluster: KubeCluster, name: str, app: str, **budget: int | str) -> dict:
    return cluster.apply(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": app}}, **budget},
        }
    )


def _pods(cluster: KubeCluster, selector: str) -> list[dict]:
    return cluster.list("v1", "Pod", "default", label_selector=selector)


def test_deployment_creates_replicaset_and_ready_pods_with_complete_status(kube, api_client: client.ApiClient):
    _apply_deployment(kube.cluster, "web", 3)
    deployment = client.AppsV1Api(api_client).read_namespaced_deployment("web", "default")
    assert (deployment.status.replicas, deployment.status.ready_replicas, deployment.status.available_replicas) == (
        3,
        3,
        3,
    )
    assert {c.type: c.status for c in deployment.status.conditions} == {"Available": "True", "Progressing": "True"}
    assert deployment.spec.strategy.rolling_update.max_unavailable == "25%"
    replica_sets = client.AppsV1Api(api_client).list_namespaced_replica_set("default").items
    assert len(replica_sets) == 1
    assert replica_sets[0].metadata.owner_references[0].name == "web"
    pods = client.CoreV1Api(api_client).list_namespaced_pod("default", label_selector="app=web").items
    assert {p.metadata.labels["pod-template-hash"] for p in pods} == {
        replica_sets[0].metadata.labels["pod-template-hash"]
    }
    assert all(p.status.phase == "Running" and p.status.container_statuses[0].ready for p in pods)


def test_rollout_restart_replaces_every_pod_through_a_new_replicaset(kube, api_client: client.ApiClient):
    _apply_deployment(kube.cluster, "web", 2)
    before = {p["metadata"]["name"] for p in _pods(kube.cluster, "app=web")}
    apps = client.AppsV1Api(api_client)
    apps.patch_namespaced_deployment(
        "web",
        "default",
        {
            "spec": {
                "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2025-05-01T10:00:00Z"}}}
            }
        },
    )

    after = _pods(kube.cluster, "app=web")
    assert len(after) == 2
    assert before.isdisjoint({p["metadata"]["name"] for p in after})
    replica_sets = {
        rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs.spec.replicas
        for rs in apps.list_namespaced_replica_set("default").items
    }
    assert replica_sets == {"1": 0, "2": 2}
    assert (
        apps.read_namespaced_deployment("web", "default").metadata.annotations["deployment.kubernetes.io/revision"]
        == "2"
    )


def test_deleting_a_deployment_garbage_collects_its_replicasets_and_pods(kube):
    _apply_deployment(kube.cluster, "web", 2)
    assert kube.cluster.delete("apps/v1", "Deployment", "web", "default")
    assert kube.cluster.list("apps/v1", "ReplicaSet", "default") == []
    assert _pods(kube.cluster, "app=web") == []


def test_daemonset_runs_one_pod_per_node_including_cordoned_and_new_nodes(kube, worker, api_client: client.ApiClient):
    kube.cluster.cordon("ip-10-0-1-10.ec2.internal")
    kube.cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "aws-node", "namespace": "kube-system"},
            "spec": {
                "selector": {"matchLabels": {"k8s-app": "aws-node"}},
                "template": {
                    "metadata": {"labels": {"k8s-app": "aws-node"}},
                    "spec": {"containers": [{"name": "aws-node", "image": "amazon-k8s-cni:v1.19.2"}]},
                },
            },
        }
    )
    worker(kube.cluster, "ip-10-0-2-20.ec2.internal")

    pods = kube.cluster.list("v1", "Pod", "kube-system", label_selector="k8s-app=aws-node")
    assert sorted(p["spec"]["nodeName"] for p in pods) == [
        "ip-10-0-1-10.ec2.internal",
        "ip-10-0-1-11.ec2.internal",
        "ip-10-0-1-12.ec2.internal",
        "ip-10-0-2-20.ec2.internal",
    ]
    status = client.AppsV1Api(api_client).read_namespaced_daemon_set("aws-node", "kube-system").status
    assert (
        status.desired_number_scheduled,
        status.current_number_scheduled,
        status.number_ready,
        status.number_misscheduled,
    ) == (4, 4, 4, 0)


def test_statefulset_pods_are_numbered(kube):
    kube.cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {
                "replicas": 3,
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": {
                    "metadata": {"labels": {"app": "db"}},
                    "spec": {"containers": [{"name": "db", "image": "postgres:16"}]},
                },
            },
        }
    )
    assert sorted(p["metadata"]["name"] for p in _pods(kube.cluster, "app=db")) == ["db-0", "db-1", "db-2"]
    assert kube.cluster.get("apps/v1", "StatefulSet", "db", "default")["status"]["readyReplicas"] == 3


def test_eviction_is_refused_with_429_by_a_pdb_with_max_unavailable_zero_and_allowed_at_one(
    kube, api_client: client.ApiClient
):
    _apply_deployment(kube.cluster, "web", 3)
    _apply_pdb(kube.cluster, "web", "web", maxUnavailable=0)
    pdb = client.PolicyV1Api(api_client).read_namespaced_pod_disruption_budget("web", "default")
    assert (
        pdb.status.current_healthy,
        pdb.status.desired_healthy,
        pdb.status.disruptions_allowed,
        pdb.status.expected_pods,
    ) == (3, 3, 0, 3)
    victim = _pods(kube.cluster, "app=web")[0]["metadata"]["name"]
    eviction = client.V1Eviction(metadata=client.V1ObjectMeta(name=victim, namespace="default"))
    policy = client.PolicyV1Api(api_client)

    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(api_client).create_namespaced_pod_eviction(victim, "default", eviction)
    assert refused.value.status == 429
    body = json.loads(refused.value.body)
    assert (body["reason"], body["message"]) == ("TooManyRequests", EVICTION_REFUSED_MESSAGE)
    assert body["details"]["causes"][0]["reason"] == "DisruptionBudget"

    policy.patch_namespaced_pod_disruption_budget("web", "default", {"spec": {"maxUnavailable": 1}})
    client.CoreV1Api(api_client).create_namespaced_pod_eviction(victim, "default", eviction)
    remaining = [p["metadata"]["name"] for p in _pods(kube.cluster, "app=web")]
    assert victim not in remaining and len(remaining) == 3


def test_min_available_percentage_rounds_up(kube):
    _apply_deployment(kube.cluster, "web", 3)
    _apply_pdb(kube.cluster, "web", "web", minAvailable="50%")
    status = kube.cluster.get("policy/v1", "PodDisruptionBudget", "web", "default")["status"]
    assert (status["desiredHealthy"], status["disruptionsAllowed"]) == (2, 1)


def test_evict_pods_skips_daemonset_pods_and_reports_budget_blocks(kube):
    node = "ip-10-0-1-10.ec2.internal"
    _apply_deployment(kube.cluster, "web", 3)
    _apply_deployment(kube.cluster, "batch", 3)
    _apply_pdb(kube.cluster, "web-strict", "web", maxUnavailable=0)
    kube.cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "spec": {
                "selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                "template": {
                    "metadata": {"labels": {"k8s-app": "kube-proxy"}},
                    "spec": {"containers": [{"name": "kube-proxy", "image": "kube-proxy:v1.31.3"}]},
                },
            },
        }
    )
    web_on_node = [p["metadata"]["name"] for p in _pods(kube.cluster, "app=web") if p["spec"]["nodeName"] == node]
    kube.cluster.cordon(node)

    blocks = kube.cluster.evict_pods(node)

    assert blocks == [EvictionBlock("default", name, "web-strict") for name in web_on_node]
    left = {p["metadata"]["name"] for p in kube.cluster.list("v1", "Pod", field_selector=f"spec.nodeName={node}")}
    assert left == set(web_on_node) | {
        p["metadata"]["name"] for p in kube.cluster.list("v1", "Pod", "kube-system") if p["spec"]["nodeName"] == node
    }
    assert len(_pods(kube.cluster, "app=batch")) == 3


def test_deleting_a_node_reschedules_deployment_pods_on_the_others(kube):
    _apply_deployment(kube.cluster, "web", 3)
    kube.cluster.delete_node("ip-10-0-1-10.ec2.internal")
    pods = _pods(kube.cluster, "app=web")
    assert len(pods) == 3
    assert {p["spec"]["nodeName"] for p in pods} == {"ip-10-0-1-11.ec2.internal", "ip-10-0-1-12.ec2.internal"}
    assert all(p["status"]["phase"] == "Running" for p in pods)


def test_pods_stay_pending_without_a_schedulable_node_until_one_joins(kube, worker):
    for index in range(3):
        kube.cluster.cordon(f"ip-10-0-1-{10 + index}.ec2.internal")
    _apply_deployment(kube.cluster, "web", 2)
    pending = _pods(kube.cluster, "app=web")
    assert {p["status"]["phase"] for p in pending} == {"Pending"}
    scheduled = next(c for c in pending[0]["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")

    worker(kube.cluster, "ip-10-0-3-30.ec2.internal")
    running = _pods(kube.cluster, "app=web")
    assert {(p["status"]["phase"], p["spec"]["nodeName"]) for p in running} == {
        ("Running", "ip-10-0-3-30.ec2.internal")
    }


def test_pod_mutators_admit_api_and_controller_pods(kube, api_client: client.ApiClient):
    def inject_irsa(cluster: KubeCluster, pod: dict) -> None:
        for container in pod["spec"]["containers"]:
            container.setdefault("env", []).append(
                {"name": "AWS_ROLE_ARN", "value": f"arn:aws:iam::111122223333:role/{cluster.name}"}
            )

    kube.cluster.pod_mutators.append(inject_irsa)
    _apply_deployment(kube.cluster, "web", 1)
    direct = client.CoreV1Api(api_client).create_namespaced_pod(
        "default", {"metadata": {"name": "direct"}, "spec": {"containers": [{"name": "main", "image": "busybox"}]}}
    )

    for pod in [direct.to_dict(), *_pods(kube.cluster, "app=web")]:
        env = [(var["name"], var["value"]) for var in pod["spec"]["containers"][0]["env"]]
        assert env == [("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/test")]


def _apply_sized_deployment(cluster: KubeCluster, name: str, replicas: int, cpu: str, memory: str) -> None:
    deployment = _apply_deployment(cluster, name, 0)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"requests": {"cpu": cpu, "memory": memory}}
    deployment["spec"]["replicas"] = replicas
    cluster.apply(deployment)


def test_pods_whose_requests_no_node_has_left_stay_pending_as_insufficient_cpu(kube):
    # Three 2-CPU nodes hold one 1500m pod each; the fourth does not fit anywhere (NodeResourcesFit).
    _apply_sized_deployment(kube.cluster, "big", 4, "1500m", "1Gi")
    pods = _pods(kube.cluster, "app=big")
    placed = sorted(p["spec"]["nodeName"] for p in pods if p["spec"].get("nodeName"))
    assert placed == ["ip-10-0-1-10.ec2.internal", "ip-10-0-1-11.ec2.internal", "ip-10-0-1-12.ec2.internal"]
    pending = [p for p in pods if not p["spec"].get("nodeName")]
    assert len(pending) == 1
    scheduled = next(c for c in pending[0]["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert "3 Insufficient cpu" in scheduled["message"]


def test_pods_without_requests_still_fit_beside_a_full_node(kube):
    _apply_sized_deployment(kube.cluster, "big", 3, "2", "1Gi")
    _apply_deployment(kube.cluster, "web", 6)
    assert all(p["spec"].get("nodeName") for p in _pods(kube.cluster, "app=web"))


def test_memory_requests_count_too(kube):
    _apply_sized_deployment(kube.cluster, "cache", 4, "100m", "5Gi")
    pods = _pods(kube.cluster, "app=cache")
    assert len([p for p in pods if p["spec"].get("nodeName")]) == 3
    pending = next(p for p in pods if not p["spec"].get("nodeName"))
    scheduled = next(c for c in pending["status"]["conditions"] if c["type"] == "PodScheduled")
    assert "3 Insufficient memory" in scheduled["message"]


def test_a_node_created_without_a_status_yet_does_not_stop_scheduling(kube):
    kube.cluster.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "ip-10-0-9-9.ec2.internal"}})
    _apply_sized_deployment(kube.cluster, "big", 1, "500m", "1Gi")
    assert [p["spec"].get("nodeName") for p in _pods(kube.cluster, "app=big")] != [None]


def test_pods_take_free_addresses_of_their_nodes_subnet_and_wait_when_it_has_none_left(kube):
    for index in range(3):
        kube.cluster.cordon(f"ip-10-0-1-{10 + index}.ec2.internal")
    # A /29: AWS reserves .0-.3 and .7, the node holds .4, which leaves .5 and .6 for pods.
    kube.cluster.add_node(
        "ip-10-0-64-4.ec2.internal",
        labels={"eks.amazonaws.com/nodegroup": "tight"},
        kubelet_version="v1.31.7-eks-4cb2c3f",
        capacity={"cpu": "2", "memory": "7935036Ki", "pods": "29"},
        provider_id="aws:///us-east-1a/i-0123456789abcdef0",
        subnet_cidr="10.0.64.0/29",
    )
    _apply_deployment(kube.cluster, "web", 3)
    pods = _pods(kube.cluster, "app=web")
    running = sorted(p["status"]["podIP"] for p in pods if p["status"]["phase"] == "Running")
    assert running == ["10.0.64.5", "10.0.64.6"]
    (waiting,) = [p for p in pods if p["status"]["phase"] != "Running"]
    assert waiting["spec"]["nodeName"] == "ip-10-0-64-4.ec2.internal" and "podIP" not in waiting["status"]
    # A pod that goes gives its address back: one of the two pods then waiting starts with it.
    gone = next(p for p in pods if p["status"]["phase"] == "Running")
    kube.cluster.delete_object(kube.cluster.resource_type("v1", "Pod")[0], "v1", "default", gone["metadata"]["name"])
    now = _pods(kube.cluster, "app=web")
    assert sorted((p["status"]["phase"], p["status"].get("podIP", "")) for p in now) == [
        ("Pending", ""),
        ("Running", "10.0.64.5"),
        ("Running", "10.0.64.6"),
    ]

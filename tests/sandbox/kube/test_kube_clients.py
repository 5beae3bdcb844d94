"""The official Python clients and kubectl against the simulated API server, over HTTPS with a token."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
from datetime import timedelta
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException


def _deployment(name: str, replicas: int = 2, containers: list[dict] | None = None) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": containers or [{"name": "web", "image": "nginx:1.25"}]},
            },
        },
    }


def test_typed_client_crud_on_namespaces_configmaps_and_pods(kube, api_client: client.ApiClient):
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="team-a")))
    core.create_namespaced_config_map(
        "team-a", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"mode": "blue"})
    )
    core.patch_namespaced_config_map("settings", "team-a", {"data": {"mode": "green"}})
    pod = core.create_namespaced_pod(
        "team-a",
        client.V1Pod(
            metadata=client.V1ObjectMeta(generate_name="worker-", labels={"app": "worker"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="busybox:1.36")]),
        ),
    )

    assert core.read_namespaced_config_map("settings", "team-a").data == {"mode": "green"}
    running = core.read_namespaced_pod(pod.metadata.name, "team-a")
    assert running.metadata.name.startswith("worker-")
    assert running.status.phase == "Running"
    assert running.spec.node_name.startswith("ip-10-0-1-")
    assert running.spec.service_account_name == "default"
    assert running.spec.containers[0].image_pull_policy == "IfNotPresent"
    assert running.status.container_statuses[0].ready is True
    assert {ns.metadata.name for ns in core.list_namespace().items} >= {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "team-a",
    }

    core.delete_namespaced_pod(pod.metadata.name, "team-a")
    core.delete_namespace("team-a")
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("settings", "team-a")
    assert missing.value.status == 404


def test_creating_in_a_missing_namespace_or_twice_fails_like_the_apiserver(api_client: client.ApiClient):
    core = client.CoreV1Api(api_client)
    body = {"metadata": {"name": "cfg"}, "data": {}}
    with pytest.raises(ApiException) as no_namespace:
        core.create_namespaced_config_map("nowhere", body)
    assert no_namespace.value.status == 404
    assert json.loads(no_namespace.value.body)["message"] == 'namespaces "nowhere" not found'
    core.create_namespaced_config_map("default", body)
    with pytest.raises(ApiException) as duplicate:
        core.create_namespaced_config_map("default", body)
    assert duplicate.value.status == 409
    assert json.loads(duplicate.value.body)["reason"] == "AlreadyExists"


def test_stale_resource_version_on_put_is_a_conflict(api_client: client.ApiClient):
    core = client.CoreV1Api(api_client)
    created = core.create_namespaced_config_map("default", {"metadata": {"name": "cfg"}, "data": {"a": "1"}})
    stale_version = created.metadata.resource_version
    created.data = {"a": "2"}
    core.replace_namespaced_config_map("cfg", "default", created)
    created.data = {"a": "3"}
    created.metadata.resource_version = stale_version
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("cfg", "default", created)
    assert conflict.value.status == 409
    assert json.loads(conflict.value.body)["reason"] == "Conflict"
    assert core.read_namespaced_config_map("cfg", "default").data == {"a": "2"}


def test_label_and_field_selectors_filter_pods(kube, api_client: client.ApiClient):
    apps = client.AppsV1Api(api_client)
    core = client.CoreV1Api(api_client)
    apps.create_namespaced_deployment("default", _deployment("web", replicas=3))
    apps.create_namespaced_deployment("default", _deployment("api", replicas=2))
    node = "ip-10-0-1-10.ec2.internal"

    def names(**selectors: str) -> set[str]:
        return {pod.metadata.labels["app"] for pod in core.list_pod_for_all_namespaces(**selectors).items}

    assert names(label_selector="app=web") == {"web"}
    assert names(label_selector="app in (web,api)") == {"web", "api"}
    assert names(label_selector="app notin (web)") == {"api"}
    assert names(label_selector="app,app!=api") == {"web"}
    assert names(label_selector="!app") == set()
    on_node = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
    assert on_node and {pod.spec.node_name for pod in on_node} == {node}
    assert len(core.list_namespaced_pod("default", field_selector="status.phase=Running").items) == 5
    kube.cluster.cordon(node)
    assert [n.metadata.name for n in core.list_node(field_selector="spec.unschedulable=true").items] == [node]


def test_merge_and_strategic_merge_patches_change_one_container_image(api_client: client.ApiClient):
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(
        "default",
        _deployment(
            "web", containers=[{"name": "web", "image": "nginx:1.25"}, {"name": "proxy", "image": "envoy:1.30"}]
        ),
    )

    # The typed client sends a dict body as a strategic merge patch: containers merge by name.
    apps.patch_namespaced_deployment(
        "web", "default", {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}
    )
    images = {c.name: c.image for c in apps.read_namespaced_deployment("web", "default").spec.template.spec.containers}
    assert images == {"web": "nginx:1.27", "proxy": "envoy:1.30"}

    # A JSON merge patch replaces the whole list, as RFC 7386 says.
    api_client.call_api(
        "/apis/apps/v1/namespaces/default/deployments/web",
        "PATCH",
        header_params={"Content-Type": "application/merge-patch+json", "Accept": "application/json"},
        body={"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}},
        auth_settings=["BearerToken"],
        response_types_map={200: "V1Deployment"},
        _return_http_data_only=True,
    )
    deployment = apps.read_namespaced_deployment("web", "default")
    assert [(c.name, c.image) for c in deployment.spec.template.spec.containers] == [("web", "nginx:1.28")]
    pods = client.CoreV1Api(api_client).list_namespaced_pod("default", label_selector="app=web").items
    assert {p.spec.containers[0].image for p in pods} == {"nginx:1.28"}
    assert deployment.status.updated_replicas == 2


def test_json_patch_and_scale_subresource(api_client: client.ApiClient):
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment("default", _deployment("web", replicas=2))
    apps.patch_namespaced_deployment(
        "web", "default", [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.26"}]
    )
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 4}})
    scale = apps.read_namespaced_deployment_scale("web", "default")
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (4, 4, "app=web")
    deployment = apps.read_namespaced_deployment("web", "default")
    assert deployment.spec.template.spec.containers[0].image == "nginx:1.26"
    assert deployment.status.ready_replicas == 4


def test_dynamic_client_serves_flowschema_v1beta3_until_1_32_and_v1_throughout(
    kube, api_client: client.ApiClient, tmp_path: Path
):
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import NotFoundError

    dynamic = DynamicClient(api_client, cache_file=str(tmp_path / "discovery.json"))
    beta = dynamic.resources.get(api_version="flowcontrol.apiserver.k8s.io/v1beta3", kind="FlowSchema")
    created = beta.create(
        body={
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3",
            "kind": "FlowSchema",
            "metadata": {"name": "runbook-exempt"},
            "spec": {"priorityLevelConfiguration": {"name": "exempt"}, "matchingPrecedence": 500},
        }
    )
    assert beta.get(name="runbook-exempt").metadata.uid == created.metadata.uid

    kube.cluster.set_version("1.32")

    with pytest.raises(NotFoundError):
        beta.get(name="runbook-exempt")
    ga = DynamicClient(api_client, cache_file=str(tmp_path / "after.json")).resources.get(
        api_version="flowcontrol.apiserver.k8s.io/v1", kind="FlowSchema"
    )
    through_v1 = ga.get(name="runbook-exempt")
    assert through_v1.apiVersion == "flowcontrol.apiserver.k8s.io/v1"
    assert through_v1.metadata.uid == created.metadata.uid
    groups = client.ApisApi(api_client).get_api_versions().groups
    flowcontrol = next(g for g in groups if g.name == "flowcontrol.apiserver.k8s.io")
    assert [v.version for v in flowcontrol.versions] == ["v1"]


def test_discovery_lists_subresources_and_drops_removed_versions(kube, api_client: client.ApiClient):
    core_resources = {r.name: r for r in client.CoreV1Api(api_client).get_api_resources().resources}
    eviction = core_resources["pods/eviction"]
    assert (eviction.group, eviction.version, eviction.kind) == ("policy", "v1", "Eviction")
    assert "po" in core_resources["pods"].short_names
    apps = {r.name for r in client.AppsV1Api(api_client).get_api_resources().resources}
    assert {"deployments/scale", "deployments/status", "daemonsets"} <= apps

    kube.cluster.set_version("1.24")
    assert _status_of(kube, "/apis/policy/v1beta1/poddisruptionbudgets") == 200
    kube.cluster.set_version("1.25")
    assert _status_of(kube, "/apis/policy/v1beta1/poddisruptionbudgets") == 404
    assert _status_of(kube, "/apis/policy/v1/poddisruptionbudgets/") == 200


def _status_of(kube, path: str) -> int:
    try:
        with kube.open(path) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_version_endpoint_follows_set_version(kube, api_client: client.ApiClient):
    version = client.VersionApi(api_client).get_code()
    assert (version.major, version.minor, version.platform) == ("1", "31", "linux/amd64")
    # The patch release is the calendar's (include/eks/kubernetes-versions.yaml), as DescribeClusterVersions says.
    assert version.git_version.startswith("v1.31.14-eks-")
    kube.cluster.set_version("1.32")
    upgraded = client.VersionApi(api_client).get_code()
    assert upgraded.minor == "32"
    assert upgraded.git_version.startswith("v1.32.")


def test_api_usage_counts_requests_per_group_version_resource_and_user_agent(kube):
    for _ in range(2):
        kube.open("/apis/autoscaling/v2/horizontalpodautoscalers", headers={"User-Agent": "velero/1.13"}).close()
    usage = kube.cluster.api_usage[("autoscaling", "v2", "horizontalpodautoscalers")]["velero/1.13"]
    assert usage.count == 2
    assert usage.last_request <= kube.cluster.clock.now()


@pytest.mark.wall_clock
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_kubectl_gets_nodes_with_kubelet_version_and_pods_in_all_namespaces(
    kube, api_client: client.ApiClient, tmp_path: Path
):
    client.AppsV1Api(api_client).create_namespaced_deployment("default", _deployment("web"))
    command = kube.kubectl_command(tmp_path)

    def kubectl(*args: str) -> str:
        result = subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    nodes = kubectl("get", "nodes")
    assert nodes.split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert "ip-10-0-1-10.ec2.internal" in nodes and "v1.31.7-eks-4cb2c3f" in nodes and "Ready" in nodes
    pods = kubectl("get", "pods", "-A")
    assert pods.split()[:6] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert pods.count("Running") == 2
    manifest = tmp_path / "api.yaml"
    manifest.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "runbook", "namespace": "default"},
                "data": {"a": "1"},
            }
        )
    )
    assert "configmap/runbook created" in kubectl("apply", "-f", str(manifest))
    kubectl("rollout", "restart", "deployment/web")
    kubectl("cordon", "ip-10-0-1-10.ec2.internal")
    assert "SchedulingDisabled" in kubectl("get", "node", "ip-10-0-1-10.ec2.internal")
    assert json.loads(kubectl("get", "deployment", "web", "-o", "json"))["spec"]["template"]["metadata"]["annotations"][
        "kubectl.kubernetes.io/restartedAt"
    ]


def test_typed_client_deserialises_workloads_and_cluster_objects_with_validation_on(kube, api_client: client.ApiClient):
    template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}
    for manifest in [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "s", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "serviceName": "s", "template": template},
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "cj", "namespace": "default"},
            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}},
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h", "namespace": "default"},
            "spec": {"maxReplicas": 3, "scaleTargetRef": {"kind": "Deployment", "name": "x"}},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "sh.helm.release.v1.x.v1", "namespace": "default"},
            "type": "helm.sh/release.v1",
            "data": {"release": "SDRzSQ=="},
        },
    ]:
        kube.cluster.apply(manifest)
    core = client.CoreV1Api(api_client)
    assert core.list_node().items[0].status.node_info.kubelet_version == "v1.31.7-eks-4cb2c3f"
    assert client.AppsV1Api(api_client).list_stateful_set_for_all_namespaces().items[0].status.ready_replicas == 1
    assert client.BatchV1Api(api_client).list_cron_job_for_all_namespaces().items[0].spec.concurrency_policy == "Allow"
    assert (
        client.AutoscalingV1Api(api_client)
        .list_horizontal_pod_autoscaler_for_all_namespaces()
        .items[0]
        .status.current_replicas
        == 0
    )
    assert core.list_namespaced_secret("default", field_selector="type=helm.sh/release.v1").items[0].type == (
        "helm.sh/release.v1"
    )
    assert [
        lease.spec.holder_identity
        for lease in client.CoordinationV1Api(api_client).list_namespaced_lease("kube-node-lease").items
    ] == [f"ip-10-0-1-{n}.ec2.internal" for n in (10, 11, 12)]
    assert {sa.metadata.namespace for sa in core.list_service_account_for_all_namespaces().items} == {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
    }


def test_lists_come_in_chunks_with_a_continue_token_as_kubectl_asks(kube, api_client: client.ApiClient):
    core = client.CoreV1Api(api_client)
    for index in range(5):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"chunk-{index}"}})
    names, token, pages = [], None, 0
    while True:
        page = core.list_namespaced_config_map("default", limit=2, _continue=token)
        names += [item.metadata.name for item in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == len(core.list_namespaced_config_map("default").items) - len(names)
    assert [name for name in names if name.startswith("chunk-")] == [f"chunk-{index}" for index in range(5)]
    assert pages >= 3 and len(names) == len(set(names))
    with pytest.raises(ApiException) as invalid:
        core.list_namespaced_config_map("default", limit=2, _continue="not-a-token")
    assert invalid.value.status == 400


def _certificate_signing_request(name: str, signer: str, usages: list[str]) -> dict:
    """A CSR as a client posts it (the request itself is a placeholder PEM: the sandbox signs nothing)."""
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K",
            "signerName": signer,
            "usages": usages,
        },
    }


def test_certificate_signing_requests_are_served_and_approved_through_approval(api_client: client.ApiClient):
    certificates = client.CertificatesV1Api(api_client)
    request = _certificate_signing_request(
        "node-csr-1", "kubernetes.io/kube-apiserver-client-kubelet", ["digital signature", "client auth"]
    )
    certificates.create_certificate_signing_request(request)
    assert [csr.metadata.name for csr in certificates.list_certificate_signing_request().items] == ["node-csr-1"]
    approved = {"type": "Approved", "status": "True", "reason": "Test", "message": "approved by the test"}
    certificates.replace_certificate_signing_request_approval(
        "node-csr-1", {**request, "status": {"conditions": [approved]}}
    )
    read = certificates.read_certificate_signing_request("node-csr-1")
    assert [(condition.type, condition.status) for condition in read.status.conditions] == [("Approved", "True")]
    assert read.spec.signer_name == "kubernetes.io/kube-apiserver-client-kubelet"


def test_an_approval_without_timestamps_gets_the_simulated_time_and_keeps_its_transition(kube, api_client):
    """kube-apiserver's approval strategy fills a condition's empty lastUpdateTime and lastTransitionTime with now,
    and keeps the transition of a condition of the same type and status (strategy.go populateConditionTimestamps)."""
    certificates = client.CertificatesV1Api(api_client)
    request = _certificate_signing_request("alice", "kubernetes.io/kube-apiserver-client", ["client auth"])
    certificates.create_certificate_signing_request(request)
    approved = {"type": "Approved", "status": "True", "reason": "Test", "message": "approved"}

    def approve() -> client.V1CertificateSigningRequestCondition:
        before = kube.cluster.clock.now().replace(microsecond=0)
        certificates.replace_certificate_signing_request_approval(
            "alice", {**request, "status": {"conditions": [approved]}}
        )
        (condition,) = certificates.read_certificate_signing_request("alice").status.conditions
        assert before <= condition.last_update_time <= kube.cluster.clock.now()
        return condition

    first = approve()
    assert first.last_transition_time == first.last_update_time
    kube.cluster.clock.skip(timedelta(hours=1))
    again = approve()
    assert again.last_update_time >= first.last_update_time + timedelta(hours=1)
    assert again.last_transition_time == first.last_transition_time

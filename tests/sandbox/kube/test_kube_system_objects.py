"""What every cluster holds from the start (PriorityClasses, gp2, the APF bootstrap configuration) and the
managedFields each write leaves, read over HTTP as clients read them."""

from __future__ import annotations

import json
import urllib.request

from kubernetes import client
from kubernetes.dynamic import DynamicClient

from eks_runbooks.readers.cluster import KubernetesReader, scan_removed_apis
from eks_sandbox.kube.cluster import KubeCluster

APF = "flowcontrol.apiserver.k8s.io"


def test_every_cluster_has_the_system_priority_classes(api_client: client.ApiClient):
    classes = {pc.metadata.name: pc.value for pc in client.SchedulingV1Api(api_client).list_priority_class().items}
    assert classes == {"system-cluster-critical": 2000000000, "system-node-critical": 2000001000}


def test_gp2_is_the_default_storage_class_only_on_clusters_created_below_1_30(kube, api_client: client.ApiClient):
    (gp2,) = client.StorageV1Api(api_client).list_storage_class().items
    assert (gp2.metadata.name, gp2.provisioner, gp2.volume_binding_mode) == (
        "gp2",
        "kubernetes.io/aws-ebs",
        "WaitForFirstConsumer",
    )
    assert not (gp2.metadata.annotations or {}).get("storageclass.kubernetes.io/is-default-class")
    older = KubeCluster("older", "1.29", kube.cluster.clock)
    annotations = older.get("storage.k8s.io/v1", "StorageClass", "gp2")["metadata"]["annotations"]
    assert annotations == {"storageclass.kubernetes.io/is-default-class": "true"}


def test_bootstrap_flow_control_objects_are_served_at_every_version_the_minor_serves(
    kube, api_client: client.ApiClient
):
    dynamic = DynamicClient(api_client)
    for version in ("v1", "v1beta3"):  # a 1.31 cluster serves both
        schemas = dynamic.resources.get(api_version=f"{APF}/{version}", kind="FlowSchema").get().items
        names = {fs.metadata.name for fs in schemas}
        assert {"exempt", "probes", "system-nodes", "service-accounts", "global-default", "catch-all"} <= names
        assert all(fs.metadata.annotations["apf.kubernetes.io/autoupdate-spec"] == "true" for fs in schemas)
    levels = dynamic.resources.get(api_version=f"{APF}/v1", kind="PriorityLevelConfiguration").get().items
    workload_low = next(level for level in levels if level.metadata.name == "workload-low")
    assert workload_low.spec.limited.nominalConcurrencyShares == 100
    # v1beta2 (served until 1.28) spells the shares assuredConcurrencyShares.
    old = KubeCluster("old", "1.28", kube.cluster.clock)
    (beta2,) = [
        pl for pl in old.list(f"{APF}/v1beta2", "PriorityLevelConfiguration") if pl["metadata"]["name"] == "system"
    ]
    assert beta2["spec"]["limited"]["assuredConcurrencyShares"] == 30


def test_the_deprecation_scan_skips_the_built_ins_and_finds_a_users_flow_schema(kube, api_client: client.ApiClient):
    kube.cluster.apply(
        {
            "apiVersion": f"{APF}/v1beta3",
            "kind": "FlowSchema",
            "metadata": {"name": "analytics-batch"},
            "spec": {"priorityLevelConfiguration": {"name": "workload-low"}, "matchingPrecedence": 1000},
        }
    )
    findings = scan_removed_apis(KubernetesReader(api_client), current_version="1.31", target_version="1.32")
    assert [(finding.kind, finding.name) for finding in findings] == [("FlowSchema", "analytics-batch")]


def _request(kube, method: str, path: str, body: dict | list, content_type: str = "application/json") -> dict:
    request = urllib.request.Request(
        kube.url + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={
            "Authorization": f"Bearer {kube.token}",
            "Content-Type": content_type,
            "User-Agent": "kubectl/v1.32.0",
        },
    )
    with urllib.request.urlopen(request, context=kube.ssl_context) as response:
        return json.loads(response.read())


def test_managed_fields_record_manager_operation_and_the_api_version_of_each_write(kube):
    flow_schema = {
        "apiVersion": f"{APF}/v1beta3",
        "kind": "FlowSchema",
        "metadata": {"name": "batch"},
        "spec": {"priorityLevelConfiguration": {"name": "workload-low"}, "matchingPrecedence": 1000},
    }
    created = _request(kube, "POST", f"/apis/{APF}/v1beta3/flowschemas", flow_schema)
    (entry,) = created["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"], entry["fieldsType"]) == (
        "kubectl",
        "Update",
        f"{APF}/v1beta3",
        "FieldsV1",
    )
    assert entry["fieldsV1"]["f:spec"]["f:matchingPrecedence"] == {}
    patched = _request(
        kube,
        "PATCH",
        f"/apis/{APF}/v1/flowschemas/batch?fieldManager=helm",
        {"spec": {"matchingPrecedence": 900}},
        "application/merge-patch+json",
    )
    entries = {(e["manager"], e["apiVersion"]) for e in patched["metadata"]["managedFields"]}
    assert entries == {("kubectl", f"{APF}/v1beta3"), ("helm", f"{APF}/v1")}
    # The bootstrap objects carry the apiserver's APF manager.
    exempt = kube.cluster.get(f"{APF}/v1", "FlowSchema", "exempt")
    assert exempt["metadata"]["managedFields"][0]["manager"] == "api-priority-and-fairness-config-producer-v1"


HPA = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 3,
    },
}


def _fields_of(obj: dict, manager: str) -> dict:
    (entry,) = [e for e in obj["metadata"]["managedFields"] if e["manager"] == manager]
    return entry["fieldsV1"]


def test_a_patch_records_the_fields_it_sent_not_the_whole_object(kube):
    hpas = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
    _request(kube, "POST", hpas, HPA)
    # What ``kubectl label hpa web bb=1`` sends: its entry owns that label, not the spec the object holds.
    labelled = _request(
        kube,
        "PATCH",
        f"{hpas}/web?fieldManager=kubectl-label",
        {"metadata": {"labels": {"bb": "1"}}},
        "application/strategic-merge-patch+json",
    )
    assert _fields_of(labelled, "kubectl-label") == {"f:metadata": {"f:labels": {"f:bb": {}}}}
    assert "f:spec" in _fields_of(labelled, "kubectl"), "the creator's entry keeps what the creation sent"
    # A JSON patch owns the paths it adds or replaces; what it removes or tests is not owned.
    patched = _request(
        kube,
        "PATCH",
        f"{hpas}/web?fieldManager=tuner",
        [
            {"op": "test", "path": "/spec/minReplicas", "value": 1},
            {"op": "add", "path": "/metadata/annotations", "value": {"owner": "team-a"}},
            {"op": "replace", "path": "/spec/maxReplicas", "value": 5},
            {"op": "remove", "path": "/metadata/labels/bb"},
        ],
        "application/json-patch+json",
    )
    assert _fields_of(patched, "tuner") == {
        "f:metadata": {"f:annotations": {"f:owner": {}}},
        "f:spec": {"f:maxReplicas": {}},
    }
    # A patch that only deletes sets no field: no entry for its manager.
    unlabelled = _request(
        kube,
        "PATCH",
        f"{hpas}/web?fieldManager=kubectl-annotate",
        {"metadata": {"annotations": {"owner": None}}},
        "application/merge-patch+json",
    )
    assert "owner" not in unlabelled["metadata"].get("annotations", {})
    assert unlabelled["metadata"]["managedFields"] == patched["metadata"]["managedFields"]


def test_endpoint_slices_follow_the_pods_a_service_selects(kube, api_client: client.ApiClient):
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        "default",
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        containers=[
                            client.V1Container(
                                name="web",
                                image="nginx:1.27",
                                ports=[client.V1ContainerPort(name="http", container_port=8080)],
                            )
                        ]
                    ),
                ),
            ),
        ),
    )
    core.create_namespaced_service(
        "default",
        client.V1Service(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1ServiceSpec(
                selector=labels, ports=[client.V1ServicePort(name="http", port=80, target_port="http")]
            ),
        ),
    )
    discovery = client.DiscoveryV1Api(api_client)
    (web,) = discovery.list_namespaced_endpoint_slice("default", label_selector="kubernetes.io/service-name=web").items
    assert web.metadata.labels["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
    assert [(port.name, port.port) for port in web.ports] == [("http", 8080)]
    assert len(web.endpoints) == 2 and all(e.conditions.ready and e.target_ref.kind == "Pod" for e in web.endpoints)
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 3}})
    (web,) = discovery.list_namespaced_endpoint_slice("default", label_selector="kubernetes.io/service-name=web").items
    assert len(web.endpoints) == 3
    core.delete_namespaced_service("web", "default")
    assert not discovery.list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=web"
    ).items
    (api,) = discovery.list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=kubernetes"
    ).items
    assert api.ports[0].port == 443

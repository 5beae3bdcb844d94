from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from eks_sandbox.kube import openapi, schemas
from eks_sandbox.kube.resources import load_catalogue

OPENAPI_V2_GAP = "kubectl 1.28 and earlier read /openapi/v2 (protobuf) before explaining; only /openapi/v3 is served"
META = "io.k8s.apimachinery."
#: Every core kind: the types they reach are k8s.io/api/core/v1.
CORE_KINDS = ("Pod", "PodTemplate", "ReplicationController", "Service", "Node", "Namespace", "PersistentVolume")
CORE_KINDS += ("PersistentVolumeClaim", "ConfigMap", "Secret", "ServiceAccount", "Endpoints", "Event", "LimitRange")
CORE_KINDS += ("ResourceQuota",)


def _schemas(kube, group_version: str) -> dict:
    index = json.load(kube.open("/openapi/v3"))
    with kube.open(index["paths"][group_version]["serverRelativeURL"]) as response:
        return json.load(response)["components"]["schemas"]


def test_apps_v1_document_describes_deployment_with_its_gvk_and_fields(kube):
    components = _schemas(kube, "apis/apps/v1")
    deployment = components["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert deployment["properties"]["spec"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}
    ]
    replicas = components["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["replicas"]
    assert replicas["type"] == "integer" and replicas["description"].startswith("Number of desired pods.")
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in components
    containers = components["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name" and containers["x-kubernetes-patch-strategy"] == "merge"
    ports = components["io.k8s.api.core.v1.Container"]["properties"]["ports"]
    assert ports["x-kubernetes-patch-merge-key"] == "containerPort"


def test_a_document_holds_only_the_kinds_served_at_the_clusters_minor(kube):
    kinds = {
        gvk["kind"]
        for schema in _schemas(kube, "apis/batch/v1").values()
        for gvk in schema.get("x-kubernetes-group-version-kind", [])
    }
    served = {
        resource_type.kind for resource_type in kube.cluster.catalogue.served_in("batch", "v1", kube.cluster.minor)
    }
    assert kinds == served == {"Job", "CronJob"}


def _closure(roots: list[str]) -> set[str]:
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in seen or schemas._is_meta(name):
            continue
        seen.add(name)
        for field in schemas._model(name) or ():
            referenced = schemas._referenced(field.type)
            if referenced and schemas._model(referenced) is not None:
                pending.append(referenced)
    return seen


def test_each_type_is_named_in_core_exactly_when_the_core_kinds_reach_it():
    # TopologySelectorTerm is declared in core/v1 but only StorageClass uses it.
    core = _closure([schemas.kind_model("", "v1", kind) for kind in CORE_KINDS] + ["V1TopologySelectorTerm"])
    for resource_type in load_catalogue().types:
        for version in resource_type.versions:
            root = schemas.kind_model(resource_type.group, version, resource_type.kind)
            if root is None:
                continue
            expected = {
                schemas._schema_name(name, "" if name in core else resource_type.group) for name in _closure([root])
            }
            expected = {name for name in expected if not name.startswith(META)}
            published = set(schemas.kind_schemas(resource_type.group, version, resource_type.kind))
            assert {name for name in published if not name.startswith(META)} == expected, resource_type.kind


@pytest.mark.wall_clock
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_client_side_apply_merges_containers_on_their_name_from_the_published_schema(kube, tmp_path: Path):
    # kubectl 1.33 builds the patch from /openapi/v3 (1.31 reads /openapi/v2, not served, then its own types).
    kube.cluster.set_version("1.33")
    command = kube.kubectl_command(tmp_path)
    manifest = tmp_path / "web.json"

    def apply(sidecar_image: str) -> None:
        containers = [{"name": "web", "image": "web:1"}, {"name": "proxy", "image": sidecar_image}]
        template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}
        spec = {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template}
        body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"}}
        manifest.write_text(json.dumps({**body, "spec": spec}))
        result = subprocess.run([*command, "apply", "-f", str(manifest)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr

    apply("proxy:1")
    apply("proxy:2")
    deployment = kube.cluster.get("apps/v1", "Deployment", "web", "default")
    images = {c["name"]: c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert images == {"web": "web:1", "proxy": "proxy:2"}


@pytest.mark.wall_clock
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
@pytest.mark.parametrize(
    "version",
    [
        pytest.param("1.27", marks=pytest.mark.xfail(strict=True, reason=OPENAPI_V2_GAP)),
        pytest.param("1.28", marks=pytest.mark.xfail(strict=True, reason=OPENAPI_V2_GAP)),
        "1.29",
        "1.33",
    ],
)
def test_kubectl_of_each_minor_explains_a_deployments_strategy(kube, tmp_path: Path, version: str):
    kube.cluster.set_version(version)
    result = subprocess.run(
        [*kube.kubectl_command(tmp_path), "explain", "deployment.spec.strategy"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "rollingUpdate" in result.stdout and "Recreate" in result.stdout


def test_a_documents_hash_changes_with_the_release_its_schemas_come_from(kube, monkeypatch: pytest.MonkeyPatch):
    def url() -> str:
        return json.load(kube.open("/openapi/v3"))["paths"]["apis/apps/v1"]["serverRelativeURL"]

    before = url()
    monkeypatch.setattr(openapi, "models_release", lambda: "0.0.0")
    assert url() != before

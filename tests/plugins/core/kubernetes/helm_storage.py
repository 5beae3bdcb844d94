"""A tiny Helm 3 storage encoder for tests: what `helm install` leaves in the release namespace.

Kept here rather than imported from the simulator: the product's tests must not depend on the sandbox, and a
second, independent encoder checks the decoder against Helm's format rather than against our own simulator.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import yaml


def manifest(*objects: dict[str, Any]) -> str:
    """Rendered multi-document YAML, with the `# Source:` comments Helm writes."""
    return "".join(
        f"---\n# Source: chart/templates/{index}.yaml\n" + yaml.safe_dump(obj, sort_keys=False)
        for index, obj in enumerate(objects)
    )


def release_document(
    name: str,
    revision: int,
    objects: tuple[dict[str, Any], ...] = (),
    *,
    namespace: str = "payments",
    status: str = "deployed",
    chart: str = "ledger",
    chart_version: str = "1.2.0",
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "version": revision,
        "info": {"status": status},
        "chart": {"metadata": {"name": chart, "version": chart_version, "apiVersion": "v2"}},
        "manifest": manifest(*objects),
    }


def helm_encode(document: Any, *, gzipped: bool = True) -> str:
    """JSON → gzip → base64, as Helm's storage drivers encode a release."""
    raw = json.dumps(document).encode()
    return base64.b64encode(gzip.compress(raw) if gzipped else raw).decode()


def helm_secret(name: str, revision: int, *objects: dict[str, Any], **release: Any) -> dict[str, Any]:
    """The Secret driver's object: Helm-encoded release, base64 again as every Secret value is."""
    document = release_document(name, revision, objects, **release)
    return secret_holding(helm_encode(document), name, revision, document["namespace"], document["info"]["status"])


def secret_holding(helm_encoded: str, name: str, revision: int, namespace: str, status: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": f"sh.helm.release.v1.{name}.v{revision}",
            "namespace": namespace,
            "labels": {"name": name, "owner": "helm", "status": status, "version": str(revision)},
        },
        "data": {"release": base64.b64encode(helm_encoded.encode()).decode()},
    }


def helm_configmap(name: str, revision: int, *objects: dict[str, Any], **release: Any) -> dict[str, Any]:
    """The ConfigMap driver's object (HELM_DRIVER=configmap): the Helm-encoded release as is."""
    document = release_document(name, revision, objects, **release)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{name}.v{revision}",
            "namespace": document["namespace"],
            "labels": {"name": name, "owner": "helm", "status": document["info"]["status"], "version": str(revision)},
        },
        "data": {"release": helm_encode(document)},
    }


def k8s_object(api_version: str, kind: str, name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **extra}


def with_last_applied(obj: dict[str, Any], applied: dict[str, Any] | str) -> dict[str, Any]:
    """``obj`` carrying a kubectl last-applied annotation (a dict is serialised; a string is used as is)."""
    text = applied if isinstance(applied, str) else json.dumps(applied)
    metadata = {**obj["metadata"], "annotations": {"kubectl.kubernetes.io/last-applied-configuration": text}}
    return {**obj, "metadata": metadata}

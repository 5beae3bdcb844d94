"""``/openapi/v3``: what ``kubectl explain``, ``kubectl apply`` and ``kubectl create`` read.

kubectl downloads OpenAPI before it writes: it looks for the ``fieldValidation`` query parameter on each
kind's PATCH operation to hand validation to the server, and (kubectl 1.33) reads the
``x-kubernetes-patch-merge-key`` of list fields to build client-side apply's strategic merge patches when the
PATCH operation accepts them. ``kubectl explain`` finds a kind by the
``x-kubernetes-group-version-kind`` of its schema and prints the fields' descriptions. So each group/version
document lists the PATCH operation of every kind the cluster serves at its minor and the schemas of those kinds
and of the types they reference (``schemas.py``); other operations are not listed. Documents are built on first
request and cached per group, version and minor.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from eks_sandbox.kube.resources import Catalogue
from eks_sandbox.kube.schemas import kind_schemas, models_release

_WRITE_PARAMETERS = ("dryRun", "fieldManager", "fieldValidation")
_PATCH = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
#: The patch formats a PATCH operation accepts; kubectl builds client-side apply's strategic merge patch from the
#: document's schemas only when the kind's PATCH lists ``application/strategic-merge-patch+json``.
_PATCH_BODY = {
    "content": {
        media_type: {"schema": {"$ref": f"#/components/schemas/{_PATCH}"}}
        for media_type in (
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
        )
    },
    "required": True,
}


def openapi_index(catalogue: Catalogue, minor: tuple[int, int]) -> dict[str, Any]:
    """``GET /openapi/v3``: one document per served group/version, addressed relative to the server.

    kubectl caches each document under its URL, so the hash changes with what the document holds: the kinds
    served and the release of the models their schemas come from (not a digest of the document, which would
    build every document on the first request).
    """
    paths = {}
    for group, versions in catalogue.group_versions(minor).items():
        for version in versions:
            key = f"apis/{group}/{version}" if group else f"api/{version}"
            kinds = ",".join(resource_type.kind for resource_type in catalogue.served_in(group, version, minor))
            digest = hashlib.sha256(f"{key}@{minor}:{kinds}:{models_release()}".encode()).hexdigest()[:16].upper()
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}


def openapi_group_version(
    catalogue: Catalogue, group: str, version: str, minor: tuple[int, int]
) -> dict[str, Any] | None:
    """``GET /openapi/v3/apis/<group>/<version>``: the PATCH operation and the schema of every served kind."""
    served = catalogue.served_in(group, version, minor)
    if not served:
        return None
    return _document(
        tuple((resource_type.kind, resource_type.resource, resource_type.namespaced) for resource_type in served),
        group,
        version,
        minor,
    )


@functools.cache
def _document(
    served: tuple[tuple[str, str, bool], ...], group: str, version: str, minor: tuple[int, int]
) -> dict[str, Any]:
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    paths = {}
    schemas: dict[str, Any] = {
        _PATCH: {
            "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
            "type": "object",
        }
    }
    for kind, resource, namespaced in served:
        schemas.update(kind_schemas(group, version, kind))
        scope = "/namespaces/{namespace}" if namespaced else ""
        paths[f"{prefix}{scope}/{resource}/{{name}}"] = {
            "patch": {
                "operationId": f"patch{kind}",
                "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": kind},
                "x-kubernetes-action": "patch",
                "parameters": [
                    {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                    for name in _WRITE_PARAMETERS
                ],
                "requestBody": _PATCH_BODY,
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": f"v{minor[0]}.{minor[1]}"},
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }

"""A minimal ``/openapi/v3``: enough for ``kubectl apply`` and ``kubectl create`` to run.

kubectl downloads OpenAPI before it writes: it looks for the ``fieldValidation`` query parameter on each
kind's PATCH operation to hand validation to the server, and falls back to its compiled-in types to build
strategic merge patches when no schema is published. So the documents list operations, not schemas:
``kubectl explain`` is not supported.
"""

from __future__ import annotations

import hashlib
from typing import Any

from eks_sandbox.kube.resources import Catalogue

_WRITE_PARAMETERS = ("dryRun", "fieldManager", "fieldValidation")


def openapi_index(catalogue: Catalogue, minor: tuple[int, int]) -> dict[str, Any]:
    """``GET /openapi/v3``: one document per served group/version, addressed relative to the server."""
    paths = {}
    for group, versions in catalogue.group_versions(minor).items():
        for version in versions:
            key = f"apis/{group}/{version}" if group else f"api/{version}"
            digest = hashlib.sha256(f"{key}@{minor}".encode()).hexdigest()[:16].upper()
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}


def openapi_group_version(
    catalogue: Catalogue, group: str, version: str, minor: tuple[int, int]
) -> dict[str, Any] | None:
    """``GET /openapi/v3/apis/<group>/<version>``: the PATCH operation of every served kind."""
    served = catalogue.served_in(group, version, minor)
    if not served:
        return None
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    paths = {}
    for resource_type in served:
        scope = "/namespaces/{namespace}" if resource_type.namespaced else ""
        paths[f"{prefix}{scope}/{resource_type.resource}/{{name}}"] = {
            "patch": {
                "operationId": f"patch{resource_type.kind}",
                "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": resource_type.kind},
                "x-kubernetes-action": "patch",
                "parameters": [
                    {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                    for name in _WRITE_PARAMETERS
                ],
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": f"v{minor[0]}.{minor[1]}"},
        "paths": paths,
        "components": {"schemas": {}},
    }

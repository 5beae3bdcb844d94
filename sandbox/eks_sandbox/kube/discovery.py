"""Legacy API discovery documents: ``/api``, ``/apis``, ``/apis/<group>`` and the APIResourceLists.

Only what the cluster's version serves is listed, so discovery-driven clients (kubectl, the dynamic client,
Helm) see an API disappear at the same minor where kube-apiserver stops serving it. kubectl 1.32 asks for
aggregated discovery first and falls back to these documents when the answer is plain ``application/json``.
"""

from __future__ import annotations

from typing import Any

from eks_sandbox.kube.resources import Catalogue, ResourceType


def api_versions(server_address: str) -> dict[str, Any]:
    """``GET /api``: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group(group: str, versions: list[str]) -> dict[str, Any]:
    """``GET /apis/<group>``: served versions, the preferred one first."""
    listed = [{"groupVersion": f"{group}/{version}", "version": version} for version in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": listed, "preferredVersion": listed[0]}


def api_group_list(catalogue: Catalogue, minor: tuple[int, int]) -> dict[str, Any]:
    """``GET /apis``: every named group with at least one version served at ``minor``."""
    groups = [api_group(group, versions) for group, versions in catalogue.group_versions(minor).items() if group]
    for group in groups:
        del group["kind"], group["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(catalogue: Catalogue, group: str, version: str, minor: tuple[int, int]) -> dict[str, Any] | None:
    """``GET /api/v1`` or ``/apis/<group>/<version>``; None when that group/version is not served."""
    served = catalogue.served_in(group, version, minor)
    if not served:
        return None
    resources: list[dict[str, Any]] = []
    for resource_type in served:
        resources.append(_resource_entry(resource_type))
        resources.extend(_subresource_entries(resource_type))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _resource_entry(resource_type: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": resource_type.resource,
        "singularName": resource_type.singular,
        "namespaced": resource_type.namespaced,
        "kind": resource_type.kind,
        "verbs": list(resource_type.verbs),
    }
    if resource_type.short_names:
        entry["shortNames"] = list(resource_type.short_names)
    if resource_type.categories:
        entry["categories"] = list(resource_type.categories)
    return entry


def _subresource_entries(resource_type: ResourceType) -> list[dict[str, Any]]:
    entries = []
    for sub in resource_type.subresources:
        entry: dict[str, Any] = {
            "name": f"{resource_type.resource}/{sub.name}",
            "singularName": "",
            "namespaced": resource_type.namespaced,
            "kind": sub.kind or resource_type.kind,
            "verbs": list(sub.verbs),
        }
        # kubectl drain finds the Eviction version to use from these two fields of pods/eviction.
        if sub.group is not None:
            entry["group"] = sub.group
        if sub.version is not None:
            entry["version"] = sub.version
        entries.append(entry)
    return entries

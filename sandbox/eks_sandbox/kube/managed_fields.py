"""``metadata.managedFields``: which manager wrote an object, how, through which apiVersion and when.

kube-apiserver keeps one entry per manager and operation — and, for ``Update``, per apiVersion, since
``BuildManagerIdentifier`` clears the apiVersion only of ``Apply`` entries (k8s.io/apiserver
pkg/endpoints/handlers/fieldmanager/internal/managedfields.go). So an object once written through a removed
apiVersion keeps that entry until the manager's fields move on: what a deprecation scan can read. The field
sets are simplified: every field the write sent (for a patch, the fields the patch itself names, not the whole
object it leaves), with list items keyed by ``name`` where they have one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: Metadata fields the apiserver sets itself; they never appear in a field set.
_SERVER_FIELDS = frozenset(
    {"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink", "deletionTimestamp"}
)


@dataclass(frozen=True)
class FieldManager:
    """Who writes: ``fieldManager`` of the request, else the User-Agent's program name, as the apiserver does."""

    name: str
    operation: str = "Update"

    @classmethod
    def from_request(cls, field_manager: str | None, user_agent: str, *, apply: bool = False) -> FieldManager:
        # The default manager is the user agent up to its first "/" (prefixFromUserAgent, handlers/rest.go).
        name = field_manager or user_agent.split("/", 1)[0] or "unknown"
        return cls(name[:128], "Apply" if apply else "Update")


def record_write(
    metadata: dict[str, Any],
    manager: FieldManager,
    api_version: str,
    written: dict[str, Any],
    now: str,
    subresource: str | None = None,
) -> None:
    """Add or refresh ``manager``'s entry in ``metadata['managedFields']`` for a write of ``written``."""
    entry: dict[str, Any] = {
        "manager": manager.name,
        "operation": manager.operation,
        "apiVersion": api_version,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": field_set({k: v for k, v in written.items() if k not in ("apiVersion", "kind")}),
    }
    if subresource:
        entry["subresource"] = subresource
    previous = [e for e in metadata.get("managedFields") or [] if _identity(e) == _identity(entry)]
    if not entry["fieldsV1"] or (previous and previous[0].get("fieldsV1") == entry["fieldsV1"]):
        # A write that sets no field (a patch that only deletes) or the same manager writing the same fields
        # again leaves managedFields as they were: the apiserver keeps no entry without fields.
        return
    entries = [e for e in metadata.get("managedFields") or [] if _identity(e) != _identity(entry)]
    metadata["managedFields"] = [*entries, entry]


def _identity(entry: dict[str, Any]) -> tuple[Any, ...]:
    api_version = entry.get("apiVersion") if entry.get("operation") == "Update" else None
    return entry.get("manager"), entry.get("operation"), api_version, entry.get("subresource")


def field_set(value: Any, top: bool = True) -> dict[str, Any]:
    """The FieldsV1 set of a JSON value: ``f:<field>`` for map keys, ``k:{"name":...}`` for named list items."""
    if isinstance(value, dict):
        fields: dict[str, Any] = {}
        for key, child in value.items():
            if top and key == "metadata":
                child = {k: v for k, v in (child or {}).items() if k not in _SERVER_FIELDS | {"name", "namespace"}}
                if not child:
                    continue
            fields[f"f:{key}"] = field_set(child, top=False)
        return fields
    if isinstance(value, list) and value and all(isinstance(item, dict) and "name" in item for item in value):
        return {
            "k:" + json.dumps({"name": item["name"]}, separators=(",", ":")): {".": {}, **field_set(item, top=False)}
            for item in value
        }
    return {}

"""List chunking: ``limit`` and ``continue``, as kube-apiserver pages a list (and kubectl asks for 500 at a time).

kube-apiserver returns at most ``limit`` objects in storage-key order (namespace, then name) and, when more are
left, a ``metadata.continue`` token — base64 of ``{"v": "meta.k8s.io/v1", "rv": <resourceVersion>, "start": <key>}``
— plus ``remainingItemCount``. The sandbox's token has the same shape; the next page lists the objects after
``start`` as they are now (etcd would serve the snapshot at ``rv``, and answer 410 Expired once compacted).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from eks_sandbox.kube.errors import KubeApiError


@dataclass(frozen=True)
class Chunk:
    items: list[dict[str, Any]]
    #: ``metadata`` fields of the list beyond resourceVersion: ``continue`` and ``remainingItemCount``, if any.
    metadata: dict[str, Any]


def chunk(items: list[dict[str, Any]], limit: str | None, token: str | None, resource_version: int) -> Chunk:
    """The page of ``items`` a request with ``limit`` and ``continue`` asks for."""
    ordered = sorted(items, key=_key)
    if token:
        start = _start_of(token)
        ordered = [item for item in ordered if _key(item) > start]
    size = _limit_of(limit)
    if size is None or len(ordered) <= size:
        return Chunk(ordered, {})
    page = ordered[:size]
    following = {"v": "meta.k8s.io/v1", "rv": resource_version, "start": "/".join(_key(page[-1])) + "\0"}
    encoded = base64.urlsafe_b64encode(json.dumps(following).encode()).decode()
    return Chunk(page, {"continue": encoded, "remainingItemCount": len(ordered) - size})


def _key(item: dict[str, Any]) -> tuple[str, str]:
    metadata = item["metadata"]
    return metadata.get("namespace", ""), metadata["name"]


def _limit_of(limit: str | None) -> int | None:
    """``limit`` as kube-apiserver reads it: absent, empty or not positive means no limit."""
    if not limit:
        return None
    try:
        value = int(limit)
    except ValueError:
        raise KubeApiError.bad_request(f'invalid value for limit: "{limit}"') from None
    return value if value > 0 else None


def _start_of(token: str) -> tuple[str, str]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        namespace, _, name = decoded["start"].rstrip("\0").partition("/")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise KubeApiError.bad_request("continue key is not valid: incorrect encoded start resourceVersion") from None
    return (namespace, name) if name else ("", namespace)

"""The garbage collector: dependents go when their owners do (background cascading deletion)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster


def collect_garbage(cluster: KubeCluster) -> None:
    """Delete dependents whose every owner is gone (background cascading deletion)."""
    store = cluster.store
    uids = {obj["metadata"]["uid"] for group, kind in store.kinds() for obj in store.all(group, kind)}
    for group, kind in store.kinds():
        for obj in store.all(group, kind):
            owners = obj["metadata"].get("ownerReferences") or []
            if owners and not any(ref.get("uid") in uids for ref in owners):
                store.remove(group, kind, obj["metadata"].get("namespace"), obj["metadata"]["name"])

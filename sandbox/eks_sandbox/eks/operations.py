"""The frame every EKS operation runs in: a registry by operation name, the request context, idempotency
tokens and pagination."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eks_sandbox.eks.errors import invalid_parameter, not_found

if TYPE_CHECKING:
    from eks_sandbox.eks.backend import EksBackend, RegionState
    from eks_sandbox.eks.clusters import Cluster

Handler = Callable[["Request", dict[str, Any]], dict[str, Any]]

#: EKS operation name → handler; filled by the ``@operation`` decorators of the eks modules.
OPERATIONS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        OPERATIONS[name] = handler
        return handler

    return register


@dataclass
class Request:
    """One EKS call: who (account, region) and when (simulated ``now``)."""

    backend: EksBackend
    account: str
    region: str
    now: datetime
    #: the caller's access key (who "created the cluster", for the bootstrap admin access entry)
    access_key: str = ""

    @property
    def state(self) -> RegionState:
        return self.backend.region(self.account, self.region)

    def arn(self, resource: str) -> str:
        return f"arn:aws:eks:{self.region}:{self.account}:{resource}"

    def cluster(self, name: str) -> Cluster:
        cluster = self.state.clusters.get(name)
        if cluster is None:
            raise not_found(f"No cluster found for name: {name}.")
        return cluster

    def idempotent(
        self, operation_name: str, params: dict[str, Any], run: Callable[[], Callable[[], dict[str, Any]]]
    ) -> dict[str, Any]:
        """Run ``run`` once per ``clientRequestToken``: it acts and returns how to render its result.

        A retry with the same token and the same request renders the original result again (its current
        state, as EKS returns the original update); the same token with a different request is refused.
        """
        token = params.get("clientRequestToken")
        if not token:
            return run()()
        # An explicit default (force=False) is the same request as an omitted member.
        fingerprint = json.dumps(
            {k: v for k, v in params.items() if k != "clientRequestToken" and v is not None and v is not False},
            sort_keys=True,
        )
        key = (operation_name, params.get("clusterName") or params.get("name"), token)
        seen = self.state.request_tokens.get(key)
        if seen is not None:
            if seen[0] != fingerprint:
                raise invalid_parameter(
                    f"Client request token {token} was already used for a different {operation_name} request; "
                    "use a new token for a new request."
                )
            return seen[1]()
        render = run()
        self.state.request_tokens[key] = (fingerprint, render)
        return render()


def paginate(items: Sequence[Any], params: dict[str, Any], default_max: int = 100) -> tuple[list[Any], str | None]:
    """One page of ``items`` per ``maxResults``/``nextToken`` (an opaque offset)."""
    max_results = default_max if params.get("maxResults") is None else params["maxResults"]
    if not 1 <= max_results <= 100:
        raise invalid_parameter("maxResults must be between 1 and 100")
    start = 0
    if params.get("nextToken"):
        try:
            start = int(base64.urlsafe_b64decode(params["nextToken"].encode()).decode())
        except ValueError as exc:
            raise invalid_parameter("The nextToken provided is not valid") from exc
    page = list(items[start : start + max_results])
    end = start + max_results
    return page, (base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None)

"""EKS Auto Mode's three capabilities (compute, block storage, load balancing): checked, stored and described.

Auto Mode is on when all three are enabled and off when none is: EKS refuses a mix [UG create-auto; EKS's
message quoted in kubernetes-sigs/cluster-api-provider-aws#5278]. Node pools need the node role EKS assigns to
the instances it launches (terraform-aws-eks#3366), and only the built-in pools exist [UG create-auto:
``general-purpose`` and ``system``]. The node role's own checks (exists, trusts ec2.amazonaws.com) are in
``eks.references``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eks_sandbox.eks.errors import invalid_parameter

BUILT_IN_NODE_POOLS = ("general-purpose", "system")


@dataclass
class AutoMode:
    """A cluster's Auto Mode settings, as DescribeCluster reports them once they were set."""

    compute_enabled: bool = False
    node_pools: list[str] = field(default_factory=list)
    node_role_arn: str | None = None
    block_storage_enabled: bool = False
    load_balancing_enabled: bool = False
    #: whether a request ever set them (a cluster created without them describes no computeConfig/storageConfig)
    configured: bool = False

    def compute_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"enabled": self.compute_enabled}
        if self.compute_enabled:
            config["nodePools"] = list(self.node_pools)
            if self.node_role_arn:
                config["nodeRoleArn"] = self.node_role_arn
        return config

    def storage_config(self) -> dict[str, Any]:
        return {"blockStorage": {"enabled": self.block_storage_enabled}}

    def load_balancing(self) -> dict[str, Any]:
        return {"enabled": self.load_balancing_enabled}


def auto_mode_from_request(params: dict[str, Any], current: AutoMode | None = None) -> AutoMode:
    """The Auto Mode a CreateCluster/UpdateClusterConfig request asks for (over ``current``), checked as EKS does."""
    base = current or AutoMode()
    compute = params.get("computeConfig") or {}
    block = (params.get("storageConfig") or {}).get("blockStorage") or {}
    balancing = (params.get("kubernetesNetworkConfig") or {}).get("elasticLoadBalancing") or {}
    if not (compute or block or balancing):
        return base
    compute_enabled = bool(compute.get("enabled", base.compute_enabled))
    # Turning compute off drops the node pools and the node role with it.
    kept = base if compute_enabled else AutoMode()
    requested = AutoMode(
        compute_enabled=compute_enabled,
        node_pools=list(compute.get("nodePools", kept.node_pools) or []),
        node_role_arn=compute.get("nodeRoleArn", kept.node_role_arn),
        block_storage_enabled=bool(block.get("enabled", base.block_storage_enabled)),
        load_balancing_enabled=bool(balancing.get("enabled", base.load_balancing_enabled)),
        configured=True,
    )
    _check(requested)
    return requested


def _check(mode: AutoMode) -> None:
    if len({mode.compute_enabled, mode.block_storage_enabled, mode.load_balancing_enabled}) > 1:
        raise invalid_parameter(
            "For EKS Auto Mode, please ensure that all required configs, including computeConfig, "
            "kubernetesNetworkConfig, and blockStorage are all either fully enabled or fully disabled."
        )
    if not mode.compute_enabled:
        if mode.node_pools or mode.node_role_arn:
            raise invalid_parameter(
                "computeConfig nodePools and nodeRoleArn can only be set when computeConfig is enabled."
            )
        return
    if mode.node_pools and not mode.node_role_arn:
        raise invalid_parameter("When Compute Config nodeRoleArn is null or empty, nodePool list cannot be populated.")
    unknown = [pool for pool in mode.node_pools if pool not in BUILT_IN_NODE_POOLS]
    if unknown:
        raise invalid_parameter(
            f"Unsupported node pool(s) {', '.join(unknown)}: computeConfig nodePools can only be "
            f"{' and '.join(BUILT_IN_NODE_POOLS)}"
        )

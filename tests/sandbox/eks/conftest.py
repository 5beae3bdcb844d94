"""An in-process sandbox for the simulated EKS, served on a loopback port and driven through boto3.

Every test gets a fresh ``Sandbox`` (fixed simulated start date, so the version calendar is deterministic),
a reset moto, and EKS clients whose every successful response is checked against botocore's output shapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from eks_sandbox.moto_compat import reset_moto
from eks_sandbox.server import SandboxServer
from eks_sandbox.world import Sandbox
from tests.helpers import create_role, share_aws_managed_policies
from tests.sandbox.eks.shape import validate_every_response

#: 1.28-1.33 are available then; 1.27 has left extended support, 1.34 is not released yet.
SIMULATED_START = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)
#: slow enough that a test's own wall time (~0.1 s → 6 simulated s) never finishes a transition by itself
TIME_SCALE = 0.01
REGION = "us-east-1"


@dataclass
class SimulatedFleet:
    """The test's sandbox, its URL, boto3 clients on it, three subnets (one per AZ) of one VPC, and the cluster and
    node roles (``eks-cluster``, ``eks-node``) a team would have created."""

    sandbox: Sandbox
    url: str
    eks: Any
    ec2: Any
    iam: Any
    subnets: list[str] = field(default_factory=list)
    cluster_role: str = ""
    node_role: str = ""

    def kube(self, cluster_name: str) -> Any:
        endpoint = self.eks.describe_cluster(name=cluster_name)["cluster"]["endpoint"]
        return self.sandbox.kube_clusters.at_endpoint(endpoint)

    def client(self, service: str, region: str = REGION, **options: Any) -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            **options,
        )

    def role(self, name: str, service: str | None = None) -> str:
        """An IAM role trusting ``service`` (e.g. ``pods.eks.amazonaws.com``, with its managed policies), or the
        account when None; its ARN."""
        return create_role(self.iam, name, service)

    def create_cluster(self, name: str = "prod", version: str = "1.31", settle: bool = True, **extra: Any) -> dict:
        cluster = self.eks.create_cluster(
            name=name,
            version=version,
            roleArn=self.cluster_role,
            resourcesVpcConfig={"subnetIds": self.subnets[:2]},
            **extra,
        )["cluster"]
        if settle:
            self.sandbox.settle()
        return cluster

    def create_nodegroup(self, cluster: str = "prod", name: str = "ng-1", size: int = 2, **extra: Any) -> dict:
        nodegroup = self.eks.create_nodegroup(
            clusterName=cluster,
            nodegroupName=name,
            subnets=self.subnets[:2],
            nodeRole=self.node_role,
            instanceTypes=["m5.large"],
            scalingConfig={"minSize": 1, "maxSize": size + 2, "desiredSize": size},
            **extra,
        )["nodegroup"]
        self.sandbox.settle()
        return nodegroup


@pytest.fixture
def simulated_fleet() -> Iterator[SimulatedFleet]:
    share_aws_managed_policies()
    reset_moto()
    sandbox = Sandbox(time_scale=TIME_SCALE, start=SIMULATED_START)
    server = SandboxServer(sandbox, port=0).start()
    try:
        built = SimulatedFleet(sandbox, server.url, None, None, None)
        built.eks, built.ec2, built.iam = built.client("eks"), built.client("ec2"), built.client("iam")
        validate_every_response(built.eks)
        built.cluster_role = built.role("eks-cluster", "eks.amazonaws.com")
        built.node_role = built.role("eks-node", "ec2.amazonaws.com")
        vpc = built.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        for index, zone in enumerate(("us-east-1a", "us-east-1b", "us-east-1c")):
            built.subnets.append(
                built.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{index * 16}.0/20", AvailabilityZone=zone)[
                    "Subnet"
                ]["SubnetId"]
            )
        yield built
    finally:
        server.stop()
        reset_moto()

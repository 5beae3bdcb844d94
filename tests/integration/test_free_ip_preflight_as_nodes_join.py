"""The pre-flight's free-IP gate, exercised for real: nodes that join take addresses out of the cluster's subnets,
DescribeSubnets reports fewer free ones, and the gate (and EKS itself) refuse the control-plane upgrade."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from eks_runbooks.core.upgrade.plan import Hop
from eks_runbooks.core.upgrade.preflight import load_preflight_catalogue, run_preflight
from eks_runbooks.hooks.eks import EksRunbookHook
from eks_runbooks.readers.cluster import KubernetesReader, gather_preflight_inputs
from eks_runbooks.readers.kube_client import eks_kubernetes_client
from tests.helpers import RUNBOOK_ROLE_ARN, WORLD_DATE

REGION = "us-west-2"
#: two /28 subnets: 11 usable addresses each (16 less the 5 AWS reserves)
FLEET = {
    "as_of": WORLD_DATE.isoformat(),
    "accounts": [
        {
            "id": "123456789012",
            "regions": {
                REGION: {
                    "network": {
                        "vpc_cidr": "10.30.0.0/16",
                        "subnets": [
                            {"name": "small-a", "az": "us-west-2a", "cidr": "10.30.0.0/28"},
                            {"name": "small-b", "az": "us-west-2b", "cidr": "10.30.0.16/28"},
                        ],
                    },
                    "clusters": [
                        {
                            "name": "crowded",
                            "version": "1.33",
                            "addons": ["vpc-cni", "coredns"],
                            # the runbooks' read access, as README.md tells teams to grant it
                            "access_entries": [
                                {"principal_arn": RUNBOOK_ROLE_ARN, "policies": ["AmazonEKSAdminViewPolicy"]}
                            ],
                        }
                    ],
                }
            },
        }
    ],
}


def free_ip_gate(cluster_name: str) -> tuple[str, str]:
    """(status, detail) of the EKS-SUBNET-FREE-IPS finding for the cluster's next hop, read through the APIs."""
    hook = EksRunbookHook(aws_conn_id="aws_default", region_name=REGION)
    with eks_kubernetes_client(cluster_name, hook=hook) as api_client:
        inputs = gather_preflight_inputs(
            hook, KubernetesReader(api_client), cluster_name, Hop("1.33", "1.34"), waiter_delay=0.1
        )
    finding = next(
        f for f in run_preflight(inputs, load_preflight_catalogue()).findings if f.check_id == "EKS-SUBNET-FREE-IPS"
    )
    return finding.status.value, finding.detail


def test_nodes_joining_the_cluster_subnets_bring_them_under_the_free_ip_threshold(sandbox):
    from eks_sandbox.fleet import load_fleet

    load_fleet(sandbox, FLEET)
    eks = boto3.client("eks", region_name=REGION)
    ec2 = boto3.client("ec2", region_name=REGION)
    subnets = eks.describe_cluster(name="crowded")["cluster"]["resourcesVpcConfig"]["subnetIds"]
    assert free_ip_gate("crowded")[0] == "PASS"

    # fourteen nodes, balanced over both subnets: seven addresses taken in each, four left
    eks.create_nodegroup(
        clusterName="crowded",
        nodegroupName="many",
        subnets=subnets,
        nodeRole="arn:aws:iam::123456789012:role/eks-node-role",
        scalingConfig={"minSize": 1, "maxSize": 14, "desiredSize": 14},
    )
    sandbox.settle()
    free = {s["SubnetId"]: s["AvailableIpAddressCount"] for s in ec2.describe_subnets(SubnetIds=subnets)["Subnets"]}
    assert free == dict.fromkeys(subnets, 4)
    status, detail = free_ip_gate("crowded")
    assert status == "FAIL" and all(f"{subnet}: 4" in detail for subnet in subnets), detail

    # and EKS refuses the upgrade for the same reason
    with pytest.raises(ClientError) as excinfo:
        eks.update_cluster_version(name="crowded", version="1.34")
    assert excinfo.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "Free IPs: 4" in excinfo.value.response["Error"]["Message"]

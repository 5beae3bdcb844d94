"""One upgrade hop on the demo fleet, driven by the library's operators and judged by the post-hop validation."""

from __future__ import annotations

import boto3

from eks_runbooks.cluster_state import KubernetesReader, check_hop_done, read_workload_snapshot
from eks_runbooks.core.upgrade_plan import Hop, load_addon_rules, plan_addon_steps
from eks_runbooks.hooks.eks import EksRunbookHook
from eks_runbooks.kube_client import eks_kubernetes_client
from eks_runbooks.operators.eks import (
    EksUpdateAddonOperator,
    EksUpdateClusterVersionOperator,
    EksUpdateNodegroupVersionOperator,
)

CLUSTER, HOP = "payments-prod", Hop("1.32", "1.33")
FAST = {"cluster_name": CLUSTER, "region_name": "us-east-1", "waiter_delay": 1, "waiter_max_attempts": 120}


def problems(hook: EksRunbookHook, baseline) -> dict[str, tuple[str, ...]]:
    with eks_kubernetes_client(CLUSTER, hook=hook) as api_client:
        return {
            problem.check: problem.objects
            for problem in check_hop_done(hook, KubernetesReader(api_client), CLUSTER, HOP, baseline)
        }


def update_addons(steps) -> None:
    for step in steps:
        EksUpdateAddonOperator(
            task_id=step.addon_name,
            addon_name=step.addon_name,
            addon_version=step.to_version,
            client_request_token=f"{step.addon_name}-{step.to_version}",
            **FAST,
        ).execute({})


def test_hop_is_done_only_when_control_plane_addons_and_every_node_are_at_the_new_version(demo_fleet):
    hook = EksRunbookHook(aws_conn_id="aws_default", region_name="us-east-1")
    eks = boto3.client("eks", region_name="us-east-1")
    with eks_kubernetes_client(CLUSTER, hook=hook) as api_client:
        baseline = read_workload_snapshot(KubernetesReader(api_client))
    assert baseline["payments/Deployment/ledger-api"].is_available

    EksUpdateClusterVersionOperator(task_id="cp", kubernetes_version="1.33", client_request_token="cp", **FAST).execute(
        {}
    )
    after_control_plane = problems(hook, baseline)
    assert set(after_control_plane) == {"nodes"}  # the five kubelets still run 1.32
    assert len(after_control_plane["nodes"]) == 5

    installed = {
        name: eks.describe_addon(clusterName=CLUSTER, addonName=name)["addon"]["addonVersion"]
        for name in eks.list_addons(clusterName=CLUSTER)["addons"]
    }
    catalogue = eks.describe_addon_versions(kubernetesVersion="1.33")["addons"]
    steps = plan_addon_steps(CLUSTER, installed, "1.33", catalogue, load_addon_rules())
    update_addons([step for step in steps if not step.after_nodegroups])
    for nodegroup in eks.list_nodegroups(clusterName=CLUSTER)["nodegroups"]:
        launch_template = eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=nodegroup)["nodegroup"].get(
            "launchTemplate"
        )
        EksUpdateNodegroupVersionOperator(
            task_id=nodegroup,
            nodegroup_name=nodegroup,
            kubernetes_version=None if launch_template else "1.33",
            client_request_token=f"ng-{nodegroup}",
            **FAST,
        ).execute({})
    update_addons([step for step in steps if step.after_nodegroups])

    assert [step.addon_name for step in steps][-1] == "kube-proxy"
    assert problems(hook, baseline) == {}

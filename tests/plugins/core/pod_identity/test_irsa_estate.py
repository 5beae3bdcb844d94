"""The IRSA estate: service accounts, the workloads that run as them, and how each pod gets credentials."""

from __future__ import annotations

from estate_objects import (
    IRSA_ENV,
    POD_IDENTITY_ENV,
    deployment,
    node,
    pod,
    replica_set,
    service_account,
)

from eks_runbooks.core.pod_identity.estate import Compute, Credentials, KubernetesObjects, map_irsa_estate


def objects(**lists) -> KubernetesObjects:
    return KubernetesObjects(**lists)


def test_pods_are_found_through_their_replica_set_under_their_deployment():
    estate = map_irsa_estate(
        objects(
            service_accounts=[service_account("orders", "api"), service_account("orders", "plain", role=None)],
            deployments=[deployment("orders", "api", "api")],
            replica_sets=[replica_set("orders", "api")],
            pods=[pod("orders", "api-5d9f-abc", "api", owner=("ReplicaSet", "api-5d9f"))],
            nodes=[node("ip-10-0-1-10.ec2.internal")],
        )
    )
    assert [account.key for account in estate] == ["orders/api"]
    (workload,) = estate[0].workloads
    assert workload.ref == "Deployment/orders/api" and workload.restartable
    assert [(p.name, p.credentials, p.compute) for p in workload.pods] == [
        ("api-5d9f-abc", Credentials.IRSA, Compute.EC2_LINUX)
    ]


def test_irsa_variables_win_over_pod_identity_ones_as_in_the_sdks_credential_chain():
    both = pod("orders", "both", "api", env=IRSA_ENV + POD_IDENTITY_ENV)
    only_pod_identity = pod("orders", "switched", "api", env=POD_IDENTITY_ENV)
    estate = map_irsa_estate(
        objects(service_accounts=[service_account("orders", "api")], pods=[both, only_pod_identity])
    )
    assert {p.name: p.credentials for p in estate[0].pods} == {
        "both": Credentials.IRSA,
        "switched": Credentials.POD_IDENTITY,
    }


def test_hard_coded_irsa_variables_are_read_from_the_template_not_the_mutated_pod():
    hard_coded = deployment("legacy", "sync", "sync", env=IRSA_ENV)
    clean = deployment("legacy", "clean", "sync")
    estate = map_irsa_estate(
        objects(service_accounts=[service_account("legacy", "sync")], deployments=[hard_coded, clean])
    )
    assert {w.name: w.hard_coded_irsa for w in estate[0].workloads} == {"sync": ("app",), "clean": ()}


def test_fargate_and_windows_pods_are_told_apart_by_their_nodes():
    estate = map_irsa_estate(
        objects(
            service_accounts=[service_account("ml", "trainer")],
            pods=[
                pod("ml", "on-fargate", "trainer", node="fargate-ip-10-0-3-4.ec2.internal"),
                pod("ml", "on-windows", "trainer", node="win-1"),
            ],
            nodes=[
                node("fargate-ip-10-0-3-4.ec2.internal", **{"eks.amazonaws.com/compute-type": "fargate"}),
                node("win-1", **{"kubernetes.io/os": "windows"}),
            ],
        )
    )
    assert {p.name: p.compute for p in estate[0].pods} == {"on-fargate": Compute.FARGATE, "on-windows": Compute.WINDOWS}


def test_a_crash_looping_pod_is_failing():
    estate = map_irsa_estate(
        objects(
            service_accounts=[service_account("orders", "api")],
            pods=[pod("orders", "p", "api", ready=False, waiting="CrashLoopBackOff")],
        )
    )
    assert estate[0].pods[0].failing == ("app",)


def test_service_accounts_an_earlier_run_associated_stay_in_scope_without_their_annotation():
    estate = map_irsa_estate(
        objects(service_accounts=[service_account("orders", "api", role=None)]), also=["orders/api"]
    )
    assert [(a.key, a.role_arn) for a in estate] == [("orders/api", None)]

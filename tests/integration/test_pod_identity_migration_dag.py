"""eks_pod_identity_migration, run by Airflow (`dag.test()`) on a simulated cluster with an IRSA estate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.helpers import PLATFORM_ADMIN_ROLE_ARN, REPO, RUNBOOK_ROLE_ARN, WORLD_DATE, create_role

CLUSTER = "orders"
REGION = "us-east-1"
ACCOUNT = "123456789012"
SHARED_ROLE = f"arn:aws:iam::{ACCOUNT}:role/orders-app"
LEGACY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/legacy-sync"
FN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/serverless-fn"
EBS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ebs-csi"


def _service_account(namespace: str, name: str, role: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace, "annotations": {"eks.amazonaws.com/role-arn": role}},
    }


def _deployment(namespace: str, name: str, account: str, replicas: int = 2, env: list | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "serviceAccountName": account,
                    "containers": [{"name": "app", "image": f"example.com/{name}:1.0", "env": env or []}],
                },
            },
        },
    }


HARD_CODED_ENV = [
    {"name": "AWS_ROLE_ARN", "value": LEGACY_ROLE},
    {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"},
]
FLEET = {
    "as_of": WORLD_DATE.isoformat(),
    "accounts": [
        {
            "id": ACCOUNT,
            "regions": {
                REGION: {
                    "network": {
                        "vpc_cidr": "10.40.0.0/16",
                        "subnets": [
                            {"name": "a", "az": "us-east-1a", "cidr": "10.40.0.0/19"},
                            {"name": "b", "az": "us-east-1b", "cidr": "10.40.32.0/19"},
                        ],
                    },
                    "clusters": [
                        {
                            "name": CLUSTER,
                            "version": "1.33",
                            "authentication_mode": "API",
                            "addons": ["vpc-cni", "coredns", "kube-proxy"],
                            "nodegroups": [{"name": "general", "instance_types": ["m5.large"], "size": 2}],
                            "fargate_profiles": [{"name": "serverless", "selectors": [{"namespace": "serverless"}]}],
                            # the migration's access, as README.md tells teams to grant it
                            "access_entries": [
                                {"principal_arn": PLATFORM_ADMIN_ROLE_ARN, "policies": ["AmazonEKSClusterAdminPolicy"]},
                                {
                                    "principal_arn": RUNBOOK_ROLE_ARN,
                                    "policies": ["AmazonEKSAdminViewPolicy", "AmazonEKSEditPolicy"],
                                },
                            ],
                            "kubernetes": [
                                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "orders"}},
                                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "legacy"}},
                                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "serverless"}},
                                _service_account("orders", "api", SHARED_ROLE),
                                _service_account("orders", "worker", SHARED_ROLE),
                                _service_account("legacy", "sync", LEGACY_ROLE),
                                _service_account("serverless", "fn", FN_ROLE),
                                _deployment("orders", "api", "api"),
                                _deployment("orders", "worker", "worker", replicas=1),
                                _deployment("legacy", "sync", "sync", replicas=1, env=HARD_CODED_ENV),
                                _deployment("serverless", "fn", "fn", replicas=1),
                            ],
                        }
                    ],
                }
            },
        }
    ],
}


def _irsa_trust(issuer: str, *subjects: str) -> dict[str, Any]:
    host = issuer.removeprefix("https://")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {f"{host}:sub": list(subjects), f"{host}:aud": "sts.amazonaws.com"}},
            }
        ],
    }


def irsa_roles() -> None:
    """The IAM side a team built for IRSA: the cluster's OIDC provider and one role per workload family."""
    cluster = boto3.client("eks", region_name=REGION).describe_cluster(name=CLUSTER)["cluster"]
    issuer = cluster["identity"]["oidc"]["issuer"]
    iam = boto3.client("iam")
    host = issuer.removeprefix("https://")
    if not any(p["Arn"].endswith(host) for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]):
        iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["9" * 40])
    for role, subjects in (
        (SHARED_ROLE, ("system:serviceaccount:orders:api", "system:serviceaccount:orders:worker")),
        (LEGACY_ROLE, ("system:serviceaccount:legacy:sync",)),
        (FN_ROLE, ("system:serviceaccount:serverless:fn",)),
        (EBS_ROLE, ("system:serviceaccount:kube-system:ebs-csi-controller-sa",)),
    ):
        name = role.rpartition("/")[2]
        try:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(_irsa_trust(issuer, *subjects)))
        except iam.exceptions.EntityAlreadyExistsException:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(_irsa_trust(issuer, *subjects)))


@pytest.fixture
def irsa_cluster(sandbox):
    from eks_sandbox.fleet import load_fleet

    load_fleet(sandbox, FLEET)
    irsa_roles()
    create_role(boto3.client("iam"), "eks-runbooks")
    return sandbox


def irsa_addon(world) -> None:
    """The EBS CSI driver on IRSA (serviceAccountRoleArn), as a team installs it."""
    boto3.client("eks", region_name=REGION).create_addon(
        clusterName=CLUSTER, addonName="aws-ebs-csi-driver", serviceAccountRoleArn=EBS_ROLE
    )
    world.settle()


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", tmp_path.as_uri())
    return tmp_path / "eks_pod_identity_migration"


@pytest.fixture
def migration_dag(airflow_db, reports, fast_dag_test, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW_VAR_EKS_UPGRADE_POLL_SECONDS", "0.2")
    return DagBag(str(REPO / "dags" / "eks_pod_identity_migration.py")).get_dag("eks_pod_identity_migration")


def run(dag, **conf: Any):
    # every scope key named: dag.test() keeps the last run's values for keys a later run leaves out
    scope = {"phase": "migrate", "namespaces": None, "service_accounts": None, "wave_size": 5}
    return dag.test(run_conf={"cluster_name": CLUSTER, "region": REGION, **scope, **conf})


def report_of(run) -> dict[str, Any]:
    written = run.get_task_instance("report").xcom_pull(task_ids="report")
    return json.loads(Path(written["report_json"][7:]).read_text())


def world() -> dict[str, Any]:
    """What the migration may change: trust policies, associations, annotations, workload templates."""
    from kubernetes.client import AppsV1Api, CoreV1Api

    from eks_runbooks.hooks.eks import EksRunbookHook
    from eks_runbooks.readers.kube_client import eks_kubernetes_client

    iam, eks = boto3.client("iam"), boto3.client("eks", region_name=REGION)
    trust = {
        name: iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
        for name in ("orders-app", "legacy-sync", "serverless-fn")
    }
    associations = eks.list_pod_identity_associations(clusterName=CLUSTER)["associations"]
    hook = EksRunbookHook(aws_conn_id="aws_platform_admin", region_name=REGION)
    with eks_kubernetes_client(CLUSTER, hook=hook) as api_client:
        core, apps = CoreV1Api(api_client), AppsV1Api(api_client)
        accounts = {
            f"{a.metadata.namespace}/{a.metadata.name}": (a.metadata.annotations or {}).get(
                "eks.amazonaws.com/role-arn"
            )
            for a in core.list_service_account_for_all_namespaces().items
            if a.metadata.namespace in ("orders", "legacy", "serverless") and a.metadata.name != "default"
        }
        templates = {
            f"{d.metadata.namespace}/{d.metadata.name}": (d.spec.template.metadata.annotations or {})
            for d in apps.list_deployment_for_all_namespaces().items
            if d.metadata.namespace in ("orders", "legacy", "serverless")
        }
        pods = {
            f"{p.metadata.namespace}/{p.metadata.name}": sorted(
                e.name for c in p.spec.containers for e in (c.env or []) if e.name.startswith("AWS_")
            )
            for p in core.list_pod_for_all_namespaces().items
            if p.metadata.namespace in ("orders", "legacy", "serverless")
        }
    return {"trust": trust, "associations": associations, "accounts": accounts, "templates": templates, "pods": pods}


def credentials_of(pods: dict[str, list[str]], prefix: str) -> set[str]:
    found = set()
    for name, env in pods.items():
        if name.startswith(prefix):
            found.add(
                "irsa"
                if "AWS_ROLE_ARN" in env
                else "pod-identity"
                if "AWS_CONTAINER_CREDENTIALS_FULL_URI" in env
                else "none"
            )
    return found


def test_plan_mode_lists_every_service_account_with_its_action_and_changes_nothing(irsa_cluster, migration_dag):
    before = world()
    dag_run = run(migration_dag)
    assert dag_run.state == "success"
    assert world() == before
    actions = {account["key"]: account["action"] for account in report_of(dag_run)["plan"]["service_accounts"]}
    assert actions == {
        "orders/api": "migrate",
        "orders/worker": "migrate",
        "legacy/sync": "stays on IRSA",
        "serverless/fn": "stays on IRSA",
    }


def test_a_migration_moves_eligible_workloads_verified_per_pod_and_a_second_run_changes_nothing(
    irsa_cluster, migration_dag
):
    irsa_addon(irsa_cluster)
    dag_run = run(migration_dag, dry_run=False, wave_size=1)
    assert dag_run.state == "success"
    after = world()
    assert credentials_of(after["pods"], "orders/") == {"pod-identity"}
    assert credentials_of(after["pods"], "legacy/") == {"irsa"}
    assert credentials_of(after["pods"], "serverless/") == {"irsa"}
    shared = after["trust"]["orders-app"]["Statement"]
    assert [s["Principal"] for s in shared].count({"Service": "pods.eks.amazonaws.com"}) == 1
    assert any("Federated" in s["Principal"] for s in shared), "the OIDC statement stays until cleanup"
    assert sorted((a["namespace"], a["serviceAccount"]) for a in after["associations"]) == [
        ("kube-system", "ebs-csi-controller-sa"),
        ("orders", "api"),
        ("orders", "worker"),
    ]
    results = report_of(dag_run)["results"]
    assert results["orders/api"]["outcome"] == "on Pod Identity, verified"
    assert any("2 pod(s) on pod-identity" in line for line in results["orders/api"]["evidence"])
    assert results["legacy/sync"]["outcome"] == "stays on IRSA"
    assert results["kube-system/ebs-csi-controller-sa"]["outcome"] == "on Pod Identity, verified"
    addon = boto3.client("eks", region_name=REGION).describe_addon(clusterName=CLUSTER, addonName="aws-ebs-csi-driver")
    assert len(addon["addon"]["podIdentityAssociations"]) == 1
    assert (
        "legacy/sync" not in after["templates"] or "eks-runbooks/restarted-for" not in after["templates"]["legacy/sync"]
    )

    again = run(migration_dag, dry_run=False)
    assert again.state == "success"
    assert world() == after
    assert {r["outcome"] for k, r in report_of(again)["results"].items() if k.startswith("orders/")} == {"done"}


def test_cleanup_removes_irsa_leftovers_only_where_nothing_uses_them_and_rollback_returns_to_irsa(
    irsa_cluster, migration_dag
):
    assert run(migration_dag, dry_run=False, service_accounts=["orders/api"]).state == "success"
    cleanup = run(migration_dag, dry_run=False, phase="cleanup")
    assert cleanup.state == "success"
    after = world()
    assert after["accounts"]["orders/api"] is None
    assert after["accounts"]["orders/worker"] == SHARED_ROLE, "not migrated: keeps its annotation"
    assert any("Federated" in s["Principal"] for s in after["trust"]["orders-app"]["Statement"]), (
        "orders/worker still uses the shared role through IRSA"
    )

    rollback = run(migration_dag, dry_run=False, phase="rollback")
    assert rollback.state == "success"
    back = world()
    assert back["associations"] == []
    assert back["accounts"]["orders/api"] == SHARED_ROLE
    assert credentials_of(back["pods"], "orders/api") == {"irsa"}
    assert report_of(rollback)["results"]["orders/api"]["outcome"] == "back on IRSA, verified"


def migrate_orders_prod(dag):
    conf = {"phase": "migrate", "namespaces": None, "service_accounts": None, "wave_size": 5}
    return dag.test(run_conf={"cluster_name": "orders-prod", "region": REGION, "dry_run": False, **conf})


def orders_prod_world() -> dict[str, Any]:
    """orders-prod's associations, role trust, and each pod's credentials and health (namespace/pod → tuple)."""
    from kubernetes.client import CoreV1Api

    from eks_runbooks.hooks.eks import EksRunbookHook
    from eks_runbooks.readers.kube_client import eks_kubernetes_client

    eks, iam = boto3.client("eks", region_name=REGION), boto3.client("iam")
    associations = sorted(
        (a["namespace"], a["serviceAccount"], a["associationId"])
        for a in eks.list_pod_identity_associations(clusterName="orders-prod")["associations"]
    )
    trust = {
        role["RoleName"]: role["AssumeRolePolicyDocument"]
        for role in iam.list_roles()["Roles"]
        if role["RoleName"].startswith(("orders-", "fulfillment-", "observability-", "settlement-"))
    }
    hook = EksRunbookHook(aws_conn_id="aws_platform_admin", region_name=REGION)
    with eks_kubernetes_client("orders-prod", hook=hook) as api_client:
        pods = {
            f"{p.metadata.namespace}/{p.metadata.name}": (
                "irsa"
                if any(e.name == "AWS_ROLE_ARN" for c in p.spec.containers for e in (c.env or []))
                else "pod-identity"
                if any(e.name == "AWS_CONTAINER_CREDENTIALS_FULL_URI" for c in p.spec.containers for e in (c.env or []))
                else "none",
                all(s.ready for s in p.status.container_statuses or []),
            )
            for p in CoreV1Api(api_client).list_pod_for_all_namespaces().items
            if p.metadata.namespace in ("orders", "fulfillment", "observability", "settlement")
        }
    return {"associations": associations, "trust": trust, "pods": pods}


def test_the_demo_irsa_cluster_migrates_what_is_eligible_and_returns_the_old_sdk_workload_to_irsa(
    demo_fleet, migration_dag
):
    dag_run = migrate_orders_prod(migration_dag)
    assert dag_run.state == "success"
    outcomes = {key: result["outcome"] for key, result in report_of(dag_run)["results"].items()}
    assert outcomes == {
        "fulfillment/inventory": "on Pod Identity, verified",
        "fulfillment/reconciler": "associated, no workload restarted",
        "kube-system/ebs-csi-controller-sa": "on Pod Identity, verified",
        "observability/log-shipper": "on Pod Identity, verified",
        "observability/toolbox": "associated, no workload restarted",
        "orders/invoice-renderer": "returned to IRSA after failing verification",
        "orders/legacy-exporter": "stays on IRSA",
        "orders/orders-api": "on Pod Identity, verified",
        "orders/orders-worker": "on Pod Identity, verified",
        "settlement/settlement": "stays on IRSA",
    }
    after = orders_prod_world()
    on = {pod: how for pod, how in after["pods"].items()}
    assert all(ready for _, ready in on.values()), f"a pod is not Ready: {on}"
    assert {how for pod, (how, _) in on.items() if pod.startswith("orders/orders-")} == {"pod-identity"}
    assert {how for pod, (how, _) in on.items() if pod.startswith(("orders/invoice-renderer", "orders/legacy"))} == {
        "irsa"
    }
    assert {how for pod, (how, _) in on.items() if pod.startswith("settlement/")} == {"irsa"}
    assert ("orders", "invoice-renderer") not in {(ns, sa) for ns, sa, _ in after["associations"]}
    for name, document in after["trust"].items():
        services = [s["Principal"].get("Service") for s in document["Statement"]]
        assert services.count("pods.eks.amazonaws.com") <= 1, f"{name}: {document}"

    again = migrate_orders_prod(migration_dag)
    assert again.state == "success"
    assert orders_prod_world()["associations"] == after["associations"]
    assert orders_prod_world()["trust"] == after["trust"]
    second = report_of(again)["results"]
    assert second["orders/invoice-renderer"]["outcome"] == "stays on IRSA"
    assert any("PI-NOT-RETURNED-BEFORE" in line for line in second["orders/invoice-renderer"]["evidence"])
    assert second["orders/orders-api"]["outcome"] == "done"


def test_cleanup_removes_a_roles_oidc_statement_once_nothing_uses_it_and_no_pod_breaks_at_its_next_refresh(
    irsa_cluster, migration_dag
):
    from datetime import timedelta

    assert run(migration_dag, dry_run=False).state == "success"
    cleanup = run(migration_dag, dry_run=False, phase="cleanup")
    assert cleanup.state == "success"
    after = world()
    assert (after["accounts"]["orders/api"], after["accounts"]["orders/worker"]) == (None, None)
    assert after["accounts"]["legacy/sync"] == LEGACY_ROLE, "still on IRSA: keeps its annotation"
    assert not any("Federated" in s["Principal"] for s in after["trust"]["orders-app"]["Statement"])
    assert any("Federated" in s["Principal"] for s in after["trust"]["legacy-sync"]["Statement"])
    roles = {role["role_arn"]: role for role in report_of(cleanup)["plan"]["roles"]}
    assert roles[SHARED_ROLE]["remove_oidc_statement"]
    assert not report_of(cleanup)["plan"]["oidc_provider_removable"], "legacy/sync still uses the provider"

    # An hour later every IRSA credential has been refreshed: a pod that still needed the removed trust would fail.
    irsa_cluster.clock.skip(timedelta(hours=1))
    irsa_cluster.advance()
    pods = world()["pods"]
    assert credentials_of(pods, "orders/") == {"pod-identity"}
    from kubernetes.client import CoreV1Api

    from eks_runbooks.hooks.eks import EksRunbookHook
    from eks_runbooks.readers.kube_client import eks_kubernetes_client

    hook = EksRunbookHook(aws_conn_id="aws_platform_admin", region_name=REGION)
    with eks_kubernetes_client(CLUSTER, hook=hook) as api_client:
        not_ready = [
            p.metadata.name
            for p in CoreV1Api(api_client).list_namespaced_pod("orders").items
            if not all(s.ready for s in p.status.container_statuses or [])
        ]
    assert not_ready == []

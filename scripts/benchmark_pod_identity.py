"""Benchmark one eks_pod_identity_migration run of 100 service accounts on the sandbox; prints Markdown.

    .venv/bin/python scripts/benchmark_pod_identity.py [--service-accounts 100] [--time-scale 0.05] [--wave-size 5]

Builds one cluster whose IRSA estate has ``--service-accounts`` service accounts (one single-replica Deployment
each, in 10 namespaces, ten service accounts per role, every role trusting the cluster's OIDC provider), then
migrates it with ``dag.test()`` in this process (an in-process sandbox, a throw-away AIRFLOW_HOME), after a
plan-mode run that warms imports up. It measures the migrate run's wall time, the AWS and Kubernetes requests
per service account (counted where the sandbox answers them), and where the restart step's time goes: on a
worker (reading, patching, verifying) or waiting in the triggerer (``dag.test()`` runs both inline, one after
the other: ``benchmark_upgrade.ExecutionTimes``). The poll interval is production's 30 s times the time scale.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_upgrade import ExecutionTimes, in_throwaway_airflow_home

REPO = Path(__file__).resolve().parents[1]
DAG_FILE = REPO / "dags" / "eks_pod_identity_migration.py"
CLUSTER = "irsa-estate"
REGION = "us-east-1"
ACCOUNT = "123456789012"
RUNBOOK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eks-runbooks"
PRODUCTION_POLL_SECONDS = 30
NAMESPACES = 10
PER_ROLE = 10


def fleet(service_accounts: int, as_of: str) -> dict[str, Any]:
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"team-{n}"}} for n in range(NAMESPACES)
    ]
    for number in range(service_accounts):
        namespace, name = f"team-{number % NAMESPACES}", f"app-{number:03d}"
        role = f"arn:aws:iam::{ACCOUNT}:role/team-role-{number // PER_ROLE}"
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": namespace, "annotations": {"eks.amazonaws.com/role-arn": role}},
            }
        )
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {
                            "serviceAccountName": name,
                            "containers": [{"name": "app", "image": "example.com/app:1"}],
                        },
                    },
                },
            }
        )
    cluster = {
        "name": CLUSTER,
        "version": "1.33",
        "authentication_mode": "API",
        "addons": ["vpc-cni", "coredns", "kube-proxy"],
        "nodegroups": [{"name": "general", "instance_types": ["m5.2xlarge"], "size": 4}],
        "access_entries": [
            {"principal_arn": RUNBOOK_ROLE, "policies": ["AmazonEKSAdminViewPolicy", "AmazonEKSEditPolicy"]}
        ],
        "kubernetes": objects,
    }
    network = {
        "vpc_cidr": "10.50.0.0/16",
        "subnets": [
            {"name": "a", "az": "us-east-1a", "cidr": "10.50.0.0/18"},
            {"name": "b", "az": "us-east-1b", "cidr": "10.50.64.0/18"},
        ],
    }
    return {
        "as_of": as_of,
        "accounts": [{"id": ACCOUNT, "regions": {REGION: {"network": network, "clusters": [cluster]}}}],
    }


def irsa_roles(endpoint: str, service_accounts: int) -> None:
    """The cluster's IAM OIDC provider and the roles, each trusting its ten service accounts through it."""
    import boto3

    eks, iam = (
        boto3.client("eks", endpoint_url=endpoint, region_name=REGION),
        boto3.client("iam", endpoint_url=endpoint),
    )
    issuer = eks.describe_cluster(name=CLUSTER)["cluster"]["identity"]["oidc"]["issuer"]
    host = issuer.removeprefix("https://")
    if not any(p["Arn"].endswith(host) for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]):
        iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["9" * 40])
    subjects: dict[str, list[str]] = {}
    for number in range(service_accounts):
        role = f"team-role-{number // PER_ROLE}"
        subjects.setdefault(role, []).append(f"system:serviceaccount:team-{number % NAMESPACES}:app-{number:03d}")
    for role, names in subjects.items():
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringEquals": {f"{host}:sub": names, f"{host}:aud": "sts.amazonaws.com"}},
                }
            ],
        }
        try:
            iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
        except iam.exceptions.EntityAlreadyExistsException:
            iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(trust))


class Requests:
    """AWS operations and Kubernetes requests the sandbox answered while recording."""

    def __init__(self) -> None:
        self.aws: Counter[str] = Counter()
        self.kubernetes: Counter[str] = Counter()

    @contextmanager
    def recording(self) -> Iterator[None]:
        from eks_sandbox.server import SandboxDispatcher

        operation, kubernetes = SandboxDispatcher._operation, SandboxDispatcher._kubernetes

        def aws_call(dispatcher: Any, service: str, environ: dict[str, Any], body: bytes) -> Any:
            named = operation(dispatcher, service, environ, body)
            self.aws[f"{service}:{named[0]}"] += 1
            return named

        def kube_call(dispatcher: Any, cluster: Any, environ: dict[str, Any], start_response: Any) -> Any:
            self.kubernetes[environ["REQUEST_METHOD"]] += 1
            return kubernetes(dispatcher, cluster, environ, start_response)

        with (
            patch.object(SandboxDispatcher, "_operation", aws_call),
            patch.object(SandboxDispatcher, "_kubernetes", kube_call),
        ):
            yield


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service-accounts", type=int, default=100)
    parser.add_argument("--time-scale", type=float, default=0.05, help="sandbox wall seconds per simulated second")
    parser.add_argument("--wave-size", type=int, default=5)
    args = parser.parse_args()
    return in_throwaway_airflow_home(
        PRODUCTION_POLL_SECONDS * args.time_scale,
        lambda: benchmark(args.service_accounts, args.time_scale, args.wave_size),
    )


def benchmark(service_accounts: int, time_scale: float, wave_size: int) -> int:
    sys.path.insert(0, str(REPO))
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    from eks_sandbox.fleet import create_role, load_fleet
    from eks_sandbox.moto_compat import reset_moto
    from eks_sandbox.server import SandboxServer
    from eks_sandbox.world import Sandbox
    from tests.helpers import WORLD_DATE, aws_connection_uri

    db.resetdb()
    reset_moto()
    world = Sandbox(time_scale=time_scale, start=WORLD_DATE)
    server = SandboxServer(world, port=0).start()
    try:
        os.environ["AWS_ENDPOINT_URL"] = server.url
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection_uri(server.url, REGION)
        os.environ["EKS_RUNBOOKS_AS_OF"] = WORLD_DATE.isoformat()
        import boto3

        create_role(boto3.client("iam", endpoint_url=server.url), ACCOUNT, "eks-runbooks", None)
        load_fleet(world, fleet(service_accounts, WORLD_DATE.isoformat()))
        irsa_roles(server.url, service_accounts)
        dag = DagBag(str(DAG_FILE)).get_dag("eks_pod_identity_migration")
        conf = {"cluster_name": CLUSTER, "region": REGION, "wave_size": wave_size}
        warm_up = dag.test(run_conf={**conf, "dry_run": True})
        requests, execution = Requests(), ExecutionTimes()
        started = datetime.now(UTC)
        with requests.recording(), execution.recording():
            run = dag.test(run_conf={**conf, "dry_run": False})
        wall = (datetime.now(UTC) - started).total_seconds()
        for finished in (warm_up, run):
            if finished.state != "success":
                failed = [
                    f"{ti.task_id} ({ti.state})"
                    for ti in finished.get_task_instances()
                    if ti.state not in ("success", "skipped")
                ]
                print(f"run {finished.run_id} ended {finished.state}: {', '.join(failed)}", file=sys.stderr)
                return 1
        print_tables(run, service_accounts, wave_size, time_scale, wall, requests, execution)
        return 0
    finally:
        server.stop()


def print_tables(
    run: Any,
    service_accounts: int,
    wave_size: int,
    time_scale: float,
    wall: float,
    requests: Requests,
    execution: ExecutionTimes,
) -> None:
    report = run.get_task_instance("report").xcom_pull(task_ids="report")
    outcomes = Counter(
        result["outcome"] for result in json.loads(Path(report["report_json"][7:]).read_text())["results"].values()
    )

    def seconds(intervals: list, task: str | None = None) -> float:
        return sum(i.seconds for i in intervals if task is None or i.label == task)

    aws_total, kube_total = sum(requests.aws.values()), sum(requests.kubernetes.values())
    print(
        f"Migration of {service_accounts} service accounts, waves of {wave_size}, time scale {time_scale}: "
        f"{dict(outcomes)}\n"
    )
    print("| measure | value |\n|---|---|")
    print(f"| wall time of the migrate run | {wall:.1f} s |")
    print(f"| AWS requests | {aws_total} ({aws_total / service_accounts:.2f} per service account) |")
    print(
        f"| Kubernetes requests | {kube_total} ({kube_total / service_accounts:.2f} per service account; "
        + ", ".join(f"{method} {count}" for method, count in requests.kubernetes.most_common())
        + ") |"
    )
    for task in ("prepare_agent", "restart_and_verify"):
        worker, waiting = seconds(execution.worker, task), seconds(execution.trigger, task)
        print(f"| {task}: on a worker / waiting in the triggerer | {worker:.1f} s / {waiting:.1f} s |")
    print(f"| all tasks on a worker | {seconds(execution.worker):.1f} s |")
    print("\n| AWS operation | requests |\n|---|---|")
    for operation, count in requests.aws.most_common():
        print(f"| {operation} | {count} |")


if __name__ == "__main__":
    sys.exit(main())

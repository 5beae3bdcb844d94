"""Benchmark the sandbox and DAG parsing; prints a Markdown table for BENCHMARKS.md.

    .venv/bin/python scripts/benchmark_sandbox.py [--repeat 200]

Measures, in one process on loopback:
- loading the demo fleet (4 clusters, 13 nodes, ~40 pods) through the AWS and Kubernetes APIs;
- latency of common reads: EKS DescribeCluster, DescribeUpdate, EC2 DescribeSubnets, Kubernetes list pods;
- time fidelity: a simulated 10-minute control-plane update at --time-scale 0.01 should take 6 s of wall time,
  and the ratio (measured / expected) says how far lazy transitions and polling stretch it;
- DAG parse time per file beyond ``import airflow``, as the DAG processor pays it.
Absolute figures vary with the machine; compare ratios across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO_FLEET = REPO / "include" / "sandbox" / "fleets" / "demo.yaml"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def latency(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), percentile(samples, 0.95)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    )

    from kubernetes.client import CoreV1Api

    from eks_runbooks.readers.kube_client import eks_kubernetes_client
    from eks_sandbox.fleet import fleet_as_of, load_fleet
    from eks_sandbox.server import SandboxServer
    from eks_sandbox.world import Sandbox

    rows: list[tuple[str, str]] = []
    sandbox = Sandbox(time_scale=0.01, start=fleet_as_of(yaml.safe_load(DEMO_FLEET.read_text())))
    with SandboxServer(sandbox, port=0) as server:
        os.environ["AWS_ENDPOINT_URL"] = server.url
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
            {
                "conn_type": "aws",
                "login": "bench",
                "password": "bench",
                "extra": {
                    "endpoint_url": server.url,
                    "region_name": "us-east-1",
                    "role_arn": "arn:aws:iam::123456789012:role/eks-runbooks",  # granted by the demo fleet
                },
            }
        )
        start = time.perf_counter()
        load_fleet(sandbox, yaml.safe_load(DEMO_FLEET.read_text()))
        rows.append(("demo fleet load (4 clusters, through the APIs)", f"{time.perf_counter() - start:.2f} s"))

        eks = boto3.client("eks", endpoint_url=server.url)
        ec2 = boto3.client("ec2", endpoint_url=server.url)
        update = eks.update_cluster_version(name="payments-prod", version="1.33")["update"]
        sandbox.settle()
        for label, call in [
            ("EKS DescribeCluster", lambda: eks.describe_cluster(name="payments-prod")),
            ("EKS DescribeUpdate", lambda: eks.describe_update(name="payments-prod", updateId=update["id"])),
            ("EC2 DescribeSubnets (moto)", lambda: ec2.describe_subnets()),
        ]:
            p50, p95 = latency(call, args.repeat)
            rows.append((f"{label} latency p50 / p95", f"{p50:.1f} / {p95:.1f} ms"))
        with eks_kubernetes_client("payments-prod", region_name="us-east-1") as api_client:
            core = CoreV1Api(api_client)
            p50, p95 = latency(lambda: core.list_pod_for_all_namespaces(), args.repeat)
        rows.append(("Kubernetes list pods, all namespaces, p50 / p95", f"{p50:.1f} / {p95:.1f} ms"))

        expected = sandbox.clock.wall_seconds(sandbox.eks.catalogue.timings["cluster_version_update"])
        update = eks.update_cluster_version(name="payments-prod", version="1.34")["update"]
        start = time.perf_counter()
        while eks.describe_update(name="payments-prod", updateId=update["id"])["update"]["status"] == "InProgress":
            time.sleep(0.05)
        measured = time.perf_counter() - start
        rows.append(
            (
                "control-plane update: measured wall time / expected (10 simulated min at scale 0.01 = 6 s)",
                f"{measured / expected:.3f}",
            )
        )

    rows.extend(parse_times())
    print("| measure | value |\n|---|---|")
    for label, value in rows:
        print(f"| {label} | {value} |")
    return 0


def parse_times() -> list[tuple[str, str]]:
    sys.path.insert(0, str(REPO))
    from tests.helpers import dag_parse_times

    env = os.environ | {
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    timings = dag_parse_times(sorted((REPO / "dags").glob("*.py")), env)
    return [(f"DAG parse beyond `import airflow`: {name}", f"{ms:.1f} ms") for name, ms in timings.items()]


if __name__ == "__main__":
    sys.exit(main())

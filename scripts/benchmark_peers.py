"""Side by side: the same one-minor upgrade of the same demo cluster by eksupgrade and by eks_cluster_upgrade.

    .venv/bin/python scripts/benchmark_peers.py [--time-scale 0.05]

Each contender gets a fresh `eks-sandbox serve --fleet demo.yaml --time-scale X` process, loaded before its
clock starts, and upgrades payments-prod 1.32 → 1.33 for real (not a plan), node groups one at a time and
add-ons to EKS's default versions (both tools' defaults):

- eksupgrade as shipped: ``.venv-peers/eksupgrade/bin/eksupgrade payments-prod 1.33 us-east-1
  --no-interactive``. Its waits are fixed real seconds (30 s before each waiter, then a poll every 35 s),
  whatever the time scale;
- eksupgrade with those waits times X (``peers/eksupgrade/paced.py``): the proportions production would have;
- the ``eks_cluster_upgrade`` DAG with ``dag.test()`` in this process (tasks and triggers inline, as in
  scripts/benchmark_upgrade.py), ``eks_upgrade_poll_seconds`` = 30 s times X (the production default scaled),
  after a plan-mode warm-up run on the same sandbox (imports, DAG parse, insights refresh: not timed).

Wall time is the eksupgrade process from start to exit, and ``dag.test()`` from call to return. Each run is
then checked through the AWS API (cluster and node groups ACTIVE at 1.33, add-ons at the 1.33 defaults), and
the EKS updates it started are counted (ListUpdates). Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from benchmark_upgrade import DAG_FILE, PRODUCTION_POLL_SECONDS, configure_environment

REPO = Path(__file__).resolve().parents[1]
CLUSTER, REGION, SOURCE, TARGET = "payments-prod", "us-east-1", "1.32", "1.33"
PEER_BIN = REPO / ".venv-peers" / "eksupgrade" / "bin"
PACED = REPO / "peers" / "eksupgrade" / "paced.py"


@dataclass(frozen=True)
class Contender:
    """An upgrade tool: ``prepare(url)`` runs untimed on the fresh sandbox, then ``upgrade(url)`` is timed."""

    name: str
    upgrade: Callable[[str], None]
    prepare: Callable[[str], None] = lambda url: None


@dataclass(frozen=True)
class Outcome:
    """One contender's upgrade: how long it took, what it changed, and what is not at the target afterwards."""

    contender: str
    wall_seconds: float
    updates: Counter[str]
    problems: list[str]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-scale", type=float, default=0.05, help="sandbox wall seconds per simulated second")
    args = parser.parse_args()
    if not (PEER_BIN / "eksupgrade").exists():
        print(f"eksupgrade is not installed in {PEER_BIN.parent}: run `source scripts/bootstrap`", file=sys.stderr)
        return 1
    scale = args.time_scale
    home = Path(tempfile.mkdtemp(prefix="eks-runbooks-benchmark-peers-"))
    try:
        configure_environment(home, PRODUCTION_POLL_SECONDS * scale)
        sys.path.insert(0, str(REPO))
        load = os.getloadavg()[0]
        dag = DagUpgrade()
        contenders = [
            Contender("eksupgrade 0.9.0, as shipped", eksupgrade([str(PEER_BIN / "eksupgrade")])),
            Contender(
                "eksupgrade 0.9.0, its waits times the time scale",
                eksupgrade([str(PEER_BIN / "python"), str(PACED), "--time-scale", str(scale)]),
            ),
            Contender("eks_cluster_upgrade, `dag.test()`", dag.upgrade, dag.warm_up),
        ]
        outcomes = [on_fresh_sandbox(home, scale, contender) for contender in contenders]
        report(scale, (load, os.getloadavg()[0]), outcomes)
        return 1 if any(outcome.problems for outcome in outcomes) else 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


def on_fresh_sandbox(home: Path, scale: float, contender: Contender) -> Outcome:
    """Start a sandbox with the demo fleet, time the contender's upgrade, read the result through the AWS API."""
    from tests.helpers import aws_connection_uri, serving_sandbox

    with serving_sandbox(home / f"serve-{time.monotonic_ns()}.log", time_scale=scale) as url:
        with urllib.request.urlopen(f"{url}/_sandbox/health", timeout=30) as response:
            os.environ["EKS_RUNBOOKS_AS_OF"] = json.load(response)["world_date"]
        os.environ["AWS_ENDPOINT_URL"] = url
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection_uri(url, REGION)
        contender.prepare(url)
        print(f"{contender.name}: upgrading {CLUSTER} {SOURCE} → {TARGET}, time scale {scale}", file=sys.stderr)
        start = time.perf_counter()
        contender.upgrade(url)
        wall = time.perf_counter() - start
        eks = boto3.client("eks", endpoint_url=url, region_name=REGION)
        return Outcome(contender.name, wall, updates_started(eks), problems_left(eks))


def eksupgrade(command: list[str]) -> Callable[[str], None]:
    """Run eksupgrade (``command``, then its arguments) against the sandbox AWS_ENDPOINT_URL names, as the fleet's
    platform admin role."""

    def upgrade(url: str) -> None:
        from tests.helpers import PLATFORM_ADMIN_ROLE_ARN, assumed_role_credentials

        # as a team runs it: as the admin role the demo fleet's access entries make cluster-admin
        admin = assumed_role_credentials(url, PLATFORM_ADMIN_ROLE_ARN, session_name="eksupgrade")
        env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"} | {"NO_COLOR": "1"}
        env |= {name.upper(): value for name, value in admin.items()}
        arguments = [CLUSTER, TARGET, REGION, "--no-interactive"]
        result = subprocess.run([*command, *arguments], env=env, capture_output=True, text=True, check=False)
        sys.stderr.write(result.stdout + result.stderr)

    return upgrade


class DagUpgrade:
    """``eks_cluster_upgrade`` run with ``dag.test()`` in this process, in the AIRFLOW_HOME main() configured."""

    def __init__(self) -> None:
        self.dag: Any = None

    def warm_up(self, url: str) -> None:
        """A plan-mode run first: it pays the imports, the parse and an insights refresh, settled before the timing."""
        from airflow.dag_processing.dagbag import DagBag
        from airflow.utils import db

        from tests.helpers import sandbox_control

        db.resetdb()
        self.dag = DagBag(str(DAG_FILE)).get_dag("eks_cluster_upgrade")
        self._run(dry_run=True)
        sandbox_control(url, "POST", "/settle", {})

    def upgrade(self, url: str) -> None:
        self._run(dry_run=False)

    def _run(self, *, dry_run: bool) -> None:
        gc.collect()
        gc.freeze()  # as Airflow does before it forks workers (see scripts/benchmark_upgrade.py)
        conf = {"cluster_name": CLUSTER, "region": REGION, "target_version": TARGET, "dry_run": dry_run}
        run = self.dag.test(run_conf=conf)
        if run.state != "success":
            failed = [ti.task_id for ti in run.get_task_instances() if ti.state not in ("success", "skipped")]
            print(f"eks_cluster_upgrade run {run.run_id} ended {run.state}: {failed}", file=sys.stderr)


def updates_started(eks: Any) -> Counter[str]:
    """EKS updates of the cluster, its node groups and add-ons (ListUpdates), by what they updated."""
    scopes: list[tuple[str, dict[str, str]]] = [("control plane", {})]
    scopes += [("node group", {"nodegroupName": n}) for n in eks.list_nodegroups(clusterName=CLUSTER)["nodegroups"]]
    scopes += [("add-on", {"addonName": a}) for a in eks.list_addons(clusterName=CLUSTER)["addons"]]
    return Counter(target for target, scope in scopes for _ in eks.list_updates(name=CLUSTER, **scope)["updateIds"])


def problems_left(eks: Any) -> list[str]:
    """What is not at the target through the AWS API: cluster, node groups, add-ons (1.33 defaults)."""
    cluster = eks.describe_cluster(name=CLUSTER)["cluster"]
    problems = (
        [] if (cluster["version"], cluster["status"]) == (TARGET, "ACTIVE") else [f"cluster {cluster['version']}"]
    )
    for name in eks.list_nodegroups(clusterName=CLUSTER)["nodegroups"]:
        nodegroup = eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=name)["nodegroup"]
        if (nodegroup["version"], nodegroup["status"]) != (TARGET, "ACTIVE"):
            problems.append(f"node group {name} {nodegroup['version']} {nodegroup['status']}")
    for name in eks.list_addons(clusterName=CLUSTER)["addons"]:
        addon = eks.describe_addon(clusterName=CLUSTER, addonName=name)["addon"]
        if addon["addonVersion"] != default_version(eks, name):
            problems.append(f"add-on {name} {addon['addonVersion']}")
    return problems


def default_version(eks: Any, addon_name: str) -> str:
    (addon,) = eks.describe_addon_versions(kubernetesVersion=TARGET, addonName=addon_name)["addons"]
    return next(
        entry["addonVersion"]
        for entry in addon["addonVersions"]
        for compatibility in entry["compatibilities"]
        if compatibility["clusterVersion"] == TARGET and compatibility["defaultVersion"]
    )


def report(scale: float, load: tuple[float, float], outcomes: list[Outcome]) -> None:
    baseline = next(outcome for outcome in outcomes if outcome.contender.startswith("eks_cluster_upgrade"))
    print(f"\n{CLUSTER} {SOURCE} → {TARGET}, time scale {scale} (eks_upgrade_poll_seconds {30 * scale:g} s), ", end="")
    print(f"load average (1 min) before / after: {load[0]:.2f} / {load[1]:.2f}\n")
    print("| upgrade by | wall time | ÷ eks_cluster_upgrade | EKS updates started | at 1.33 through the AWS API |")
    print("|---|---|---|---|---|")
    for outcome in outcomes:
        updates = ", ".join(f"{count} {target}" for target, count in sorted(outcome.updates.items()))
        state = "yes" if not outcome.problems else "no: " + "; ".join(outcome.problems)
        ratio = outcome.wall_seconds / baseline.wall_seconds
        print(f"| {outcome.contender} | {outcome.wall_seconds:.1f} s | {ratio:.2f} | {updates} | {state} |")


if __name__ == "__main__":
    sys.exit(main())

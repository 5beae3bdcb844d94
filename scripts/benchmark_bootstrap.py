"""Benchmark one eks_cluster_bootstrap run on the sandbox against the waits EKS itself imposes; prints Markdown.

    .venv/bin/python scripts/benchmark_bootstrap.py [--time-scale 0.1] [--poll-seconds 3]

Loads a fresh VPC (two private subnets in two zones) as a fleet into an in-process sandbox, warms imports up with
a plan-mode run, then builds one cluster (one managed node group of two nodes, the default add-ons) with
``dag.test()`` in this process, in a throw-away AIRFLOW_HOME. It measures:

- the real run's wall time (the DagRun's start → end);
- the simulated waits EKS imposes: every transition the sandbox schedules during the run (cluster, node group
  and add-on creations, pods starting), from the simulated moment it was started to the one it ended at (the
  script wraps the sandbox's timeline: transitions run lazily, on the next request, but receive their due time),
  and the time any of them was pending (their union: the runbook runs its steps one after the other, so that is
  the EKS wait on the critical path), in wall seconds at the time scale;
- the ratio run wall time ÷ EKS waits: what the runbook adds (poll granularity, Airflow, its gates);
- per task: wall time, time on a worker and waiting in the triggerer (``dag.test()`` runs both inline, one after
  the other: ``benchmark_upgrade.ExecutionTimes``), the EKS waits it started, AWS and Kubernetes requests (counted
  where the sandbox answers them, each given to the task whose code or trigger was running).

The poll interval is production's 30 s times the time scale, as in the other benchmarks.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_upgrade import ExecutionTimes, Interval, covered_seconds, in_throwaway_airflow_home, where_time_goes

REPO = Path(__file__).resolve().parents[1]
DAG_FILE = REPO / "dags" / "eks_cluster_bootstrap.py"
CLUSTER = "payments-eu"
REGION = "us-east-1"
ACCOUNT = "123456789012"
PRODUCTION_POLL_SECONDS = 30
#: A fresh VPC: two private subnets (no route to an internet gateway) in two zones.
NETWORK = {
    "vpc_cidr": "10.60.0.0/16",
    "subnets": [
        {"name": "private-a", "az": "us-east-1a", "cidr": "10.60.0.0/19"},
        {"name": "private-b", "az": "us-east-1b", "cidr": "10.60.32.0/19"},
    ],
}
GENERAL = {"name": "general", "instance_types": ["m5.large"], "min": 2, "max": 4, "desired": 2}
#: Which sandbox module schedules a transition → what EKS is doing, and the timings.yaml entry it lasts.
TRANSITIONS = {
    "eks_sandbox.eks.clusters": ("cluster create", "cluster_create"),
    "eks_sandbox.eks.addons": ("add-on create", "addon_create"),
    "eks_sandbox.eks.nodegroups": ("node group create (nodes join at its end)", "nodegroup_create"),
    "eks_sandbox.kube.cluster": ("pods starting (controllers' wake-up)", "pod_startup"),
}


@dataclass(frozen=True)
class Wait:
    """One simulated wait the sandbox imposed: what, and from when to when in simulated time."""

    label: str
    start: datetime
    end: datetime

    @property
    def simulated_seconds(self) -> float:
        return (self.end - self.start).total_seconds()


class EksWaits:
    """Every transition the sandbox schedules while recording (clock-bound repeats left out: nothing waits for
    a credential refresh or a crash loop's restart)."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.waits: list[Wait] = []

    @contextmanager
    def recording(self) -> Iterator[None]:
        timeline = self.world.eks.timeline
        schedule = timeline.at

        def at(due: datetime, transition: Callable[[datetime], None], *, clock_bound: bool = False) -> None:
            if not clock_bound:
                label = TRANSITIONS.get(transition.__module__, (transition.__module__, ""))[0]
                self.waits.append(Wait(label, self.world.clock.acting_now(), due))
            schedule(due, transition, clock_bound=clock_bound)

        # A new cluster's Kubernetes side keeps the timeline's ``at`` it was given (EksLink): it is made during
        # the recording, so its pods' start-ups are recorded too.
        with patch.object(timeline, "at", at):
            yield


class StepRequests:
    """When the sandbox answered each AWS operation and Kubernetes request, to give each to a task afterwards."""

    def __init__(self) -> None:
        self.aws: list[tuple[datetime, str]] = []
        self.kubernetes: list[datetime] = []

    @contextmanager
    def recording(self) -> Iterator[None]:
        from eks_sandbox.server import SandboxDispatcher

        operation, kubernetes = SandboxDispatcher._operation, SandboxDispatcher._kubernetes

        def aws_call(dispatcher: Any, service: str, environ: dict[str, Any], body: bytes) -> Any:
            named = operation(dispatcher, service, environ, body)
            self.aws.append((datetime.now(UTC), f"{service}:{named[0]}"))
            return named

        def kube_call(dispatcher: Any, cluster: Any, environ: dict[str, Any], start_response: Any) -> Any:
            self.kubernetes.append(datetime.now(UTC))
            return kubernetes(dispatcher, cluster, environ, start_response)

        with (
            patch.object(SandboxDispatcher, "_operation", aws_call),
            patch.object(SandboxDispatcher, "_kubernetes", kube_call),
        ):
            yield


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-scale", type=float, default=0.1, help="sandbox wall seconds per simulated second")
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=None,
        help=f"eks_upgrade_poll_seconds, the steps' poll (default: {PRODUCTION_POLL_SECONDS} * time scale)",
    )
    args = parser.parse_args()
    poll = args.poll_seconds if args.poll_seconds is not None else PRODUCTION_POLL_SECONDS * args.time_scale
    return in_throwaway_airflow_home(poll, lambda: benchmark(args.time_scale, poll))


def benchmark(time_scale: float, poll: float) -> int:
    sys.path.insert(0, str(REPO))
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    from eks_sandbox.fleet import load_fleet
    from eks_sandbox.moto_compat import reset_moto
    from eks_sandbox.server import SandboxServer
    from eks_sandbox.world import Sandbox
    from tests.helpers import WORLD_DATE, aws_connection_uri

    db.resetdb()
    load_before = os.getloadavg()[0]
    reset_moto()
    world = Sandbox(time_scale=time_scale, start=WORLD_DATE)
    # Simulated instants map onto the wall clock from the moment the simulated world started.
    origin, world_origin = datetime.now(UTC), world.clock.now()
    server = SandboxServer(world, port=0).start()
    try:
        os.environ["AWS_ENDPOINT_URL"] = server.url
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection_uri(server.url, REGION)
        os.environ["EKS_RUNBOOKS_AS_OF"] = WORLD_DATE.isoformat()
        load_fleet(world, fleet(WORLD_DATE.isoformat()))
        conf = run_conf(principals(server.url))
        dag = DagBag(str(DAG_FILE)).get_dag("eks_cluster_bootstrap")
        warm_up = dag.test(run_conf={**conf, "dry_run": True})
        waits, requests, execution = EksWaits(world), StepRequests(), ExecutionTimes()
        # As Airflow does before forking workers (see benchmark_upgrade.upgrade): no full collection scans the
        # sandbox's and moto's objects while a task runs.
        gc.collect()
        gc.freeze()
        started = datetime.now(UTC)
        with waits.recording(), requests.recording(), execution.recording():
            run = dag.test(run_conf={**conf, "dry_run": False})
        called = (datetime.now(UTC) - started).total_seconds()
        if failed(warm_up) or failed(run):
            return 1

        def wall(simulated: datetime) -> datetime:
            return origin + (simulated - world_origin) * time_scale

        timings = {name: world.eks.catalogue.timings[name] for _, name in TRANSITIONS.values()}
        tis = run.get_task_instances()
    finally:
        server.stop()
        reset_moto()
    measured = Measured(
        time_scale, poll, (load_before, os.getloadavg()[0]), called, run, tis, waits.waits, requests, execution
    )
    report(measured, wall, timings)
    return 0


def fleet(as_of: str) -> dict[str, Any]:
    return {"as_of": as_of, "accounts": [{"id": ACCOUNT, "regions": {REGION: {"network": NETWORK, "clusters": []}}}]}


def principals(endpoint: str) -> dict[str, Any]:
    """The run's two private subnets and admin principal, after making the roles it names (the admins, the
    runbook's own) as a team makes them."""
    import boto3

    from tests.helpers import PLATFORM_ADMIN_ROLE_ARN, create_role

    iam = boto3.client("iam", endpoint_url=endpoint)
    create_role(iam, "platform-admins")
    create_role(iam, "eks-runbooks")
    subnets = boto3.client("ec2", endpoint_url=endpoint, region_name=REGION).describe_subnets()["Subnets"]
    named = {tag["Value"]: s["SubnetId"] for s in subnets for tag in s.get("Tags") or [] if tag["Key"] == "Name"}
    return {"subnet_ids": [named["private-a"], named["private-b"]], "admin_principal_arns": [PLATFORM_ADMIN_ROLE_ARN]}


def run_conf(inputs: dict[str, Any]) -> dict[str, Any]:
    """The run's form: the required inputs, everything else at its default (the newest standard version, a
    private endpoint, roles and key created, the default add-ons)."""
    return {"cluster_name": CLUSTER, "region": REGION, "compute": [GENERAL], "require_approval": False, **inputs}


def failed(dag_run: Any) -> bool:
    if dag_run.state == "success":
        return False
    states = [f"{ti.task_id} ({ti.state})" for ti in dag_run.get_task_instances() if ti.state != "success"]
    print(f"run {dag_run.run_id} ended {dag_run.state}: {', '.join(states)}", file=sys.stderr)
    return True


@dataclass(frozen=True)
class Measured:
    """What one benchmark run recorded."""

    time_scale: float
    poll: float
    load: tuple[float, float]
    called: float
    run: Any
    tis: list[Any]
    waits: list[Wait]
    requests: StepRequests
    execution: ExecutionTimes


def report(measured: Measured, wall: Callable[[datetime], datetime], timings: dict[str, timedelta]) -> None:
    run = Interval("run", measured.run.start_date, measured.run.end_date)
    wait_walls = [Interval(w.label, wall(w.start), wall(w.end)) for w in measured.waits]
    waited = covered_seconds(wait_walls)
    print(
        f"\nBootstrap of {CLUSTER} (one node group of {GENERAL['desired']} {GENERAL['instance_types'][0]}, the "
        f"default add-ons), time scale {measured.time_scale}, poll {measured.poll:g} s\n"
    )
    print_waits(measured.waits, timings, measured.time_scale)
    print_steps(measured, wait_walls)
    worker = covered_seconds(measured.execution.worker)
    deferred = sum(interval.seconds for interval in measured.execution.trigger)
    rows = [
        ("time scale; eks_upgrade_poll_seconds", f"{measured.time_scale}; {measured.poll:g} s"),
        ("machine load average (1 min) before / after", f"{measured.load[0]:.2f} / {measured.load[1]:.2f}"),
        ("run wall time: DagRun start → end (the `dag.test()` call)", f"{run.seconds:.1f} s ({measured.called:.1f} s)"),
        (
            "EKS waits on the critical path (any pending), simulated; at the time scale",
            f"{waited / measured.time_scale / 60:.2f} min; {waited:.1f} s",
        ),
        ("**run wall time ÷ EKS waits**", f"**{run.seconds / waited:.3f}**"),
        ("runbook overhead: wall time - EKS waits", f"{run.seconds - waited:.1f} s"),
        ("time deferred (in triggers, no worker slot) / on a worker", f"{deferred:.1f} s / {worker:.1f} s"),
        ("AWS requests / Kubernetes requests", f"{len(measured.requests.aws)} / {len(measured.requests.kubernetes)}"),
    ]
    split = where_time_goes(
        run,
        [
            ("an EKS wait pending", wait_walls),
            ("task code on a worker", measured.execution.worker),
            ("a trigger polling after what it waits for ended", measured.execution.trigger),
        ],
    )
    rows += [(f"share of wall time: {name}", f"{seconds / run.seconds:.1%}") for name, seconds in split.items()]
    print("\n| measure | value |\n|---|---|")
    for label, value in rows:
        print(f"| {label} | {value} |")
    print("\n| AWS operation | requests |\n|---|---|")
    for operation, count in Counter(name for _, name in measured.requests.aws).most_common():
        print(f"| {operation} | {count} |")


def print_waits(waits: list[Wait], timings: dict[str, timedelta], time_scale: float) -> None:
    """The EKS waits by kind: how many, how long each lasted in simulated time, what timings.yaml says."""
    yaml_minutes = {label: timings[name].total_seconds() / 60 for label, name in TRANSITIONS.values()}
    by_label: dict[str, list[float]] = {}
    for wait in waits:
        by_label.setdefault(wait.label, []).append(wait.simulated_seconds)
    print("| EKS wait | count | simulated, median (min-max) | timings.yaml | at the time scale |")
    print("|---|---|---|---|---|")
    for label, seconds in by_label.items():
        expected = f"{yaml_minutes[label]:g} min" if label in yaml_minutes else ""
        median = statistics.median(seconds)
        print(
            f"| {label} | {len(seconds)} | {median / 60:.2f} min ({min(seconds):.0f}-{max(seconds):.0f} s) "
            f"| {expected} | {median * time_scale:.1f} s |"
        )


def print_steps(measured: Measured, wait_walls: list[Interval]) -> None:
    """Per task instance: its span, worker and trigger time, the EKS waits started in it, its requests."""
    execution, requests = measured.execution, measured.requests
    print("\n| task | state | wall (DB start → end) | on a worker | waiting in the triggerer |", end="")
    print(" EKS waits started in it (any pending) | AWS requests (of them sts:AssumeRole) | Kubernetes requests |")
    print("|---|---|---|---|---|---|---|---|")
    end = measured.run.end_date
    for ti in sorted(measured.tis, key=lambda ti: ti.start_date or end):
        print(step_row(ti, measured, wait_walls))
    ran = execution.worker + execution.trigger
    stray_aws = sum(1 for when, _ in requests.aws if not inside(when, ran))
    stray_kube = sum(1 for when in requests.kubernetes if not inside(when, ran))
    print(f"| between tasks (`dag.test()`, callbacks) | | | | | | {stray_aws} | {stray_kube} |")


def step_row(ti: Any, measured: Measured, wait_walls: list[Interval]) -> str:
    execution, requests = measured.execution, measured.requests
    on_worker = [i for i in execution.worker if i.label == ti.task_id]
    in_trigger = [i for i in execution.trigger if i.label == ti.task_id]
    span = (ti.end_date - ti.start_date).total_seconds() if ti.start_date and ti.end_date else 0.0
    started_here = [w for w in wait_walls if ti.start_date and ti.start_date <= w.start <= ti.end_date]
    aws = [name for when, name in requests.aws if inside(when, on_worker + in_trigger)]
    kube = sum(1 for when in requests.kubernetes if inside(when, on_worker + in_trigger))
    return (
        f"| {ti.task_id} | {ti.state} | {span:.2f} s | {sum(i.seconds for i in on_worker):.2f} s "
        f"| {sum(i.seconds for i in in_trigger):.2f} s | {covered_seconds(started_here):.2f} s "
        f"| {len(aws)} ({aws.count('sts:AssumeRole')}) | {kube} |"
    )


def inside(when: datetime, intervals: list[Interval]) -> bool:
    return any(interval.start <= when <= interval.end for interval in intervals)


if __name__ == "__main__":
    sys.exit(main())

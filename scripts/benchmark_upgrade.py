"""Benchmark one eks_cluster_upgrade run against the sandbox; prints Markdown tables for BENCHMARKS.md.

    .venv/bin/python scripts/benchmark_upgrade.py [--time-scale 0.05] [--poll-seconds 1.5]

Upgrades payments-prod of the demo fleet 1.32 → 1.34 (two hops) with ``dag.test()`` in this process, against
an in-process sandbox, in a throw-away AIRFLOW_HOME, and measures:

- simulated AWS operation time: every EKS update the run started (ListUpdates/DescribeUpdate: ``createdAt``),
  each ended at the simulated time the sandbox's transition ended it (recorded by wrapping its timeline);
- runbook wall time (the DagRun's start → end) ÷ the time EKS updates were InProgress;
- step latency: an update ended → the waiting task runs again (split into the trigger noticing it and Airflow
  resuming the task), and → the next step's task runs, for the last update of a step;
- worker-slot-seconds held while EKS updates were InProgress: ``dag.test()`` runs a task's code
  (``run_task_in_process``) and its triggers (``_run_inline_trigger``) one after the other in this process;
  both are timed, and worker time is intersected with the update intervals;
- where the wall time goes, and DAG parse time beyond ``import airflow`` (5 fresh interpreters).

The default poll interval is the production default (30 s) times the time scale, so the figures keep
production's proportions. The sandbox's durations are whole simulated minutes, which 30 s divides: every poll
then falls just after an update ends and "ended → trigger fired" shows only the trigger's round trip. A poll
interval that does not divide them (``--poll-seconds 1.7`` at 0.05: 34 simulated seconds) shows the wait for
the next poll that a real update, ending at no particular moment, meets. Absolute figures vary with the
machine; compare ratios across runs.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import boto3
import yaml

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
DAG_FILE = REPO / "dags" / "eks_cluster_upgrade.py"
CLUSTER = "payments-prod"
REGION = "us-east-1"
PRODUCTION_POLL_SECONDS = 30
PARSE_REPEAT = 5


@dataclass(frozen=True)
class Interval:
    """Something that lasted from ``start`` to ``end`` (wall-clock, UTC); ``label`` says what."""

    label: str
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class UpdateRecord:
    """One EKS update the run started: what it changed and when it ran, in simulated and wall time."""

    label: str
    simulated_seconds: float
    wall: Interval


class AwsOperations:
    """Records when the sandbox ends each EKS update of one cluster, and each insights refresh.

    Transitions run lazily (on the first request after they are due) but are given their due time: that is
    the simulated moment the operation ended, whenever a request noticed it.
    """

    def __init__(self, world: Any, cluster: Any) -> None:
        self.world = world
        self.cluster = cluster
        #: Simulated end of each update that ended, by update id.
        self.update_ends: dict[str, datetime] = {}
        #: Simulated (start, end) of each insights refresh.
        self.insights_refreshes: list[tuple[datetime, datetime]] = []

    @contextmanager
    def recording(self) -> Iterator[None]:
        schedule = self.world.eks.timeline.at

        def at(due: datetime, transition: Callable[[datetime], None]) -> None:
            scheduled = self.world.clock.now()

            def observed(when: datetime) -> None:
                running = {u.id for u in self.cluster.updates if u.status == "InProgress"}
                transition(when)
                for update in self.cluster.updates:
                    if update.id in running and update.status != "InProgress":
                        self.update_ends[update.id] = when
                if transition.__module__ == "eks_sandbox.eks.insights":
                    self.insights_refreshes.append((scheduled, when))

            schedule(due, observed)

        with patch.object(self.world.eks.timeline, "at", at):
            yield


class ExecutionTimes:
    """Wall-clock intervals of task code on a "worker" and of triggers, as ``dag.test()`` runs them inline."""

    def __init__(self) -> None:
        self.worker: list[Interval] = []
        self.trigger: list[Interval] = []

    @contextmanager
    def recording(self) -> Iterator[None]:
        import airflow.sdk.definitions.dag as dag_module
        import airflow.sdk.execution_time.supervisor as supervisor

        run_task, run_trigger = supervisor.run_task_in_process, dag_module._run_inline_trigger

        def task_in_process(*, ti: Any, task: Any) -> Any:
            with self._timed(self.worker, ti.task_id):
                return run_task(ti=ti, task=task)

        def inline_trigger(trigger: Any, task_sdk_ti: Any) -> Any:
            with self._timed(self.trigger, task_sdk_ti.task_id):
                return run_trigger(trigger, task_sdk_ti)

        with (
            patch.object(supervisor, "run_task_in_process", task_in_process),
            patch.object(dag_module, "_run_inline_trigger", inline_trigger),
        ):
            yield

    @staticmethod
    @contextmanager
    def _timed(into: list[Interval], label: str) -> Iterator[None]:
        start = datetime.now(UTC)
        try:
            yield
        finally:
            into.append(Interval(label, start, datetime.now(UTC)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-scale", type=float, default=0.05, help="sandbox wall seconds per simulated second")
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=None,
        help=f"eks_upgrade_poll_seconds (default: {PRODUCTION_POLL_SECONDS} * time scale)",
    )
    args = parser.parse_args()
    poll = args.poll_seconds if args.poll_seconds is not None else PRODUCTION_POLL_SECONDS * args.time_scale
    return in_throwaway_airflow_home(poll, lambda: benchmark(args.time_scale, poll))


def in_throwaway_airflow_home(poll: float | None, run: Callable[[], int]) -> int:
    """``run()`` with Airflow configured (``configure_environment``) in a temporary AIRFLOW_HOME, removed after;
    ``poll`` is the upgrade's poll interval (None: a runbook that does not poll)."""
    home = Path(tempfile.mkdtemp(prefix="eks-runbooks-benchmark-"))
    try:
        configure_environment(home, poll)
        return run()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def configure_environment(home: Path, poll: float | None) -> None:
    """Airflow reads its configuration at import time: set it (and the AWS and PATH settings) first."""
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_VAR_EKS_REPORTS_BASE": (home / "reports").as_uri(),
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": REGION,
            # The EksHook kubeconfig's exec plugin runs `python3.X` from PATH: it must be this interpreter.
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    if poll is not None:
        os.environ["AIRFLOW_VAR_EKS_UPGRADE_POLL_SECONDS"] = str(poll)
    for leaked in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(leaked, None)


@dataclass
class DemoFleet:
    """The demo fleet served by an in-process sandbox, and the recording of payments-prod's EKS updates."""

    world: Any
    server: Any
    eks: Any
    aws: AwsOperations
    time_scale: float
    origin: datetime
    world_origin: datetime

    def wall(self, simulated: datetime) -> datetime:
        """The wall-clock instant of a simulated one: simulated instants map onto the wall clock from the moment
        the simulated world started."""
        return self.origin + (simulated - self.world_origin) * self.time_scale

    def updates(self) -> list[UpdateRecord]:
        return eks_updates(self.eks, self.aws.update_ends, self.wall)

    def refreshes(self) -> list[Interval]:
        return [Interval("insights refresh", self.wall(s), self.wall(e)) for s, e in self.aws.insights_refreshes]


@contextmanager
def demo_fleet(time_scale: float) -> Iterator[DemoFleet]:
    """The demo fleet on a ``SandboxServer`` in this process (port 0), moto reset before and after;
    ``AWS_ENDPOINT_URL`` and ``EKS_RUNBOOKS_AS_OF`` point this process's clients and runbooks at it."""
    from eks_sandbox.fleet import fleet_as_of, load_fleet
    from eks_sandbox.moto_compat import reset_moto
    from eks_sandbox.server import SandboxServer
    from eks_sandbox.world import Sandbox
    from tests.helpers import DEMO_FLEET

    reset_moto()
    fleet = yaml.safe_load(DEMO_FLEET.read_text())
    world = Sandbox(time_scale=time_scale, start=fleet_as_of(fleet))
    origin, world_origin = datetime.now(UTC), world.clock.now()
    server = SandboxServer(world, port=0).start()
    try:
        os.environ["AWS_ENDPOINT_URL"] = server.url
        os.environ["EKS_RUNBOOKS_AS_OF"] = world_origin.date().isoformat()
        load_fleet(world, fleet)
        eks = boto3.client("eks", endpoint_url=server.url)
        account = eks.describe_cluster(name=CLUSTER)["cluster"]["arn"].split(":")[4]
        aws = AwsOperations(world, world.eks.cluster(account, REGION, CLUSTER))
        yield DemoFleet(world, server, eks, aws, time_scale, origin, world_origin)
    finally:
        server.stop()
        reset_moto()


def benchmark(time_scale: float, poll: float) -> int:
    sys.path.insert(0, str(REPO))
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    from tests.helpers import aws_connection_uri

    db.resetdb()
    load_before = os.getloadavg()[0]
    with demo_fleet(time_scale) as fleet:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection_uri(fleet.server.url, REGION)
        execution = ExecutionTimes()
        dag = DagBag(str(DAG_FILE)).get_dag("eks_cluster_upgrade")
        warm_up = upgrade(dag, dry_run=True)
        fleet.world.settle()  # the warm-up's insights refreshes end before the measured run starts its own
        with fleet.aws.recording(), execution.recording():
            run = upgrade(dag, dry_run=False)
        for finished in (warm_up, run):
            if finished.state != "success":
                tis = finished.get_task_instances()
                failed = [f"{ti.task_id} ({ti.state})" for ti in tis if ti.state not in ("success", "skipped")]
                print(f"run {finished.run_id} ended {finished.state}: {', '.join(failed)}", file=sys.stderr)
                return 1
        updates, refreshes = fleet.updates(), fleet.refreshes()
        tis = run.get_task_instances()
    report(
        time_scale,
        poll,
        (load_before, os.getloadavg()[0]),
        Interval("warm-up", warm_up.start_date, warm_up.end_date),
        Interval("run", run.start_date, run.end_date),
        updates,
        refreshes,
        execution,
        tis,
    )
    return 0


def upgrade(dag: Any, *, dry_run: bool) -> Any:
    """Run the DAG to 1.34 with ``dag.test()`` (tasks and triggers inline, in this process); returns the DagRun.

    Everything alive before the run (the sandbox, moto, Airflow's ORM: about a million objects) is frozen out
    of the garbage collector first, as Airflow does before it forks workers: otherwise each full collection
    scans it and adds ~0.5 s to whichever task is running, which a worker process of its own would not pay.
    """
    gc.collect()
    gc.freeze()
    return dag.test(run_conf={"cluster_name": CLUSTER, "region": REGION, "target_version": "1.34", "dry_run": dry_run})


def eks_updates(eks: Any, ends: dict[str, datetime], wall: Callable[[datetime], datetime]) -> list[UpdateRecord]:
    """Every update of the cluster, its node groups and add-ons (ListUpdates, DescribeUpdate), in start order."""
    targets: list[tuple[str, dict[str, str]]] = [("control plane", {})]
    targets += [
        (f"node group {name}", {"nodegroupName": name})
        for name in eks.list_nodegroups(clusterName=CLUSTER)["nodegroups"]
    ]
    targets += [(f"add-on {name}", {"addonName": name}) for name in eks.list_addons(clusterName=CLUSTER)["addons"]]
    found = []
    for target, scope in targets:
        for update_id in eks.list_updates(name=CLUSTER, **scope)["updateIds"]:
            update = eks.describe_update(name=CLUSTER, updateId=update_id, **scope)["update"]
            if update["status"] != "Successful" or update_id not in ends:
                raise RuntimeError(f"update {update_id} of the {target} is {update['status']}, not Successful")
            params = {param["type"]: param["value"] for param in update["params"]}
            moved_to = params.get("Version") or params.get("AddonVersion")
            created = update["createdAt"].astimezone(UTC)
            found.append(
                UpdateRecord(
                    f"{target} → {moved_to}",
                    (ends[update_id] - created).total_seconds(),
                    Interval(target, wall(created), wall(ends[update_id])),
                )
            )
    return sorted(found, key=lambda update: update.wall.start)


def union(intervals: list[Interval]) -> list[tuple[datetime, datetime]]:
    """The time covered by ``intervals``, as disjoint (start, end) pairs in order."""
    merged: list[tuple[datetime, datetime]] = []
    for interval in sorted(intervals, key=lambda i: i.start):
        if merged and interval.start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], interval.end))
        else:
            merged.append((interval.start, interval.end))
    return merged


def covered_seconds(intervals: list[Interval]) -> float:
    return sum((end - start).total_seconds() for start, end in union(intervals))


def overlap_seconds(these: list[Interval], those: list[Interval]) -> float:
    """Seconds during which something of ``these`` and something of ``those`` both ran."""
    return sum(
        max(timedelta(), min(a_end, b_end) - max(a_start, b_start)).total_seconds()
        for a_start, a_end in union(these)
        for b_start, b_end in union(those)
    )


def where_time_goes(run: Interval, categories: list[tuple[str, list[Interval]]]) -> dict[str, float]:
    """Split the run's wall time among ``categories`` (the first that covers an instant takes it); the rest is
    ``other``."""
    points = sorted(
        {run.start, run.end}
        | {
            min(max(moment, run.start), run.end)
            for _, intervals in categories
            for interval in intervals
            for moment in (interval.start, interval.end)
        }
    )
    seconds = dict.fromkeys([name for name, _ in categories] + ["other"], 0.0)
    for start, end in itertools.pairwise(points):
        middle = start + (end - start) / 2
        name = next(
            (name for name, intervals in categories if any(i.start <= middle < i.end for i in intervals)), "other"
        )
        seconds[name] += (end - start).total_seconds()
    return seconds


@dataclass(frozen=True)
class Latency:
    """After an update ended: when the trigger fired, and when task code ran again (and for which task)."""

    update: UpdateRecord
    detected: float
    resumed: float
    next_step: float | None


def latencies(updates: list[UpdateRecord], execution: ExecutionTimes) -> list[Latency]:
    found = []
    worker = sorted(execution.worker, key=lambda interval: interval.start)
    for update in updates:
        ended = update.wall.end
        fired = min(i.end for i in execution.trigger if i.end >= ended)
        resumed = next(i for i in worker if i.start >= fired)
        later = [i for i in worker if i.start >= resumed.end]
        # The resumed task ended the step if it does not run again: the step's hand-off is to the next task.
        step_done = not any(i.label == resumed.label for i in later)
        found.append(
            Latency(
                update,
                (fired - ended).total_seconds(),
                (resumed.start - fired).total_seconds(),
                (later[0].start - ended).total_seconds() if step_done and later else None,
            )
        )
    return found


def p50_max(samples: list[float], unit: str = " s") -> str:
    return f"{statistics.median(samples):.2f} / {max(samples):.2f}{unit}"


def report(
    time_scale: float,
    poll: float,
    load: tuple[float, float],
    warm_up: Interval,
    run: Interval,
    updates: list[UpdateRecord],
    refreshes: list[Interval],
    execution: ExecutionTimes,
    tis: list[Any],
) -> None:
    update_walls = [update.wall for update in updates]
    update_time = covered_seconds(update_walls)
    simulated_sum = sum(update.simulated_seconds for update in updates)
    found = latencies(updates, execution)
    handoffs = [latency.next_step for latency in found if latency.next_step is not None]
    worker_total = covered_seconds(execution.worker)
    worker_in_updates = overlap_seconds(execution.worker, update_walls)
    worker_in_refreshes = overlap_seconds(execution.worker, refreshes)
    deferred = sum(interval.seconds for interval in execution.trigger)
    split = where_time_goes(
        run,
        [
            ("an EKS update InProgress", update_walls),
            ("an insights refresh running (pre-flight waits for it on the worker)", refreshes),
            ("task code on a worker", execution.worker),
            ("trigger polling after its update ended", execution.trigger),
        ],
    )

    print(f"\nUpdates (time scale {time_scale}, poll {poll:g} s):\n")
    print("| update | simulated | wall | ended → trigger fired | → task running again | → next step running |")
    print("|---|---|---|---|---|---|")
    for latency in found:
        update = latency.update
        next_step = f"{latency.next_step:.2f} s" if latency.next_step is not None else ""
        print(
            f"| {update.label} | {update.simulated_seconds / 60:.1f} min | {update.wall.seconds:.2f} s "
            f"| {latency.detected:.2f} s | {latency.resumed:.2f} s | {next_step} |"
        )

    print("\nTask instances (metadata DB span; worker and trigger time measured in process):\n")
    print("| task | state | DB start → end | on a worker | in a trigger |")
    print("|---|---|---|---|---|")
    for ti in sorted(tis, key=lambda ti: ti.start_date or run.end):
        on_worker = sum(i.seconds for i in execution.worker if i.label == ti.task_id)
        in_trigger = sum(i.seconds for i in execution.trigger if i.label == ti.task_id)
        span = (ti.end_date - ti.start_date).total_seconds() if ti.start_date and ti.end_date else 0.0
        print(f"| {ti.task_id} | {ti.state} | {span:.2f} s | {on_worker:.2f} s | {in_trigger:.2f} s |")

    rows = [
        ("time scale; eks_upgrade_poll_seconds", f"{time_scale}; {poll:g} s"),
        ("machine load average (1 min) before / after the runs", f"{load[0]:.2f} / {load[1]:.2f}"),
        (
            "EKS updates started by the run; their simulated time (sum)",
            f"{len(updates)}; {simulated_sum / 60:.1f} min",
        ),
        ("wall time any EKS update was InProgress (union)", f"{update_time:.1f} s"),
        ("runbook wall time (DagRun start → end)", f"{run.seconds:.1f} s"),
        ("runbook wall time ÷ EKS update time", f"{run.seconds / update_time:.3f}"),
        ("runbook overhead: wall time - EKS update time", f"{run.seconds - update_time:.1f} s"),
        ("update ended → trigger fired, p50 / max", p50_max([latency.detected for latency in found])),
        ("… ÷ poll interval, p50 / max", p50_max([latency.detected / poll for latency in found], "")),
        ("trigger fired → task code running again, p50 / max", p50_max([latency.resumed for latency in found])),
        ("update ended → next step's task running (step hand-off), p50 / max", p50_max(handoffs)),
        ("worker-seconds while an EKS update was InProgress", f"{worker_in_updates:.2f} s"),
        ("… ÷ EKS update time", f"{worker_in_updates / update_time:.3f}"),
        ("time deferred (in triggers, no worker slot)", f"{deferred:.1f} s"),
        ("worker-seconds in all", f"{worker_total:.1f} s"),
        (
            f"insights refreshes (pre-flight): {len(refreshes)}; worker-seconds while one ran ÷ their time",
            f"{worker_in_refreshes / covered_seconds(refreshes):.3f}" if refreshes else "none",
        ),
    ]
    rows += [(f"share of wall time: {name}", f"{seconds / run.seconds:.1%}") for name, seconds in split.items()]
    rows.append(("plan-mode run, the first in the process (warm-up): wall time", f"{warm_up.seconds:.1f} s"))
    parses = parse_ms()
    rows.append(
        (
            f"DAG parse beyond `import airflow`: eks_cluster_upgrade.py, median / min of {PARSE_REPEAT}",
            f"{statistics.median(parses):.1f} / {min(parses):.1f} ms",
        )
    )
    print("\n| measure | value |\n|---|---|")
    for label, value in rows:
        print(f"| {label} | {value} |")


def parse_ms() -> list[float]:
    """Milliseconds to parse the DAG file beyond ``import airflow``, each time in a fresh interpreter."""
    from tests.helpers import dag_parse_times

    return [dag_parse_times([DAG_FILE], dict(os.environ))[DAG_FILE.name] for _ in range(PARSE_REPEAT)]


if __name__ == "__main__":
    sys.exit(main())

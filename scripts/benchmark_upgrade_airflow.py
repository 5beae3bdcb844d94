"""Benchmark the demo's two-hop upgrade on a running Airflow: step latency, and where Airflow's overhead goes.

    .venv/bin/python scripts/benchmark_upgrade_airflow.py [--airflow distributed|standalone] [--time-scale 0.01]
        [--setting AIRFLOW__SECTION__KEY=VALUE ...] [--keep STATE_DIR]

The demo fleet runs on a sandbox in this process (scripts/benchmark_upgrade.py's ``demo_fleet``, whose wrapped
timeline records when each EKS update really ended); Airflow runs as ``scripts/demo.py`` runs it, with the demo's
settings (``demo.airflow_environment``: poll 1 s, ...): ``distributed`` = PostgreSQL, Redis, api-server,
scheduler, dag-processor, triggerer and two Celery workers (scripts/distributed_airflow.py), ``standalone`` =
``airflow standalone``. ``--setting`` adds or overrides one Airflow setting (or Variable) for every process, to
measure a tuning against the same command without it.

The upgrade (payments-prod 1.32 → 1.34, ``demo.UPGRADE_CONF``) is triggered through the REST API as the demo
does; once it ended, its task instances and their logs are read through the REST API too. Each execution of a
task (its first start, and each resume after a deferral) comes from the task's log; when a trigger noticed an
update ended, from the sandbox (the first DescribeUpdate of that update after its end: while a task is deferred
only its trigger asks); when the scheduler handed each execution to the executor and a Celery worker took it,
from their logs in the state directory. Printed, as Markdown for BENCHMARKS.md: per update, ended → trigger
fired → task running again → next step's task running; the phases of getting task code running (p50, max,
sum); runbook wall ÷ EKS update time; and where the run's wall time goes.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import benchmark_upgrade as bench
import demo
from process_table import free_port

REPO = Path(__file__).resolve().parents[1]
RUN_ID = "benchmark__two-hop-upgrade"
#: What the scheduler logs when it hands task instances to the executor, and a Celery worker when it takes one.
ENQUEUED = re.compile(r"<TaskInstance: [^.\s]+\.(\S+) ")
TAKEN = re.compile(r"Executing workload in Celery: .*?task_id=([^/]+)/")
DESCRIBE_UPDATE = re.compile(r"/updates/([0-9a-f-]{36})$")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)")


@dataclass
class UpdateLookups:
    """When anything asked the sandbox for each EKS update (DescribeUpdate), recorded in its request handler.

    While a task is deferred only its trigger asks, so the first lookup of an update after it ended is the
    trigger's poll that noticed it: the task log keeps only the last trigger's lines of a task instance.
    """

    times: dict[str, list[datetime]] = field(default_factory=dict)

    @contextmanager
    def recording(self) -> Iterator[None]:
        from unittest.mock import patch

        from eks_sandbox.server import SandboxDispatcher

        handle = SandboxDispatcher.__call__

        def recorded(dispatcher: Any, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            if found := DESCRIBE_UPDATE.search(environ.get("PATH_INFO", "")):
                self.times.setdefault(found.group(1), []).append(datetime.now(UTC))
            return handle(dispatcher, environ, start_response)

        with patch.object(SandboxDispatcher, "__call__", recorded):
            yield

    def polls_after_end(self, fleet: bench.DemoFleet) -> list[bench.Interval]:
        """Each update from its end to the first lookup that saw it ended."""
        found = []
        for update_id, simulated_end in fleet.aws.update_ends.items():
            ended = fleet.wall(simulated_end)
            seen = min((when for when in self.times.get(update_id, []) if when >= ended), default=None)
            if seen is not None:
                found.append(bench.Interval(update_id, ended, seen))
        return found


@dataclass(frozen=True)
class Execution:
    """One run of a task in a task process: its first start or a resume after a deferral, from the task's log.

    ``started``: the process's first log line; ``code_started``: the DAG parsed and the task set up (Airflow's
    "Pre Execute" group ended); ``ended``: the task's own end ("Post Execute" group ended: deferred or done).
    """

    task_id: str
    started: datetime
    code_started: datetime
    ended: datetime


@dataclass(frozen=True)
class HandOff:
    """How an execution came to run: when it was ready (upstream done, or its trigger fired), handed to the
    executor by the scheduler, taken by a worker (Celery only), and ran."""

    execution: Execution
    ready: datetime
    enqueued: datetime
    taken: datetime | None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--airflow", choices=("distributed", "standalone"), default="distributed")
    parser.add_argument("--time-scale", type=float, default=0.01, help="as the demo's (default 0.01)")
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE", help="environment setting")
    parser.add_argument("--keep", type=Path, help="state directory to keep (default: a temporary one, removed)")
    args = parser.parse_args()
    settings = dict(setting.split("=", 1) for setting in args.setting)
    sys.path.insert(0, str(REPO))
    # This process's own clients (reading the updates back) reach the sandbox as the demo's do.
    os.environ.update(AWS_ACCESS_KEY_ID="sandbox", AWS_SECRET_ACCESS_KEY="sandbox", AWS_DEFAULT_REGION=bench.REGION)
    state = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="eks-runbooks-latency-"))
    (state / "airflow").mkdir(parents=True, exist_ok=True)
    try:
        return benchmark(args.airflow, args.time_scale, settings, state)
    finally:
        if not args.keep:
            remove_state(state)


def benchmark(topology: str, time_scale: float, settings: dict[str, str], state: Path) -> int:
    load_before = os.getloadavg()[0]
    lookups = UpdateLookups()
    with bench.demo_fleet(time_scale) as fleet, fleet.aws.recording(), lookups.recording():
        gc.collect()
        gc.freeze()  # the sandbox's heap is not scanned by each full collection while it serves Airflow
        port = free_port()
        airflow_url = f"http://localhost:{port}"
        home = state / "airflow"
        passwords = demo.user_passwords(home)
        world_date = fleet.world_origin.date().isoformat()
        env = demo.airflow_environment(port, fleet.server.url, world_date, home, passwords) | settings
        env.pop("AWS_ENDPOINT_URL")  # as in the demo, Airflow reaches the sandbox through its connections
        processes: list[subprocess.Popen] = []
        try:
            start_airflow(topology, env, port, state, processes)
            demo.wait_until(lambda: demo.airflow_healthy(airflow_url), "Airflow", processes, state, timeout=300)
            headers = demo.api_headers(airflow_url, "admin", passwords["admin"])
            demo.unpause_dag(airflow_url, demo.UPGRADE_DAG, headers, processes, state)
            run = run_upgrade(airflow_url, headers, processes, state)
            tis = task_instances(airflow_url, headers)
            logs = {key: task_log(airflow_url, headers, ti) for ti in tis if (key := ti_key(ti)) and ti["try_number"]}
            cpu = cpu_seconds(processes)
        finally:
            for process in reversed(processes):
                demo.stop_process_group(process)
        updates, refreshes, polls = fleet.updates(), fleet.refreshes(), lookups.polls_after_end(fleet)
    (state / "benchmark.json").write_text(json.dumps({"run": run, "tis": tis, "logs": logs}, default=str))
    if run["state"] != "success":
        print(f"run {RUN_ID} ended {run['state']}; see {state}", file=sys.stderr)
        return 1
    service_lines = [line for log in sorted(state.glob("*.log")) for line in log.read_text().splitlines()]
    executions = sorted((e for key, log in logs.items() for e in executions_of(key, log)), key=lambda e: e.started)
    hand_offs = hand_offs_of(executions, polls, service_lines, parse_time(run["start_date"]))
    skipped = [ti for ti in tis if ti["state"] == "skipped" and ti["start_date"]]
    context = (topology, time_scale, env["AIRFLOW_VAR_EKS_UPGRADE_POLL_SECONDS"], settings, load_before)
    report(context, run, updates, refreshes, executions, polls, hand_offs, skipped)
    print("\n| process (with its children) | CPU seconds since start |\n|---|---|")
    for name, seconds in cpu.items():
        print(f"| {name} | {seconds:.1f} |")
    return 0


def cpu_seconds(processes: list[subprocess.Popen]) -> dict[str, float]:
    """User + system CPU of each process group: its live members and the children they reaped (start-up included)."""
    import psutil

    found = {}
    for process in processes:
        with contextlib.suppress(psutil.Error):
            leader = psutil.Process(process.pid)
            members = [leader, *leader.children(recursive=True)]
            name = process_name(process.args)
            found[name] = sum(sum(member.cpu_times()[:4]) for member in members)
    return found


def start_airflow(
    topology: str, env: dict[str, str], port: int, state: Path, processes: list[subprocess.Popen]
) -> None:
    """Airflow's processes as the demo starts them; each joins ``processes`` as soon as it runs."""
    if topology == "distributed":
        # What start_distributed starts joins ``processes``: appended by it, or returned (then added here).
        processes.extend(demo.start_distributed(env, port, state, processes) or [])
    else:
        processes.append(demo.start_in_own_group(["airflow", "standalone"], state / "airflow-standalone.log", env))


def run_upgrade(
    airflow_url: str, headers: dict[str, str], processes: list[subprocess.Popen], state: Path
) -> dict[str, Any]:
    """Trigger the demo's upgrade through REST and wait until it ended; returns the DagRun."""
    dag_url = f"{airflow_url}/api/v2/dags/{demo.UPGRADE_DAG}"
    body = {"dag_run_id": RUN_ID, "logical_date": None, "conf": demo.UPGRADE_CONF}
    demo.request_json(f"{dag_url}/dagRuns", body, headers=headers)
    run_url = f"{dag_url}/dagRuns/{quote(RUN_ID, safe='')}"

    def ended() -> dict[str, Any] | None:
        run = demo.request_json(run_url, headers=headers)
        return run if run["state"] in ("success", "failed") else None

    return demo.wait_until(ended, f"run {RUN_ID} to end", processes, state, timeout=demo.RUN_TIMEOUT)


def process_name(command: list[str]) -> str:
    """``airflow scheduler``, ``airflow celery worker worker-1``, ``postgres``, ``redis-server``."""
    if "--celery-hostname" in command:
        return f"airflow celery worker {command[command.index('--celery-hostname') + 1].split('@')[0]}"
    programs = [Path(arg).name for arg in command if not arg.startswith("-")]
    return next((name for name in programs if name in ("postgres", "redis-server")), " ".join(command[:2]))


def task_instances(airflow_url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    url = f"{airflow_url}/api/v2/dags/{demo.UPGRADE_DAG}/dagRuns/{quote(RUN_ID, safe='')}/taskInstances?limit=500"
    return demo.request_json(url, headers=headers)["task_instances"]


def ti_key(ti: dict[str, Any]) -> str:
    return ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"


def task_log(airflow_url: str, headers: dict[str, str], ti: dict[str, Any]) -> list[dict[str, Any]]:
    """The structured log of the task instance's last try (JSON events with timestamps)."""
    url = (
        f"{airflow_url}/api/v2/dags/{demo.UPGRADE_DAG}/dagRuns/{quote(RUN_ID, safe='')}/taskInstances/"
        f"{ti['task_id']}/logs/{ti['try_number']}?full_content=true&map_index={ti['map_index']}"
    )
    return demo.request_json(url, headers=headers | {"Accept": "application/json"}).get("content", [])


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def executions_of(task_id: str, log: list[dict[str, Any]]) -> list[Execution]:
    """Each execution of the task, from its structured log (the trigger's lines interleave; they are skipped)."""
    found, started, code_started, in_post = [], None, None, False
    for entry in log:
        event, when = entry.get("event"), entry.get("timestamp")
        if not when or entry.get("logger") != "task":
            continue
        if event == "::group::Pre Execute":
            started, code_started, in_post = parse_time(when), None, False
        elif event == "::group::Post Execute":
            in_post = True
        elif event == "::endgroup::" and started and code_started is None:
            code_started = parse_time(when)
        elif event == "::endgroup::" and started and code_started and in_post:
            found.append(Execution(task_id, started, code_started, parse_time(when)))
            started = None
    return found


def service_times(lines: Iterable[str], marker: str, pattern: re.Pattern[str]) -> list[tuple[str, datetime]]:
    """(task id, when) for every service log line that contains ``marker``: one per task instance it names."""
    return [
        (task_id, parse_time(stamp.group()))
        for line in lines
        if marker in line and (stamp := TIMESTAMP.search(line))
        for task_id in pattern.findall(line)
    ]


def last_before(times: list[tuple[str, datetime]], task_id: str, moment: datetime) -> datetime | None:
    return max((when for task, when in times if task == task_id and when <= moment), default=None)


def hand_offs_of(
    executions: list[Execution], polls: list[bench.Interval], service_lines: list[str], run_start: datetime
) -> list[HandOff]:
    """When each execution was ready: its trigger noticed an update ended (a resume), or the execution before
    it ended (a first start); then the scheduler's and the Celery worker's log lines for it."""
    enqueued = service_times(service_lines, "Trying to enqueue tasks", ENQUEUED)
    taken = service_times(service_lines, "Executing workload in Celery", TAKEN)
    found = []
    for execution in executions:
        queued_at = last_before(enqueued, execution.task_id, execution.started)
        if queued_at is None:
            continue
        before = [e for e in executions if e.ended <= queued_at]
        resumed = bool(before) and max(before, key=lambda e: e.ended).task_id == execution.task_id
        if resumed:
            ready = max((p.end for p in polls if p.end <= queued_at), default=before[-1].ended)
        else:
            ready = max((e.ended for e in before), default=run_start)
        found.append(HandOff(execution, ready, queued_at, last_before(taken, execution.task_id, execution.started)))
    return found


def report(
    context: tuple[str, float, str, dict[str, str], float],
    run: dict[str, Any],
    updates: list[bench.UpdateRecord],
    refreshes: list[bench.Interval],
    executions: list[Execution],
    polls: list[bench.Interval],
    hand_offs: list[HandOff],
    skipped: list[dict[str, Any]],
) -> None:
    topology, time_scale, poll, settings, load_before = context
    run_wall = bench.Interval("run", parse_time(run["start_date"]), parse_time(run["end_date"]))
    times = bench.ExecutionTimes()
    times.worker = [bench.Interval(e.task_id, e.started, e.ended) for e in executions]
    times.trigger = polls
    found = bench.latencies(updates, times)
    print(f"\nUpdates ({topology}, time scale {time_scale}, poll {poll} s):\n")
    print("| update | simulated | wall | ended → trigger fired | → task running again | → next step running |")
    print("|---|---|---|---|---|---|")
    for latency in found:
        update, next_step = latency.update, f"{latency.next_step:.2f} s" if latency.next_step is not None else ""
        print(
            f"| {update.label} | {update.simulated_seconds / 60:.1f} min | {update.wall.seconds:.2f} s "
            f"| {latency.detected:.2f} s | {latency.resumed:.2f} s | {next_step} |"
        )
    print_phases(hand_offs)
    update_walls = [update.wall for update in updates]
    update_time = bench.covered_seconds(update_walls)
    handoffs = [latency.next_step for latency in found if latency.next_step is not None]
    rows = [
        ("Airflow; time scale; eks_upgrade_poll_seconds", f"{topology}; {time_scale}; {poll} s"),
        ("settings beyond the demo's", ", ".join(f"`{k}={v}`" for k, v in settings.items()) or "none"),
        ("machine load average (1 min) before / after", f"{load_before:.2f} / {os.getloadavg()[0]:.2f}"),
        (
            "EKS updates; their simulated time (sum)",
            f"{len(updates)}; {sum(u.simulated_seconds for u in updates) / 60:.1f} min",
        ),
        ("wall time any EKS update was InProgress (union)", f"{update_time:.1f} s"),
        ("runbook wall time (DagRun start → end)", f"{run_wall.seconds:.1f} s"),
        ("runbook wall time ÷ EKS update time", f"{run_wall.seconds / update_time:.2f}"),
        ("overhead: wall time - EKS update time", f"{run_wall.seconds - update_time:.1f} s"),
        ("update ended → trigger fired, p50 / max", bench.p50_max([x.detected for x in found])),
        ("trigger fired → task running again, p50 / max", bench.p50_max([x.resumed for x in found])),
        ("update ended → next step's task running (step hand-off), p50 / max", bench.p50_max(handoffs)),
        ("executions of task code (first starts and resumes)", f"{len(executions)}"),
    ]
    split = bench.where_time_goes(run_wall, wall_categories(update_walls, refreshes, hand_offs, polls, skipped))
    rows += [
        (f"share of wall time: {name}", f"{seconds:.1f} s ({seconds / run_wall.seconds:.0%})")
        for name, seconds in split.items()
    ]
    print("\n| measure | value |\n|---|---|")
    for label, value in rows:
        print(f"| {label} | {value} |")


def wall_categories(
    update_walls: list[bench.Interval],
    refreshes: list[bench.Interval],
    hand_offs: list[HandOff],
    polls: list[bench.Interval],
    skipped: list[dict[str, Any]],
) -> list[tuple[str, list[bench.Interval]]]:
    """What each instant of the run may be spent on, in the order ``where_time_goes`` gives it precedence."""
    skipping = (
        [
            bench.Interval(
                "skipping",
                min(parse_time(ti["start_date"]) for ti in skipped),
                max(parse_time(ti["end_date"]) for ti in skipped),
            )
        ]
        if skipped
        else []
    )
    return [
        ("an EKS update InProgress", update_walls),
        ("an insights refresh (pre-flight, on a worker)", refreshes),
        ("task code", [bench.Interval("code", h.execution.code_started, h.execution.ended) for h in hand_offs]),
        (
            "task process start-up and DAG parse",
            [bench.Interval("start", h.taken or h.enqueued, h.execution.code_started) for h in hand_offs],
        ),
        (
            "queued: executor and Celery broker",
            [bench.Interval("queued", h.enqueued, h.taken) for h in hand_offs if h.taken],
        ),
        ("trigger polling after its update ended", polls),
        ("the plan's unused hop groups being skipped", skipping),
        (
            "scheduler: ready → handed to the executor",
            [bench.Interval("scheduler", h.ready, h.enqueued) for h in hand_offs],
        ),
    ]


#: The hand-off phases of an execution, each as (name, start, end) of a HandOff.
PHASES = (
    ("scheduler: ready (upstream done / trigger fired) → handed to the executor", lambda h: (h.ready, h.enqueued)),
    ("executor and Celery broker: handed → a worker took it", lambda h: (h.enqueued, h.taken)),
    ("task process start-up (fork, imports)", lambda h: (h.taken or h.enqueued, h.execution.started)),
    ("DAG parse and task set-up in the task process", lambda h: (h.execution.started, h.execution.code_started)),
    ("task code", lambda h: (h.execution.code_started, h.execution.ended)),
)


def print_phases(hand_offs: list[HandOff]) -> None:
    """Per phase of getting a task's code running: p50 / max / sum, for first starts and for resumes."""
    print("\n| phase | p50 / max per execution | sum |\n|---|---|---|")
    for name, span in PHASES:
        seconds = [(end - start).total_seconds() for start, end in map(span, hand_offs) if end is not None]
        if seconds:
            print(f"| {name} | {bench.p50_max(seconds)} | {sum(seconds):.1f} s ({len(seconds)}) |")


def remove_state(state: Path) -> None:
    """The state directory and, when PostgreSQL ran as the postgres user, its data directory elsewhere."""
    link = state / "postgres"
    if link.is_symlink():
        subprocess.run(["rm", "-rf", str(link.resolve())], check=False)
    subprocess.run(["rm", "-rf", str(state)], check=False)


if __name__ == "__main__":
    sys.exit(main())

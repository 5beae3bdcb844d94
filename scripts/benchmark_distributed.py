"""Benchmark the nightly audits on the distributed Airflow over a simulated fleet; prints Markdown for BENCHMARKS.md.

    .venv/bin/python scripts/benchmark_distributed.py [--clusters 500] > distributed-benchmark.md

Generates the cost benchmark's fleet (scripts/benchmark_cost.py: 2 accounts by 4 regions, web / batch / data /
legacy clusters with workloads), serves it from an in-process sandbox (its requests counted where they arrive),
starts the demo's distributed Airflow against it (scripts/distributed_airflow.py: PostgreSQL, Redis, api-server,
scheduler, dag-processor, triggerer, two Celery workers of two slots), waits until the DAGs are parsed, then
triggers ``eks_compliance_audit`` and ``eks_cost_audit`` together through the REST API — as their schedules start
them on a night — and measures until both runs ended:

- wall time from the triggers to the last run's end, for each run and for both (the 10-minute window);
- clusters per minute; AWS calls per cluster (the sandbox's own count, by service and operation) and Kubernetes
  requests per cluster;
- peak memory per worker: every second, the resident memory of each worker's process group (the Celery worker and
  its pool) plus the task processes its pool's supervisors started, summed; the largest sum is its peak;
- CPU seconds of the machine (``/proc/stat``) during the window, with the sandbox's share (the meter's thread
  time) apart, and the load average before and after: the machine may be shared.

Everything runs on this machine; absolute figures vary with it, so compare ratios (BENCHMARKS.md gives the serial
``dag.test()`` figures of the same fleet from scripts/benchmark_audit.py and scripts/benchmark_cost.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))

import benchmark_audit  # noqa: E402 (the scripts folder is not a package)
import benchmark_cost  # noqa: E402
import demo  # noqa: E402
import distributed_airflow  # noqa: E402
from process_table import free_port, process_table  # noqa: E402

AUDITS = ("eks_compliance_audit", "eks_cost_audit")
RUN_ID = "benchmark__distributed"
WORKERS = tuple(f"airflow-{worker}" for worker in distributed_airflow.WORKERS)


@dataclass
class Topology:
    """The processes started, by name (the log file's stem), and the admin's REST session."""

    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    api: requests.Session = field(default_factory=requests.Session)
    url: str = ""

    def start(self, command: list[str], log_path: Path, env: dict[str, str] | None) -> subprocess.Popen:
        with log_path.open("w") as log:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[log_path.stem] = process
        return process

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            demo.stop_process_group(process)


class MemorySampler:
    """Samples every second the resident memory of each worker: its process group and its task processes."""

    def __init__(self, groups: dict[str, int]) -> None:
        self.groups = groups
        self.peaks: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            rows = processes()
            for worker, group in self.groups.items():
                members = {pid for pgid, pid, _, _ in rows if pgid == group}
                tasks = {pid for _, pid, ppid, _ in rows if ppid in members and pid not in members}
                resident = sum(rss for _, pid, _, rss in rows if pid in members | tasks)
                self.peaks[worker] = max(self.peaks[worker], resident)


def processes() -> list[tuple[int, int, int, int]]:
    """(process group, pid, parent pid, resident KiB) of every process."""
    return [tuple(int(value) for value in row) for row in process_table("pgid", "pid", "ppid", "rss")]  # type: ignore[misc]


def group_cpu_seconds(groups: dict[str, int]) -> Counter[str]:
    """CPU seconds of each process group's live processes, their reaped children included (``/proc/<pid>/stat``:
    utime, stime, cutime, cstime): a Celery pool process reaps the task processes its supervisor starts."""
    members: dict[int, str] = {}
    for pgid, pid, _, _ in processes():
        for name, group in groups.items():
            if pgid == group:
                members[pid] = name
    seconds: Counter[str] = Counter()
    for pid, name in members.items():
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            seconds[name] += sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return seconds


def machine_cpu_seconds() -> float:
    """CPU seconds every core of the machine spent busy since boot (``/proc/stat``: all but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


def start_airflow(state: Path, sandbox_url: str, topology: Topology) -> dict[str, str]:
    """The demo's distributed Airflow against ``sandbox_url``, acting in the generated fleet's two accounts."""
    port = free_port()
    home = state / "airflow"
    home.mkdir(parents=True)
    passwords = demo.user_passwords(home)
    base = demo.airflow_environment(port, sandbox_url, benchmark_audit.FLEET_DATE.isoformat(), home, passwords)
    base |= benchmark_audit.connections(sandbox_url) | {
        "AIRFLOW_VAR_EKS_FLEET": json.dumps(benchmark_audit.audit_targets()),
        "AIRFLOW_VAR_EKS_CLUSTER_DEFINITIONS": "{}",
        "AIRFLOW_CONN_TICKETING_DEFAULT": json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9"}),
    }
    _, database_url = distributed_airflow.start_postgres(state, topology.start)
    _, broker_url = distributed_airflow.start_redis(state, topology.start)
    env = distributed_airflow.distributed_environment(
        base, distributed_airflow.Backends(database_url, broker_url), port
    )
    distributed_airflow.migrate(env, state)
    distributed_airflow.start_airflow_services(env, state, topology.start)
    topology.url = f"http://localhost:{port}"
    wait(lambda: demo.airflow_healthy(topology.url), "Airflow to be healthy", 300)
    topology.api.headers.update(demo.api_headers(topology.url, "admin", passwords["admin"]))
    return env


def wait(condition: Any, what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException, OSError):
            if result := condition():
                return result
        time.sleep(1)
    raise SystemExit(f"benchmark: gave up waiting for {what} after {timeout:.0f} s")


def unpause_audits(topology: Topology) -> None:
    """Wait until the DAG processor parsed both audits, then unpause them (before the clock starts)."""
    dags = f"{topology.url}/api/v2/dags"
    for dag_id in AUDITS:
        wait(lambda d=dag_id: topology.api.get(f"{dags}/{d}", timeout=30).ok, f"{dag_id} to be parsed", 300)
        topology.api.patch(f"{dags}/{dag_id}", json={"is_paused": False}, timeout=30).raise_for_status()


def run_audits(topology: Topology) -> dict[str, dict[str, Any]]:
    """Trigger both audits at once; wait for both to end; their runs (with start and end dates)."""
    dags = f"{topology.url}/api/v2/dags"
    for dag_id in AUDITS:
        trigger = {"dag_run_id": RUN_ID, "logical_date": None, "conf": {}}
        topology.api.post(f"{dags}/{dag_id}/dagRuns", json=trigger, timeout=30).raise_for_status()

    def ended() -> dict[str, dict[str, Any]] | None:
        runs = {d: topology.api.get(f"{dags}/{d}/dagRuns/{RUN_ID}", timeout=30).json() for d in AUDITS}
        return runs if all(run["state"] in ("success", "failed") for run in runs.values()) else None

    return wait(ended, "both audits to end", 3600)


def report_clusters(topology: Topology, dag_id: str) -> int:
    """How many clusters the run's report covers (read from the report JSON the report task names)."""
    url = f"{topology.url}/api/v2/dags/{dag_id}/dagRuns/{RUN_ID}/taskInstances/report/xcomEntries/return_value"
    report = topology.api.get(url, timeout=30).json()["value"]
    document = json.loads(Path(report["report_json"].removeprefix("file://")).read_text())
    return len(document["clusters"])


def seconds_between(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def benchmark(clusters: int, out: Any) -> int:
    document = benchmark_audit.fleet_document(clusters, benchmark_cost.cost_cluster_spec)
    with tempfile.TemporaryDirectory(prefix="eks-distributed-benchmark-") as work:
        state = Path(work)
        state.chmod(0o755)
        with benchmark_audit.loaded_fleet(document, state / "reports") as fleet:
            topology = Topology()
            try:
                start_airflow(state, os.environ["AWS_ENDPOINT_URL"], topology)
                unpause_audits(topology)
                groups = {worker: topology.processes[worker].pid for worker in WORKERS}
                everything = {name: process.pid for name, process in topology.processes.items()}
                fleet.sandbox.api_calls.clear()
                fleet.meter.reset()
                load_before, cpu_before = os.getloadavg()[0], machine_cpu_seconds()
                services_before = group_cpu_seconds(everything)
                with MemorySampler(groups) as memory:
                    started = time.monotonic()
                    runs = run_audits(topology)
                    wall = time.monotonic() - started
                cpu = machine_cpu_seconds() - cpu_before
                services = group_cpu_seconds(everything)
                services.subtract(services_before)
                covered = {dag_id: report_clusters(topology, dag_id) for dag_id in AUDITS}
            finally:
                topology.stop()
                postgres = state / "postgres"
                if postgres.is_symlink():
                    subprocess.run(["rm", "-rf", str(postgres.resolve())], check=False)
            load = (load_before, os.getloadavg()[0])
            print(markdown(clusters, fleet, runs, covered, wall, cpu, memory.peaks, load), file=out)
            print(service_rows(services, fleet.meter.cpu_seconds, clusters), file=out, flush=True)
    return 0 if all(run["state"] == "success" for run in runs.values()) else 1


def markdown(
    clusters: int,
    fleet: Any,
    runs: dict[str, dict[str, Any]],
    covered: dict[str, int],
    wall: float,
    cpu: float,
    peaks: Counter[str],
    load: tuple[float, float],
) -> str:
    aws_calls = sum(fleet.sandbox.api_calls.values())
    rows = [
        ("clusters (2 accounts by 4 regions); nodes; pods", f"{clusters}; {fleet.nodes}; {fleet.pods}"),
        ("both audits, triggers → last run's end", f"{wall:.0f} s ({wall / 60:.1f} min)"),
        ("cluster-audits per minute (both audits)", f"{2 * clusters / (wall / 60):.0f}"),
    ]
    for dag_id, run in runs.items():
        duration = seconds_between(run["start_date"], run["end_date"])
        outcome = f"{run['state']}; {duration:.0f} s; {covered[dag_id]}"
        rows.append((f"{dag_id}: state; DagRun wall; clusters reported", outcome))
    rows += [
        ("AWS calls per cluster (both audits)", f"{aws_calls / clusters:.1f}"),
        ("Kubernetes requests per cluster (both audits)", f"{fleet.meter.kube_total() / clusters:.1f}"),
        ("machine CPU during the window; of it the sandbox", f"{cpu:.0f} s; {fleet.meter.cpu_seconds:.0f} s"),
        ("CPU per cluster-audit, sandbox excluded", f"{(cpu - fleet.meter.cpu_seconds) / (2 * clusters):.3f} s"),
        *(
            (f"peak memory, {worker} (pool and task processes)", f"{peaks[worker] / 1024:.0f} MiB")
            for worker in WORKERS
        ),
        ("load average (1 min) before → after", f"{load[0]:.1f} → {load[1]:.1f}"),
    ]
    calls = Counter({f"{service} {operation}": n for (service, operation), n in fleet.sandbox.api_calls.items()})
    top = ", ".join(f"{name} {n / clusters:.1f}" for name, n in calls.most_common(8))
    lines = ["| measure | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]
    return "\n".join([*lines, "", f"AWS calls per cluster, most frequent: {top}"])


def service_rows(services: Counter[str], sandbox_cpu: float, clusters: int) -> str:
    """Where the CPU went: each process group of the topology, the sandbox (in this process) apart."""
    rows = [(name, seconds) for name, seconds in services.most_common()] + [("sandbox (this process)", sandbox_cpu)]
    airflow = sum(seconds for name, seconds in services.items() if name.startswith("airflow-"))
    lines = ["| process group | CPU during the window |", "|---|---|"]
    lines += [f"| {name} | {seconds:.1f} s |" for name, seconds in rows]
    lines.append(
        f"| **Airflow's processes in all; per cluster-audit** | **{airflow:.0f} s; {airflow / (2 * clusters):.3f} s** |"
    )
    return "\n".join(["", *lines])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="airflow-home-") as home:
        # loaded_fleet resets an Airflow DB of this process (unused by the benchmark): a throw-away one.
        benchmark_audit.prepare_environment(Path(home))
        with benchmark_audit.logs_to_stderr() as out:
            return benchmark(args.clusters, out)


if __name__ == "__main__":
    sys.exit(main())

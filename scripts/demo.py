"""The main job: the simulated demo fleet plus Airflow (standalone, SQLite) wired to it, upgrading a cluster.

1. starts ``eks-sandbox serve`` with include/sandbox/fleets/demo.yaml,
2. starts ``airflow standalone`` (UI and REST API on http://localhost:8080) whose ``aws_default`` connection
   points at the sandbox and whose ``airflow_api`` connection lets runbooks set their run's note,
3. triggers ``eks_cluster_upgrade`` through the REST API, as a ticketing system would: payments-prod from 1.32
   to 1.34 (two hops, not a dry run) for a ticket ``DEMO-<time>``; waits for the run to end and prints its
   state, its summary and where its report is,
4. keeps everything up until Ctrl-C (or exits once the run ended with ``--exit-after-run``: status 0 when it
   succeeded), then stops both process groups — nothing is left running.

Airflow's ``ticketing_default`` connection points at a small receiver in this process that prints every ticket
update a runbook posts (``ticket update: {...}``), as a ticketing system would record it on the ticket — unless
``AIRFLOW_CONN_TICKETING_DEFAULT`` is set already, which then wins.

``--distributed`` replaces step 2's ``airflow standalone`` with Airflow as teams deploy it: PostgreSQL, Redis,
``airflow db migrate``, then the api-server, scheduler, dag-processor, triggerer and two Celery workers, each a
process group of its own (scripts/distributed_airflow.py; the same topology as docker-compose.yaml).

``--serve-only`` skips step 3: Airflow waits with ``eks_cluster_upgrade`` unpaused, for runs started by hand.
State lives in ``var/`` (Airflow home, logs, reports; ``--state-dir`` to choose another); delete it to start
over. The sandbox starts from the fleet file every time, so every demo finds payments-prod at 1.32.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import distributed_airflow
from process_table import process_table

REPO = Path(__file__).resolve().parents[1]
DEMO_FLEET = REPO / "include" / "sandbox" / "fleets" / "demo.yaml"
UPGRADE_DAG = "eks_cluster_upgrade"
UPGRADE_CONF = {
    "cluster_name": "payments-prod",
    "region": "us-east-1",
    "target_version": "1.34",
    "dry_run": False,
    "nodegroup_parallelism": 2,  # general and batch roll side by side
}
#: The identity the runbooks act as in each account of the demo fleet, as its access entries grant: the first account
#: through ``aws_default`` (role eks-runbooks), the others through a connection of their own.
FLEET_ROLES = {
    "123456789012": ("aws_default", "arn:aws:iam::123456789012:role/eks-runbooks"),
    "210987654321": ("aws_ml_platform", "arn:aws:iam::210987654321:role/fleet-audit"),
}
#: SimpleAuthManager users and roles: you, and the user of the ``airflow_api`` connection — role USER may edit
#: DAG runs (their notes) and nothing more, as run_notes.py asks.
USERS = {"admin": "admin", "runbooks": "user"}
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
#: Seconds the upgrade may take before the demo gives up: it takes about 90 s at the default time scale (0.01),
#: and a larger --time-scale stretches every simulated update.
RUN_TIMEOUT = 1800
#: Celery workers that ended while the demo ran (said once each).
LOST_WORKERS: list[subprocess.Popen] = []
#: Seconds to wait, once the run ended, for its ticket update (Airflow runs a DAG's end callback a moment later).
TICKET_UPDATE_TIMEOUT = 60


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: its state, its one-line summary, and the report task's return value (summary and URLs)."""

    run_id: str
    state: str
    summary: str
    report: dict[str, str]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sandbox-port", type=int, default=5055)
    parser.add_argument("--airflow-port", type=int, default=8080)
    parser.add_argument("--time-scale", type=float, default=0.01, help="multiplies simulated durations (default 0.01)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--exit-after-run", action="store_true", help="stop everything once the upgrade run ended")
    mode.add_argument("--serve-only", action="store_true", help="trigger nothing; keep the sandbox and Airflow up")
    parser.add_argument("--state-dir", type=Path, default=REPO / "var", help="Airflow home and logs (default: var/)")
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="PostgreSQL, Redis, and Airflow's services and two Celery workers as separate processes",
    )
    args = parser.parse_args()

    state = args.state_dir.resolve()
    airflow_home = state / "airflow"
    airflow_home.mkdir(parents=True, exist_ok=True)
    sandbox_url = f"http://127.0.0.1:{args.sandbox_port}"
    airflow_url = f"http://localhost:{args.airflow_port}"
    processes: list[subprocess.Popen] = []
    tickets = None if "AIRFLOW_CONN_TICKETING_DEFAULT" in os.environ else TicketReceiver()
    # Ctrl-C and TERM interrupt whatever is under way — start-up waits included — and land in `finally`.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        processes.append(start_sandbox(args.sandbox_port, args.time_scale, state))
        wait_until(
            lambda: health(f"{sandbox_url}/_sandbox/health").get("fleet_loaded"),
            "the sandbox fleet",
            processes,
            state,
            timeout=180,
        )
        world_date = health(f"{sandbox_url}/_sandbox/health")["world_date"]
        print(f"sandbox: demo fleet served on {sandbox_url} (world date {world_date})", flush=True)
        passwords = user_passwords(airflow_home)
        if tickets is not None:
            print(f"ticketing: receiver on {tickets.url} (connection ticketing_default) prints each update", flush=True)
        ticketing_env = {"AIRFLOW_CONN_TICKETING_DEFAULT": tickets.connection()} if tickets is not None else {}
        env = airflow_environment(args.airflow_port, sandbox_url, world_date, airflow_home, passwords) | ticketing_env
        if args.distributed:
            start_distributed(env, args.airflow_port, state, processes)
        else:
            processes.append(start_in_own_group(["airflow", "standalone"], state / "airflow-standalone.log", env))
        wait_until(lambda: airflow_healthy(airflow_url), "Airflow", processes, state, timeout=240)
        print(f"airflow: UI on {airflow_url} (user admin, password {passwords['admin']})", flush=True)
        headers = api_headers(airflow_url, "admin", passwords["admin"])
        unpause_dag(airflow_url, UPGRADE_DAG, headers, processes, state)

        if not args.serve_only:
            outcome = run_upgrade(airflow_url, headers, processes, state)
            print(f"{UPGRADE_DAG} run {outcome.run_id} finished: {outcome.state}", flush=True)
            print(f"summary: {outcome.summary}", flush=True)
            print(f"report: {outcome.report.get('report_markdown', '(none)')}", flush=True)
            print(f"report JSON: {outcome.report.get('report_json', '(none)')}", flush=True)
            print(f"sandbox says: {kubernetes_versions(sandbox_url, UPGRADE_CONF)}", flush=True)
            if tickets is not None:
                tickets.wait_for(outcome.run_id.removeprefix("ticket__"), TICKET_UPDATE_TIMEOUT)
            if args.exit_after_run:
                return 0 if outcome.state == "success" else 1
        print("Press Ctrl-C to stop the sandbox and Airflow.", flush=True)
        while not (ended := stopped_process(processes)):
            time.sleep(0.5)
        print(f"demo: {ended} exited on its own; see {state}/*.log", flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for process in reversed(processes):
            stop_process_group(process)
        if tickets is not None:
            tickets.stop()
        print("demo: sandbox and Airflow stopped", flush=True)


def interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def start_in_own_group(command: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a command as the leader of a new process group (so the whole group can be stopped), logging to a file."""
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    print(f"demo: started {log_path.stem} (pid {process.pid}, process group {process.pid}, log {log_path})", flush=True)
    return process


def start_sandbox(port: int, time_scale: float, state: Path) -> subprocess.Popen:
    return start_in_own_group(
        ["eks-sandbox", "serve", "--fleet", str(DEMO_FLEET), "--port", str(port), "--time-scale", str(time_scale)],
        state / "eks-sandbox.log",
    )


def user_passwords(airflow_home: Path) -> dict[str, str]:
    """The passwords of ``USERS``, generated into SimpleAuthManager's password file before Airflow starts.

    SimpleAuthManager keeps the passwords it finds in that file and generates only missing ones; writing them
    first lets the ``airflow_api`` connection, an environment variable fixed at start, carry one.
    """
    path = airflow_home / PASSWORDS_FILE
    passwords = json.loads(path.read_text()) if path.exists() else {}
    missing = {user: secrets.token_urlsafe(12) for user in USERS if user not in passwords}
    if missing:
        passwords |= missing
        path.touch(mode=0o600)
        path.write_text(json.dumps(passwords) + "\n")
    return passwords


def airflow_environment(
    port: int, sandbox_url: str, world_date: str, airflow_home: Path, passwords: dict[str, str]
) -> dict[str, str]:
    """Airflow settings for the demo: SQLite, LocalExecutor, the repo's dags/plugins, AWS → the sandbox, and the
    runbooks' "today" set to the sandbox's world date."""
    connections = {
        f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(aws_connection(sandbox_url, role_arn))
        for conn_id, role_arn in FLEET_ROLES.values()
    }
    api_connection = {
        "conn_type": "http",
        "host": f"http://localhost:{port}",
        "login": "runbooks",
        "password": passwords["runbooks"],
    }
    return os.environ | {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{user}:{role}" for user, role in USERS.items()),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        **connections,
        "AIRFLOW_CONN_AIRFLOW_API": json.dumps(api_connection),
        # The audit covers every cluster of the demo fleet, in both accounts.
        "AIRFLOW_VAR_EKS_FLEET": json.dumps(fleet_targets(DEMO_FLEET)),
        # A cluster to rehearse eks_cluster_bootstrap with: start it by name (definition "payments-next").
        "AIRFLOW_VAR_EKS_CLUSTER_DEFINITIONS": json.dumps(demo_cluster_definitions(sandbox_url)),
        # The sandbox finishes updates in seconds at demo time scales: poll it every second, not every 30.
        "AIRFLOW_VAR_EKS_UPGRADE_POLL_SECONDS": "1",
        # A task supervisor can take up to this interval (default 5 s) to notice that its task process exited,
        # and only then does the executor report the end of a deferral. When the trigger fires first (sandbox
        # updates end within seconds), Airflow 3.3.2's scheduler takes that late report for an external kill
        # and retries the step 20 s later (apache/airflow#67287). Checking every second all but closes the gap.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        # Rehearsals on the sandbox are chains of short steps: the scheduler looks again 0.2 s after a loop that
        # queued nothing, not 1 s (README.md, "Performance"; the demo's upgrade: 86 s instead of 135-155 s).
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        # The demo fleet describes its own date: the runbooks count days left and waiver expiry from it too.
        "EKS_RUNBOOKS_AS_OF": world_date,
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def aws_connection(sandbox_url: str, role_arn: str) -> dict[str, Any]:
    """An AWS connection to the sandbox acting as ``role_arn`` (README.md, "Access the runbooks need")."""
    return {
        "conn_type": "aws",
        "login": "sandbox",
        "password": "sandbox",
        "extra": {
            "endpoint_url": sandbox_url,
            "region_name": "us-east-1",
            "role_arn": role_arn,
            # Airflow assumes role_arn through STS without endpoint_url: STS needs its own.
            "service_config": {"sts": {"endpoint_url": sandbox_url}},
        },
    }


def demo_cluster_definitions(sandbox_url: str) -> dict[str, dict[str, Any]]:
    """The Variable ``eks_cluster_definitions``: a new cluster beside payments-prod, in its VPC's private subnets
    (their ids exist only once the sandbox has built the fleet)."""
    ec2 = boto3.client(
        "ec2",
        endpoint_url=sandbox_url,
        region_name="us-east-1",
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )
    subnets = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": ["private-a", "private-b"]}])["Subnets"]
    return {
        "payments-next": {
            "cluster_name": "payments-next",
            "region": "us-east-1",
            "subnet_ids": sorted(subnet["SubnetId"] for subnet in subnets),
            "admin_principal_arns": ["arn:aws:iam::123456789012:role/platform-admins"],
            "compute": [{"name": "general", "instance_types": ["m5.large"], "min": 2, "max": 4, "desired": 2}],
            "tags": {"team": "payments"},
        }
    }


def fleet_targets(fleet_file: Path) -> list[dict[str, Any]]:
    """The Variable ``eks_fleet`` for a fleet file: each account's connection and every region it has clusters in."""
    import yaml

    fleet = yaml.safe_load(fleet_file.read_text())
    return [
        {"aws_conn_id": FLEET_ROLES[str(account["id"])][0], "regions": sorted(account["regions"])}
        for account in fleet["accounts"]
    ]


def start_distributed(env: dict[str, str], api_port: int, state: Path, processes: list[subprocess.Popen]) -> None:
    """PostgreSQL and Redis, the schema, then Airflow's services and workers (scripts/distributed_airflow.py).

    Each process joins ``processes`` the moment it starts, so an interruption while the next one starts stops it.
    """

    def start(command: list[str], log_path: Path, process_env: dict[str, str] | None) -> subprocess.Popen:
        process = start_in_own_group(command, log_path, process_env)
        processes.append(process)
        return process

    _, database_url = distributed_airflow.start_postgres(state, start)
    _, broker_url = distributed_airflow.start_redis(state, start)
    backends = distributed_airflow.Backends(database_url, broker_url)
    distributed_env = distributed_airflow.distributed_environment(env, backends, api_port)
    distributed_airflow.migrate(distributed_env, state)
    distributed_airflow.start_airflow_services(distributed_env, state, start)


class TicketReceiver:
    """The demo's ticketing system: an HTTP endpoint on loopback that prints each ticket update posted to it.

    A runbook run with a ``ticket_id`` posts ``{ticket_id, dag_id, run_id, state, summary, report_url}`` to the
    ``ticketing_default`` connection when it ends (eks_runbooks.notifiers.ticketing); this shows what a real
    ticketing system would receive. It runs in a thread of the demo process, on a free port.
    """

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    update = json.loads(body)
                except ValueError:
                    update = {"unreadable body": body.decode("utf-8", "replace")}
                received.append(update)
                # A run's end carries its ticket id; the audit's new-failure alert has none.
                label = "ticket update" if "ticket_id" in update else "ticketing notification"
                print(f"{label}: {json.dumps(update, ensure_ascii=False)}", flush=True)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                """Quiet: each update is printed once, above."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, name="ticket-receiver", daemon=True).start()

    def connection(self) -> str:
        """The ``ticketing_default`` Airflow connection (JSON form) that points at this receiver."""
        return json.dumps({"conn_type": "http", "host": self.url})

    def wait_for(self, ticket_id: str, timeout: float) -> None:
        """Wait until an update for ``ticket_id`` came (it is printed on arrival); say so if none comes."""
        deadline = time.monotonic() + timeout
        while not any(update.get("ticket_id") == ticket_id for update in self.received):
            if time.monotonic() > deadline:
                print(f"ticketing: no update for ticket {ticket_id} within {timeout:.0f} s", flush=True)
                return
            time.sleep(0.5)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def api_headers(airflow_url: str, username: str, password: str) -> dict[str, str]:
    """Headers that authenticate REST API calls as ``username`` (a bearer token from ``POST /auth/token``)."""
    token = request_json(f"{airflow_url}/auth/token", {"username": username, "password": password})["access_token"]
    return {"Authorization": f"Bearer {token}"}


def unpause_dag(
    airflow_url: str, dag_id: str, headers: dict[str, str], processes: list[subprocess.Popen], state: Path
) -> None:
    """Wait until the DAG processor has parsed ``dag_id``, then unpause it (DAGs start paused)."""
    dag_url = f"{airflow_url}/api/v2/dags/{dag_id}"
    wait_until(
        lambda: request_json(dag_url, headers=headers, default={}).get("dag_id"),
        f"{dag_id} to be parsed",
        processes,
        state,
        timeout=120,
    )
    request_json(dag_url, {"is_paused": False}, headers=headers, method="PATCH")


def run_upgrade(
    airflow_url: str, headers: dict[str, str], processes: list[subprocess.Popen], state: Path
) -> RunOutcome:
    """Trigger eks_cluster_upgrade for a new demo ticket, as a ticketing system would, and wait for it to end."""
    # One ticket per demo: a state dir that is kept holds the runs of earlier demos, and run ids are unique.
    ticket = f"DEMO-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    run_id = f"ticket__{ticket}"
    dag_url = f"{airflow_url}/api/v2/dags/{UPGRADE_DAG}"
    conf = UPGRADE_CONF | {"ticket_id": ticket}
    request_json(f"{dag_url}/dagRuns", {"dag_run_id": run_id, "logical_date": None, "conf": conf}, headers=headers)
    print(f"demo: triggered {UPGRADE_DAG} run {run_id} with conf {json.dumps(conf)}", flush=True)
    print(f"demo: follow it on {airflow_url}/dags/{UPGRADE_DAG}/runs/{quote(run_id, safe='')}", flush=True)
    run_url = f"{dag_url}/dagRuns/{quote(run_id, safe='')}"

    def ended() -> dict[str, Any] | None:
        run = request_json(run_url, headers=headers)
        return run if run["state"] in ("success", "failed") else None

    run = wait_until(ended, f"{UPGRADE_DAG} run {run_id} to end", processes, state, timeout=RUN_TIMEOUT)
    report = request_json(f"{run_url}/taskInstances/report/xcomEntries/return_value", headers=headers, default={})
    report = report.get("value") or {}
    # The report task sets the note through the airflow_api connection; its XCom holds the same summary.
    summary = run.get("note") or report.get("summary") or "(no summary: the report task did not run)"
    return RunOutcome(run_id, run["state"], summary, report)


def kubernetes_versions(sandbox_url: str, target: dict[str, Any]) -> str:
    """The Kubernetes versions of the upgraded cluster and its node groups, as AWS (the sandbox) reports them."""
    eks = boto3.client(
        "eks",
        endpoint_url=sandbox_url,
        region_name=target["region"],
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )
    cluster = target["cluster_name"]
    nodegroups = ", ".join(
        f"{name} {eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)['nodegroup']['version']}"
        for name in eks.list_nodegroups(clusterName=cluster)["nodegroups"]
    )
    version = eks.describe_cluster(name=cluster)["cluster"]["version"]
    return f"{cluster} runs Kubernetes {version} (node groups: {nodegroups})"


def request_json(
    url: str, body: dict | None = None, headers: dict | None = None, method: str | None = None, default: Any = None
) -> Any:
    """Send ``body`` as JSON and return the JSON answer; ``default`` on an HTTP error status if given, else raise."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"))
    request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError:
        if default is not None:
            return default
        raise


def health(url: str) -> dict:
    """The JSON a health endpoint answers, or {} while it is not up (refused, HTTP error, not JSON yet)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except (OSError, ValueError):
        return {}


def airflow_healthy(airflow_url: str) -> bool:
    status = health(f"{airflow_url}/api/v2/monitor/health")
    return bool(status) and all(
        part.get("status") == "healthy" for name, part in status.items() if name in ("metadatabase", "scheduler")
    )


def wait_until(condition: Any, what: str, processes: list[subprocess.Popen], state: Path, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ended := stopped_process(processes):
            raise SystemExit(f"demo: {ended} exited while waiting for {what}; see {state}/*.log")
        result = condition()
        if result:
            return result
        time.sleep(1)
    raise SystemExit(f"demo: gave up waiting for {what} after {timeout:.0f} s; see {state}/*.log")


def stopped_process(processes: list[subprocess.Popen]) -> str | None:
    """The first process that ended which the demo cannot do without, named with its exit status, else None.

    A Celery worker is not one: a deployment runs on with a worker lost, its tasks retried on the others
    (tests/e2e/test_worker_lost_during_nightly_audits.py kills one); its end is said once.
    """
    workers = [process for process in processes if distributed_airflow.is_worker(process.args)]
    for process in processes:
        if process.poll() is None:
            continue
        if process in workers and any(worker.poll() is None for worker in workers):
            if process not in LOST_WORKERS:
                LOST_WORKERS.append(process)
                worker = process.args[-1].split("@")[0]
                print(f"demo: Celery worker {worker} ended ({process.returncode}); the others go on", flush=True)
            continue
        return f"{process.args[0]} ({process.returncode})"
    return None


def stop_process_group(process: subprocess.Popen, grace: float = 20.0) -> None:
    """TERM the whole process group (standalone's children too), KILL what outlives the grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    # Workers that outlive their parent stay in its group: make sure none remain, then reap the leader. A Celery
    # worker's task processes lead groups of their own: end those with it.
    for group in [*child_groups(process.pid), process.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    process.wait()


def child_groups(group: int) -> set[int]:
    """Process groups led by children of the processes in ``group`` (a Celery pool's task processes)."""
    rows = [tuple(int(value) for value in row) for row in process_table("pgid", "pid", "ppid")]
    members = {pid for pgid, pid, _ in rows if pgid == group}
    return {pgid for pgid, pid, ppid in rows if ppid in members and pgid != group and pgid == pid}


if __name__ == "__main__":
    sys.exit(main())

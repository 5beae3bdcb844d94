"""The main job: the simulated demo fleet plus Airflow (standalone, SQLite) wired to it.

1. starts ``eks-sandbox serve`` with include/sandbox/fleets/demo.yaml,
2. starts ``airflow standalone`` (UI and REST API on http://localhost:8080) whose ``aws_default`` connection
   points at the sandbox,
3. triggers the ``eks_fleet_inventory`` runbook through the REST API, as a ticketing system would, and prints
   its report,
4. keeps everything up until Ctrl-C (or exits at once with ``--exit-after-run``), then stops both process
   groups — nothing is left running.

State lives in ``var/`` (Airflow home, logs; ``--state-dir`` to choose another); delete it to start over.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEMO_FLEET = REPO / "include" / "sandbox" / "fleets" / "demo.yaml"
REGIONS = ["us-east-1", "us-west-2"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sandbox-port", type=int, default=5055)
    parser.add_argument("--airflow-port", type=int, default=8080)
    parser.add_argument("--time-scale", type=float, default=0.01, help="multiplies simulated durations (default 0.01)")
    parser.add_argument("--exit-after-run", action="store_true", help="stop everything once the runbook ended")
    parser.add_argument("--state-dir", type=Path, default=REPO / "var", help="Airflow home and logs (default: var/)")
    args = parser.parse_args()

    state = args.state_dir.resolve()
    airflow_home = state / "airflow"
    airflow_home.mkdir(parents=True, exist_ok=True)
    sandbox_url = f"http://127.0.0.1:{args.sandbox_port}"
    airflow_url = f"http://localhost:{args.airflow_port}"
    processes: list[subprocess.Popen] = []
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
        print(f"sandbox: demo fleet served on {sandbox_url}", flush=True)
        processes.append(start_airflow(args.airflow_port, sandbox_url, state))
        wait_until(lambda: airflow_healthy(airflow_url, airflow_home), "Airflow", processes, state, timeout=240)
        password = simple_auth_password(airflow_home)
        print(f"airflow: UI on {airflow_url} (user admin, password {password})", flush=True)

        outcome, report = run_inventory(airflow_url, password, processes, state)
        print(f"eks_fleet_inventory finished: {outcome}\n{report}", flush=True)
        if args.exit_after_run:
            return 0 if outcome == "success" else 1
        print("Press Ctrl-C to stop the sandbox and Airflow.", flush=True)
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        print(f"demo: a process exited on its own; see {state}/*.log", flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for process in reversed(processes):
            stop_process_group(process)
        print("demo: sandbox and Airflow stopped", flush=True)


def interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def start_in_own_group(command: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a command as the leader of a new process group (so the whole group can be stopped), logging to a file."""
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    print(f"demo: started {command[0]} (pid {process.pid}, process group {process.pid}, log {log_path})", flush=True)
    return process


def start_sandbox(port: int, time_scale: float, state: Path) -> subprocess.Popen:
    return start_in_own_group(
        ["eks-sandbox", "serve", "--fleet", str(DEMO_FLEET), "--port", str(port), "--time-scale", str(time_scale)],
        state / "eks-sandbox.log",
    )


def airflow_environment(port: int, sandbox_url: str, airflow_home: Path) -> dict[str, str]:
    """Airflow settings for the demo: SQLite, LocalExecutor, the repo's dags/plugins, AWS → the sandbox."""
    connection = {
        "conn_type": "aws",
        "login": "sandbox",
        "password": "sandbox",
        "extra": {"endpoint_url": sandbox_url, "region_name": "us-east-1"},
    }
    return os.environ | {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def start_airflow(port: int, sandbox_url: str, state: Path) -> subprocess.Popen:
    return start_in_own_group(
        ["airflow", "standalone"],
        state / "airflow-standalone.log",
        env=airflow_environment(port, sandbox_url, state / "airflow"),
    )


def simple_auth_password(airflow_home: Path) -> str:
    passwords = json.loads((airflow_home / "simple_auth_manager_passwords.json.generated").read_text())
    return passwords["admin"]


def run_inventory(airflow_url: str, password: str, processes: list[subprocess.Popen], state: Path) -> tuple[str, str]:
    """Trigger eks_fleet_inventory through the REST API and wait for it; returns (state, report)."""
    token = request_json(f"{airflow_url}/auth/token", {"username": "admin", "password": password})["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    dag_url = f"{airflow_url}/api/v2/dags/eks_fleet_inventory"
    wait_until(
        lambda: request_json(dag_url, headers=headers, default={}).get("dag_id"),
        "the DAG to be parsed",
        processes,
        state,
        timeout=120,
    )
    request_json(dag_url, {"is_paused": False}, headers=headers, method="PATCH")
    run_id = f"demo__{int(time.time())}"
    request_json(
        f"{dag_url}/dagRuns",
        {"dag_run_id": run_id, "logical_date": None, "conf": {"regions": REGIONS}},
        headers=headers,
    )
    run_url = f"{dag_url}/dagRuns/{run_id}"

    def finished() -> str | None:
        state = request_json(run_url, headers=headers)["state"]
        return state if state in ("success", "failed") else None

    outcome = wait_until(finished, "eks_fleet_inventory to finish", processes, state, timeout=300)
    report = request_json(f"{run_url}/taskInstances/report/xcomEntries/return_value", headers=headers, default={}).get(
        "value", "(no report)"
    )
    return outcome, report


def request_json(
    url: str, body: dict | None = None, headers: dict | None = None, method: str | None = None, default: Any = None
) -> Any:
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


def airflow_healthy(airflow_url: str, airflow_home: Path) -> bool:
    status = health(f"{airflow_url}/api/v2/monitor/health")
    return (
        bool(status)
        and all(
            part.get("status") == "healthy" for name, part in status.items() if name in ("metadatabase", "scheduler")
        )
        and (airflow_home / "simple_auth_manager_passwords.json.generated").exists()
    )


def wait_until(condition: Any, what: str, processes: list[subprocess.Popen], state: Path, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(
                    f"demo: {process.args[0]} exited ({process.returncode}) while waiting for {what}; see {state}/*.log"
                )
        result = condition()
        if result:
            return result
        time.sleep(1)
    raise SystemExit(f"demo: gave up waiting for {what} after {timeout:.0f} s; see {state}/*.log")


def stop_process_group(process: subprocess.Popen, grace: float = 20.0) -> None:
    """TERM the whole process group (standalone's children too), KILL what outlives the grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    # Workers that outlive their parent stay in its group: make sure none remain, then reap the leader.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


if __name__ == "__main__":
    sys.exit(main())

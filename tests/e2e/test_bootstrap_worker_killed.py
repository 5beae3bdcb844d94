"""A worker killed after CreateCluster was sent, the step retried: the bootstrap finishes with one cluster.

Real processes: the demo's sandbox and ``airflow standalone`` (``scripts/demo.py --serve-only``, LocalExecutor),
with the scheduler's task heartbeat timeout lowered so a dead worker is noticed in seconds, not five minutes.

``control_plane`` sends CreateCluster and at once defers to the triggerer until the cluster is ACTIVE: a worker
holds the step only while CreateCluster's answer is on its way. So the run's AWS connection sends its EKS calls
through a relay in this test (its ``service_config``; STS and the EKS tokens still name the sandbox itself). The
relay forwards every request and answer as they are, but keeps back the answer to the first CreateCluster — as a
slow network would — until the worker is gone. Once the sandbox has made the cluster (it is in ListClusters) and
``control_plane`` is running, the test SIGKILLs both processes of the try: the LocalExecutor worker that
supervises it and the task process it forked. The try never learns that its CreateCluster succeeded and records
nothing; the scheduler finds the task instance without heartbeats and retries it, as after a lost machine.

Proof of the acceptance: the run succeeds with ``control_plane`` at try 2 or later; the relay saw two
CreateCluster requests, one per try, with the same idempotency token, and both were answered with the one cluster
the first made (same ARN and ``createdAt``, which the cluster still has); the retry's result names that cluster;
the cluster is ACTIVE and the compliance baseline of the run's report passed.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests

from tests.helpers import (
    PLATFORM_ADMIN_ROLE_ARN,
    RUNBOOK_ROLE_ARN,
    assert_demo_stopped_cleanly,
    assumed_role_credentials,
    demo_output_until,
    kill_task_instance_processes,
    start_demo,
    wait_while_demo_runs,
)

#: One Airflow for the module; it stays on the pytest-xdist worker that runs the other standalone scenarios.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600), pytest.mark.xdist_group("airflow-standalone")]

DAG_ID = "eks_cluster_bootstrap"
RUN_ID = "bootstrap__worker_killed"
CLUSTER = "checkout-prod"
REGION = "us-east-1"
#: The connection the run builds with: the runbooks' role, its EKS calls through the test's relay.
CONNECTION = "aws_bootstrap_relayed"
#: payments-prod's VPC in the demo fleet: the new cluster goes into two of its private subnets.
NEIGHBOUR = "payments-prod"
SUBNETS = ("private-a", "private-b")
GENERAL = {"name": "general", "instance_types": ["m5.large"], "min": 2, "max": 4, "desired": 2}
DEMO_ENV = {
    # The scheduler fails a running task instance without a heartbeat for this long (default 300 s); its supervisor
    # heartbeats every second here (the demo's [workers] min_heartbeat_interval): a live task never comes near it.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    # Runs may name only the connections this Variable lists (runs.connections).
    "AIRFLOW_VAR_EKS_RUNBOOK_CONNECTIONS": json.dumps(["aws_default", CONNECTION]),
}
#: How long the relay keeps CreateCluster's answer back at most (botocore's read timeout is 60 s).
HOLD_SECONDS = 45


@dataclass
class CreateClusterSeen:
    """One CreateCluster the relay passed on: its idempotency token and what the sandbox answered."""

    token: str
    status: int
    answer: dict[str, Any]


class EksRelay:
    """An HTTP relay on loopback between the run's EKS client and the sandbox that keeps back the answer to the
    first CreateCluster until ``release()``; records every CreateCluster it passed on."""

    def __init__(self) -> None:
        self.upstream = ""
        self.create_cluster: list[CreateClusterSeen] = []
        self.holding = threading.Event()
        self._released = threading.Event()
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # botocore keeps connections alive

            def handle(self) -> None:
                # A connection the killed worker kept alive is reset: nothing more will come on it.
                with contextlib.suppress(ConnectionError):
                    super().handle()

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, answer = relay.forward(self.command, self.path, self.headers, body)
                if self.command == "POST" and self.path == "/clusters":
                    relay.seen_create_cluster(body, status, answer)
                try:
                    self.send_response(status)
                    for name, value in headers:
                        if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    self.close_connection = True  # the worker that asked was killed meanwhile

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _relay

            def log_message(self, *_: Any) -> None:
                """Quiet: CreateCluster requests are recorded, the rest only passed on."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def forward(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send the request on to the sandbox as it came, headers and signature included."""
        upstream = urlsplit(self.upstream)
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers={k: v for k, v in headers.items()})
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def seen_create_cluster(self, body: bytes, status: int, answer: bytes) -> None:
        token = json.loads(body)["clientRequestToken"]
        self.create_cluster.append(CreateClusterSeen(token, status, json.loads(answer)))
        if len(self.create_cluster) == 1:
            self.holding.set()
            self._released.wait(HOLD_SECONDS)

    def release(self) -> None:
        self._released.set()

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Scenario:
    """What the sandbox held when the worker was killed, what was killed, and what Airflow and AWS show after."""

    state_dir: Path
    relay: EksRelay = field(default_factory=EksRelay)
    before_kill: dict[str, Any] = field(default_factory=dict)
    killed: list[str] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)
    control_plane: dict[str, Any] = field(default_factory=dict)
    control_plane_result: dict[str, Any] = field(default_factory=dict)
    clusters: list[str] = field(default_factory=list)
    cluster: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    output: str = ""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Start the demo, bootstrap checkout-prod, kill ``control_plane`` after CreateCluster, wait for the run."""
    seen = Scenario(state_dir=tmp_path_factory.mktemp("bootstrap-kill"))
    demo = start_demo(seen.state_dir, "--serve-only", env=DEMO_ENV)
    seen.output = demo_output_until(demo, "Press Ctrl-C")
    try:
        login = re.search(r"airflow: UI on (\S+) \(user admin, password (\S+)\)", seen.output)
        sandbox = re.search(r"sandbox: demo fleet served on (\S+)", seen.output)
        assert login and sandbox and demo.poll() is None, seen.output
        seen.relay.upstream = sandbox.group(1)
        bootstrap_and_kill_the_worker(seen, demo, sandbox.group(1), *login.groups())
        read_the_result(seen, sandbox.group(1))
    finally:
        seen.relay.stop()
        demo.send_signal(signal.SIGINT)
        seen.output += demo.communicate(timeout=120)[0]
    return seen


def bootstrap_and_kill_the_worker(
    seen: Scenario, demo: subprocess.Popen, sandbox: str, airflow: str, password: str
) -> None:
    api = airflow_session(airflow, password)
    add_relayed_connection(api, airflow, sandbox, seen.relay.url)
    dag_url = f"{airflow}/api/v2/dags/{DAG_ID}"
    wait_while_demo_runs(lambda: api.get(dag_url, timeout=30).ok, f"{DAG_ID} to be parsed", demo, timeout=120)
    assert api.patch(dag_url, json={"is_paused": False}, timeout=30).ok
    trigger = {"dag_run_id": RUN_ID, "logical_date": None, "conf": bootstrap_conf(sandbox)}
    started = api.post(f"{dag_url}/dagRuns", json=trigger, timeout=30)
    assert started.status_code == 200, started.text
    run_url = f"{dag_url}/dagRuns/{RUN_ID}"
    eks = aws(sandbox, "eks")

    def control_plane_waiting_for_its_answer() -> dict[str, Any] | None:
        task = api.get(f"{run_url}/taskInstances/control_plane", timeout=30).json()
        made = CLUSTER in eks.list_clusters()["clusters"]
        return task if task.get("state") == "running" and seen.relay.holding.is_set() and made else None

    running = wait_while_demo_runs(control_plane_waiting_for_its_answer, "CreateCluster to be sent", demo, 300)
    seen.before_kill = eks.describe_cluster(name=CLUSTER)["cluster"]
    seen.killed = kill_task_instance_processes(running["id"])
    print(f"killed control_plane try {running['try_number']}: {seen.killed}")
    seen.relay.release()  # to nobody: the worker that asked is gone

    def ended() -> dict[str, Any] | None:
        run = api.get(run_url, timeout=30).json()
        return run if run["state"] in ("success", "failed") else None

    seen.run = wait_while_demo_runs(ended, "the run to end", demo, timeout=300)
    seen.control_plane = api.get(f"{run_url}/taskInstances/control_plane", timeout=30).json()
    seen.control_plane_result = xcom_of(api, run_url, "control_plane")
    written = xcom_of(api, run_url, "report")
    if written.get("report_json"):
        seen.report = json.loads(Path(written["report_json"].removeprefix("file://")).read_text())


def airflow_session(airflow: str, password: str) -> requests.Session:
    api = requests.Session()
    token = api.post(f"{airflow}/auth/token", json={"username": "admin", "password": password}, timeout=30)
    api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return api


def add_relayed_connection(api: requests.Session, airflow: str, sandbox: str, relay: str) -> None:
    """The runbooks' role on the sandbox, as ``aws_default`` is, but with EKS calls through the relay."""
    extra = {
        "endpoint_url": sandbox,
        "region_name": REGION,
        "role_arn": RUNBOOK_ROLE_ARN,
        "service_config": {"sts": {"endpoint_url": sandbox}, "eks": {"endpoint_url": relay}},
    }
    connection = {
        "connection_id": CONNECTION,
        "conn_type": "aws",
        "login": "sandbox",
        "password": "sandbox",
        "extra": json.dumps(extra),
    }
    added = api.post(f"{airflow}/api/v2/connections", json=connection, timeout=30)
    assert added.status_code == 201, added.text


def bootstrap_conf(sandbox: str) -> dict[str, Any]:
    """A real build of checkout-prod in two private subnets of payments-prod's VPC, platform-admins its admins."""
    vpc = aws(sandbox, "eks").describe_cluster(name=NEIGHBOUR)["cluster"]["resourcesVpcConfig"]["vpcId"]
    subnets = aws(sandbox, "ec2").describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    named = {tag["Value"]: s["SubnetId"] for s in subnets for tag in s.get("Tags") or [] if tag["Key"] == "Name"}
    # The demo fleet names platform-admins in its clusters' access entries, so its loader created the role.
    assert aws(sandbox, "iam").get_role(RoleName=PLATFORM_ADMIN_ROLE_ARN.rpartition("/")[2])["Role"]
    return {
        "cluster_name": CLUSTER,
        "region": REGION,
        "aws_conn_id": CONNECTION,
        "subnet_ids": [named[name] for name in SUBNETS],
        "admin_principal_arns": [PLATFORM_ADMIN_ROLE_ARN],
        "compute": [GENERAL],
        "dry_run": False,
    }


def xcom_of(api: requests.Session, run_url: str, task_id: str) -> dict[str, Any]:
    entry = api.get(f"{run_url}/taskInstances/{task_id}/xcomEntries/return_value", timeout=30).json()
    return entry.get("value") or {}


def aws(sandbox: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=sandbox,
        region_name=REGION,
        **assumed_role_credentials(sandbox, PLATFORM_ADMIN_ROLE_ARN, "worker-killed-test"),
    )


def read_the_result(seen: Scenario, sandbox: str) -> None:
    eks = aws(sandbox, "eks")
    seen.clusters = eks.list_clusters()["clusters"]
    seen.cluster = eks.describe_cluster(name=CLUSTER)["cluster"]


def test_the_run_succeeds_with_control_plane_retried_after_its_worker_was_killed(scenario):
    assert len(scenario.killed) == 2, scenario.killed  # the supervisor and its task process
    assert any("LocalExecutor" in line for line in scenario.killed), scenario.killed
    assert scenario.run["state"] == "success", (scenario.run, scenario.report.get("failures"))
    assert scenario.control_plane["state"] == "success"
    assert scenario.control_plane["try_number"] >= 2, scenario.control_plane
    assert_demo_stopped_cleanly(scenario.output, scenario.state_dir)


def test_the_retry_sends_the_same_create_cluster_and_is_answered_with_the_cluster_the_first_made(scenario):
    first, *retries = scenario.relay.create_cluster
    assert first.status == 200 and first.answer["cluster"]["arn"] == scenario.before_kill["arn"]
    assert len(retries) == 1, scenario.relay.create_cluster  # one CreateCluster per try of control_plane
    assert retries[0].token == first.token
    # EKS answers a repeated token with the original cluster (the sandbox: its current state, as EKS does).
    assert retries[0].status == 200 and retries[0].answer["cluster"]["arn"] == first.answer["cluster"]["arn"]
    assert retries[0].answer["cluster"]["createdAt"] == first.answer["cluster"]["createdAt"]
    (sent,) = scenario.control_plane_result["sent"]
    assert sent["operation"] == "CreateCluster"
    assert sent["outcome"] == "existed" or sent.get("id") == scenario.before_kill["arn"], sent


def test_one_cluster_was_made_it_is_active_and_passes_the_compliance_baseline(scenario):
    assert scenario.clusters.count(CLUSTER) == 1
    assert scenario.cluster["arn"] == scenario.before_kill["arn"]
    assert scenario.cluster["createdAt"] == scenario.before_kill["createdAt"]
    assert scenario.cluster["status"] == "ACTIVE"
    assert scenario.report["steps"]["baseline"]["result"]["failing"] == [], scenario.report["steps"]["baseline"]

"""Helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from scripts.process_table import free_port, process_table

REPO = Path(__file__).resolve().parents[1]
DEMO_FLEET = REPO / "include" / "sandbox" / "fleets" / "demo.yaml"
#: The date the demo fleet describes (its ``as_of``): every test's simulated world, and the runbooks' "today"
#: (EKS_RUNBOOKS_AS_OF), start on it, so no result depends on the day the tests run.
WORLD_DATE = date(2026, 1, 20)
VENV_BIN = Path(sys.executable).parent

#: The role the runbooks' Airflow AWS connection acts as in tests and the demo; the demo fleet grants it access.
RUNBOOK_ROLE_ARN = "arn:aws:iam::123456789012:role/eks-runbooks"
#: The demo fleet's administrators (cluster-admin on the clusters of 123456789012): what tests act as when they
#: change a cluster's Kubernetes objects the way an engineer would (connection ``aws_platform_admin``).
PLATFORM_ADMIN_ROLE_ARN = "arn:aws:iam::123456789012:role/platform-admins"
#: Who plain ``testing`` credentials are: moto's GetCallerIdentity answer for a key it never issued.
PLAIN_CREDENTIALS_PRINCIPAL = "arn:aws:iam::123456789012:user/moto"

#: Simulated durations run this much faster in tests: a 10-minute control-plane update takes 0.6 s.
TEST_TIME_SCALE = 0.001

#: Figures tests want shown at the end of the run (for example DAG parse times), as (title, lines).
REPORTED_FIGURES: list[tuple[str, list[str]]] = []

_MEASURE_PARSE = """
import importlib.util, json, sys, time
import airflow  # noqa: F401
results = {}
for path in sys.argv[1:]:
    start = time.process_time()
    spec = importlib.util.spec_from_file_location("dag_" + str(len(results)), path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    results[path] = (time.process_time() - start) * 1000
print(json.dumps(results))
"""


def dag_parse_times(dag_files: list[Path], env: dict[str, str]) -> dict[str, float]:
    """CPU milliseconds each DAG file takes to parse in an interpreter that has done ``import airflow``.

    CPU time, not wall time: it is the work the parse costs, the same on a busy machine (tests run side by side).

    That is what the DAG processor pays per file: it forks a child per parse from a parent that imported
    Airflow (and, through ``airflow_local_settings``, warmed the runbook library). ``env`` must point
    ``AIRFLOW__CORE__PLUGINS_FOLDER`` at plugins/.
    """
    output = subprocess.run(
        [sys.executable, "-c", _MEASURE_PARSE, *map(str, dag_files)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return {Path(path).name: ms for path, ms in json.loads(output.strip().splitlines()[-1]).items()}


def aws_connection_uri(endpoint_url: str, region: str = "us-east-1", role_arn: str | None = None) -> str:
    """An ``aws`` Airflow connection (JSON form) that sends every AWS call to the sandbox, acting as the runbooks'
    role (``RUNBOOK_ROLE_ARN``, which the demo fleet's clusters grant access) unless told another."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {
                "endpoint_url": endpoint_url,
                "region_name": region,
                "role_arn": role_arn or RUNBOOK_ROLE_ARN,
                # Airflow assumes role_arn through STS without endpoint_url: STS needs its own.
                "service_config": {"sts": {"endpoint_url": endpoint_url}},
            },
        }
    )


def eks_token(
    cluster_name: str,
    sts_endpoint_url: str,
    credentials: dict[str, str] | None = None,
    region: str = "us-east-1",
) -> str:
    """An EKS token for ``cluster_name``, minted as ``aws eks get-token`` and the amazon provider mint it.

    ``credentials`` are boto3 session arguments (``aws_access_key_id`` …; default: the tests' plain ``testing``
    keys, whose signature the sandbox cannot check). ``sts_endpoint_url`` is the STS endpoint the URL is
    presigned for: the sandbox's AWS URL.
    """
    import base64

    import boto3
    from botocore.signers import RequestSigner

    session = boto3.Session(
        region_name=region, **(credentials or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"})
    )
    sts = session.client("sts", endpoint_url=sts_endpoint_url)
    signer = RequestSigner(
        sts.meta.service_model.service_id, region, "sts", "v4", session.get_credentials(), session.events
    )
    url = signer.generate_presigned_url(
        {
            "method": "GET",
            "url": f"{sts.meta.endpoint_url}/?Action=GetCallerIdentity&Version=2011-06-15",
            "body": {},
            "headers": {"x-k8s-aws-id": cluster_name},
            "context": {},
        },
        region_name=region,
        expires_in=60,
        operation_name="",
    )
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def kube_core_api(sandbox: Any, tmp_path: Path, cluster: str, region: str, role_arn: str) -> Any:
    """A kubernetes CoreV1Api on ``cluster``'s API as ``role_arn`` (assumed through the sandbox's STS): its CA from
    DescribeCluster in ``tmp_path``, an EKS token for the session."""
    import base64

    import boto3
    from kubernetes import client

    credentials = assumed_role_credentials(sandbox.base_url, role_arn)
    described = boto3.client("eks", region_name=region, **credentials).describe_cluster(name=cluster)["cluster"]
    ca_file = tmp_path / f"{cluster}.crt"
    ca_file.write_bytes(base64.b64decode(described["certificateAuthority"]["data"]))
    configuration = client.Configuration()
    configuration.host = described["endpoint"]
    configuration.ssl_ca_cert = str(ca_file)
    configuration.api_key = {"BearerToken": eks_token(cluster, sandbox.base_url, credentials, region)}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    return client.CoreV1Api(client.ApiClient(configuration))


def assumed_role_credentials(endpoint_url: str, role_arn: str, session_name: str = "tests") -> dict[str, str]:
    """boto3 session arguments for ``role_arn`` assumed through the sandbox's STS (keys the sandbox can check)."""
    import boto3

    sts = boto3.client(
        "sts",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    issued = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return {
        "aws_access_key_id": issued["AccessKeyId"],
        "aws_secret_access_key": issued["SecretAccessKey"],
        "aws_session_token": issued["SessionToken"],
    }


def wait_for_http(url: str, timeout: float = 60.0, process: subprocess.Popen | None = None) -> None:
    """Wait until ``url`` answers at all (any status), failing early if ``process`` died."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@contextmanager
def serving_sandbox(log_path: Path, *, time_scale: float = 0.01, fleet: Path = DEMO_FLEET) -> Iterator[str]:
    """A real ``eks-sandbox serve --fleet`` process on a free port, once its fleet is loaded; yields its URL.

    Its output goes to ``log_path`` and is printed if it fails to start; it is stopped (SIGTERM, then SIGKILL)
    on the way out.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(VENV_BIN / "eks-sandbox"), "serve", "--fleet", str(fleet), "--port", str(port)]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*command, "--time-scale", str(time_scale)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_for_http(f"{url}/_sandbox/health", process=process)
            wait_for_fleet(url, process)
            yield url
        except Exception:
            print(log_path.read_text())
            raise
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_for_fleet(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """The server answers before the fleet is loaded; wait for the loader's last cluster."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"eks-sandbox exited with {process.returncode} while loading the fleet")
        try:
            with urllib.request.urlopen(f"{url}/_sandbox/health", timeout=5) as response:
                if json.load(response).get("fleet_loaded"):
                    return
        except (TimeoutError, urllib.error.URLError):
            pass  # on a busy machine the health check can wait longer than 5 s behind the loader: ask again
        time.sleep(0.3)
    raise TimeoutError("the demo fleet did not finish loading")


def sandbox_control(base_url: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    """Call the sandbox control API ``/_sandbox{path}``; returns (status, JSON answer), error statuses included.

    ``body`` is sent as JSON, or as-is when it is already text (a fleet file's YAML).
    """
    data = body.encode() if isinstance(body, str) else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base_url}/_sandbox{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def start_demo(state_dir: Path, *options: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Run scripts/demo.py as a user would (free ports, ``state_dir``), outside the test session's Airflow settings.

    ``env`` adds to the demo's environment, which its Airflow processes inherit (connections, for example).
    """
    demo_env = os.environ | {"PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"} | (env or {})
    demo_env.pop("AIRFLOW_HOME", None)
    demo_env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    ports = ["--sandbox-port", str(free_port()), "--airflow-port", str(free_port())]
    return subprocess.Popen(
        [str(VENV_BIN / "python"), str(REPO / "scripts" / "demo.py"), *options, *ports, "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=demo_env,
        start_new_session=True,
        cwd=REPO,
    )


def demo_output_until(process: subprocess.Popen, text: str) -> str:
    """The demo's output up to and including the first line that contains ``text`` (all of it if it exits first)."""
    lines: list[str] = []
    while not (lines and text in lines[-1]):
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
    return "".join(lines)


def wait_while_demo_runs(condition: Callable[[], Any], what: str, demo: subprocess.Popen, timeout: float) -> Any:
    """``condition()`` once it is truthy; fails when the demo exits or ``timeout`` seconds pass first."""
    import pytest

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert demo.poll() is None, f"the demo exited while waiting for {what}"
        if result := condition():
            return result
        time.sleep(1)
    pytest.fail(f"gave up waiting for {what} after {timeout:.0f} s")


def kill_task_instance_processes(task_instance_id: str) -> list[str]:
    """SIGKILL every process whose title names this task instance, as a lost machine would end them: the
    LocalExecutor worker that supervises it (``airflow worker -- LocalExecutor: <id>``) and the task process it
    forked (``airflow worker -- <id>``). Returns their ``ps`` lines."""
    title = re.compile(rf"airflow worker -- .*{task_instance_id}")
    victims = [(int(pid), args) for pid, args in process_table("pid", "args") if title.search(args)]
    for pid, _ in victims:
        os.kill(pid, signal.SIGKILL)
    return [f"{pid} {args}" for pid, args in victims]


def live_processes(pgids: list[int], marker: str) -> list[str]:
    """Processes still running in any of these process groups, or whose command line mentions ``marker``.

    Zombies (state Z) are dead already: reparented to PID 1, which in a container without an init may never
    reap them; they hold no resources and are not orphans.
    """
    return [
        " ".join(row)
        for row in process_table("pgid", "pid", "stat", "args")
        if not row[2].startswith("Z") and (int(row[0]) in pgids or (marker in row[3] and "pytest" not in row[3]))
    ]


def assert_demo_stopped_cleanly(output: str, state_dir: Path, groups: int = 2) -> None:
    """The demo said it stopped its process groups (``groups`` of them: 2 for eks-sandbox and airflow standalone),
    and nothing of them (or using ``state_dir``) still runs."""
    assert "demo: sandbox and Airflow stopped" in output
    started = [int(group) for group in re.findall(r"process group (\d+)", output)]
    assert len(started) == groups, output
    assert live_processes(started, str(state_dir)) == []


def create_role(iam: Any, name: str, service: str | None = None, account: str = "123456789012") -> str:
    """Create (or find) the IAM role ``name`` as a team creates the roles it hands EKS (the fleet loader's way),
    and return its ARN.

    With ``service`` the role trusts that AWS service principal and carries the managed policies AWS documents for
    it; without, it trusts the account (a role people assume, e.g. one an access entry names). The simulated EKS
    refuses a role that does not exist or does not trust the service that will assume it.
    """
    from eks_sandbox.fleet import create_role as create_fleet_role

    return create_fleet_role(iam, account, name, service)


@contextmanager
def serving_on_loopback(handler: type) -> Iterator[str]:
    """An HTTP server on an ephemeral loopback port answering with ``handler``; yields its URL."""
    import threading
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def fake_airflow_api(patch_statuses: list[int] | None = None) -> Iterator[tuple[str, list[tuple[str, str, Any]]]]:
    """An Airflow REST API on loopback answering ``POST /auth/token`` and note PATCHes, as the API server does.

    ``patch_statuses``: the status of each PATCH in turn (then 200), e.g. ``[500]`` for an API server under load.
    Yields its URL and the requests it received, as (method, path, JSON body).
    """
    from http.server import BaseHTTPRequestHandler

    received: list[tuple[str, str, Any]] = []
    statuses = list(patch_statuses or [])

    class AirflowApi(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, Any]) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            received.append((self.command, self.path, json.loads(self.rfile.read(length) or b"null")))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def do_POST(self) -> None:
            self._answer(201, {"access_token": "jwt-1"})

        def do_PATCH(self) -> None:
            status = statuses.pop(0) if statuses else 200
            self._answer(status, {"note": "ok"} if status < 400 else {"detail": "Internal Server Error"})

        def log_message(self, *_: Any) -> None:
            """Quiet: every request is in ``received``."""

    with serving_on_loopback(AirflowApi) as url:
        yield url, received


@contextmanager
def ticketing_system(status: int = 202, answer: bytes = b"") -> Iterator[tuple[str, list[Any]]]:
    """A ticketing system on loopback: records each JSON body POSTed to it and answers ``status`` (``answer``
    as the body). Yields its URL and the bodies received."""
    from http.server import BaseHTTPRequestHandler

    received: list[Any] = []

    class Ticketing(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(status)
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_: Any) -> None:
            """Quiet: every body is in ``received``."""

    with serving_on_loopback(Ticketing) as url:
        yield url, received


@functools.cache
def share_aws_managed_policies() -> None:
    """Parse moto's AWS managed IAM policies once per test process, not once per account's IAM backend.

    moto builds an account's IAM backend with every AWS managed policy (about 1,600), parsing the same 4.7 MB of
    JSON each time, and a moto reset (every test with a sandbox) rebuilds the backend of each account used. The
    parsed data is only read (``AWSManagedPolicy.from_data``), so one parse serves every backend: a reset after a
    demo fleet load took 1.5 CPU s, now 0.7; the load itself 2.4 s, now 1.7 (BENCHMARKS.md, "Test suite").
    Same policies as moto's own ``IAMBackend._init_aws_policies``; called by the fixtures that start a sandbox, so
    tests that never start one do not import moto.
    """
    from moto.iam import models
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    parsed = json.loads(aws_managed_policies_data)

    def init_aws_policies(self: models.IAMBackend) -> list[models.ManagedPolicy]:
        if not models.load_iam_aws_managed_policies():
            return []
        return [
            models.AWSManagedPolicy.from_data(name, self.account_id, self.region_name, data)
            for name, data in parsed.items()
        ]

    models.IAMBackend._init_aws_policies = init_aws_policies

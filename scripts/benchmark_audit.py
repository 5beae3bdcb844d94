"""Benchmark the nightly compliance audit on a simulated fleet; prints Markdown tables for BENCHMARKS.md.

    .venv/bin/python scripts/benchmark_audit.py [--clusters 500] [--baseline 20] [--freeze-in-task] > audit.md

Builds a generated fleet (two accounts, two regions each, clusters spread evenly; a mix of hardened, middling
and neglected postures; one small node group, three or four add-ons and a few Kubernetes objects per cluster)
in an in-process sandbox, then runs ``eks_compliance_audit`` over all of it with ``dag.test()`` in this
process, in a throw-away AIRFLOW_HOME, and measures:

- fleet load time (not part of the audit figures);
- the DagRun's wall time and process CPU time (this process also serves the sandbox: its share is timed
  apart), time in Python's cyclic garbage collector, per-task durations (discover; the audit tasks, each a batch
  of clusters: p50 / p95 / max; report), each cluster's wall and CPU time in ``audit_one_cluster`` (the task's
  thread), clusters per minute, the marginal cost of one more cluster (the slope between the two fleet sizes),
  and the time ``dag.test()`` slept idle (real sleeps, not capped as in tests);
- AWS API calls served by the sandbox, in total and per cluster, by service and operation (the per-cluster
  figures are the calls made while each cluster's ``audit_one_cluster`` ran), boto3 clients created, and
  Kubernetes API requests, counted at the sandbox's WSGI entry;
- that every cluster is in the report, with no ERROR.

The same is done for ``--baseline`` clusters (fresh sandbox, DB and reports) to show how the run scales.
``dag.test()`` runs mapped tasks one at a time, so the wall time is a serial upper bound: a deployment runs up
to 16 audit tasks at once. What the process held before the run is frozen out of the garbage collector
(``frozen_heap``): a worker does not hold the simulator. Airflow's and the tasks' logs go to stderr, the tables
to stdout. Absolute figures vary with the machine; compare ratios across runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TextIO
from unittest.mock import patch

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
MAX_ACTIVE_AUDITS = 16  # max_active_tis_per_dagrun of the audit task

#: (account, region, Airflow connection) the generated fleet is spread over; the second account is reached by
#: assuming a role, as a multi-account fleet is.
PLACEMENTS = [
    ("123456789012", "us-east-1", "aws_default"),
    ("123456789012", "us-west-2", "aws_default"),
    ("210987654321", "eu-west-1", "aws_fleet_b"),
    ("210987654321", "ap-southeast-2", "aws_fleet_b"),
]
SECOND_ACCOUNT_ROLE = "arn:aws:iam::210987654321:role/fleet-audit"
#: The audit's role in each account: what its Airflow connection acts as, and what each cluster grants read access.
AUDIT_ROLES = {"123456789012": "arn:aws:iam::123456789012:role/eks-runbooks", "210987654321": SECOND_ACCOUNT_ROLE}


# --- the fleet ---------------------------------------------------------------------------------------------


#: The day the benchmark fleet describes (its clusters' versions and policies are realistic for it).
FLEET_DATE = date(2026, 1, 20)


def fleet_document(clusters: int, spec: Callable[[int, str], dict[str, Any]] | None = None) -> dict[str, Any]:
    """A fleet file (docs/sandbox.md#fleet-files) of ``clusters`` clusters spread over PLACEMENTS; ``spec(index,
    account)`` describes each cluster (default ``cluster_spec``), to which the audit role's read access is added."""
    spec = spec or cluster_spec
    accounts: dict[str, dict[str, Any]] = {}
    for index in range(clusters):
        account, region, _conn_id = PLACEMENTS[index % len(PLACEMENTS)]
        regions = accounts.setdefault(account, {})
        if region not in regions:
            regions[region] = {"network": _network(region, len(regions)), "clusters": []}
        regions[region]["clusters"].append(_grant_audit_access(spec(index, account), AUDIT_ROLES[account]))
    return {
        "as_of": FLEET_DATE,
        "accounts": [{"id": account, "regions": regions} for account, regions in accounts.items()],
    }


def _grant_audit_access(spec: dict[str, Any], role_arn: str) -> dict[str, Any]:
    """The audit role's read access, as the README tells users to grant it: an AmazonEKSAdminViewPolicy access
    entry, or on a CONFIG_MAP cluster an aws-auth mapping to a group bound to a read-everything ClusterRole."""
    if spec["authentication_mode"] != "CONFIG_MAP":
        return spec | {"access_entries": [{"principal_arn": role_arn, "policies": ["AmazonEKSAdminViewPolicy"]}]}
    rbac = "rbac.authorization.k8s.io"
    role = {
        "apiVersion": f"{rbac}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "eks-runbooks-read"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}],
    }
    binding = {
        "apiVersion": f"{rbac}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "eks-runbooks-read"},
        "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "eks-runbooks-read"},
        "subjects": [{"apiGroup": rbac, "kind": "Group", "name": "eks-runbooks-readers"}],
    }
    mapping = {"rolearn": role_arn, "username": "eks-runbooks:{{SessionName}}", "groups": ["eks-runbooks-readers"]}
    return spec | {"kubernetes": [*spec["kubernetes"], role, binding], "aws_auth": {"map_roles": [mapping]}}


def _network(region: str, ordinal: int) -> dict[str, Any]:
    prefix = f"10.{ordinal * 16}"
    return {
        "vpc_cidr": f"{prefix}.0.0/16",
        "subnets": [
            {"name": "private-a", "az": f"{region}a", "cidr": f"{prefix}.0.0/19"},
            {"name": "private-b", "az": f"{region}b", "cidr": f"{prefix}.32.0/19"},
            {"name": "public-a", "az": f"{region}a", "cidr": f"{prefix}.96.0/24", "public": True},
            {"name": "public-b", "az": f"{region}b", "cidr": f"{prefix}.97.0/24", "public": True},
        ],
    }


def cluster_spec(index: int, account: str) -> dict[str, Any]:
    """Cluster ``index`` of the generated fleet: hardened, middling or neglected, in turn."""
    posture = ("hardened", "middling", "neglected")[index % 3]
    name = f"{posture}-{index:03d}"
    app = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}
    service_account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "api", "namespace": "app"}}
    container: dict[str, Any] = {"name": "api", "image": "public.ecr.aws/nginx/nginx:1.27"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "app", "labels": {"app": "api"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"serviceAccountName": "api", "containers": [container]},
            },
        },
    }
    if posture == "hardened":
        app["metadata"]["labels"] = {"pod-security.kubernetes.io/enforce": "restricted"}
        deny = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": "app"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        }
        return {
            "name": name,
            "version": "1.34",
            "subnets": ["private-a", "private-b"],
            "endpoint": {"public": True, "private": True, "public_cidrs": ["203.0.113.0/24"]},
            "logging": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
            "secrets_encryption": True,
            "authentication_mode": "API",
            "upgrade_policy": "STANDARD",
            "deletion_protection": True,
            "tags": {"team": "payments", "environment": "production"},
            "addons": ["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"],
            "nodegroups": [
                {
                    "name": "general",
                    "size": 2,
                    "subnets": ["private-a", "private-b"],
                    "launch_template": {"instance_type": "m5.large", "http_tokens": "required", "hop_limit": 1},
                }
            ],
            "kubernetes": [app, deny, service_account, deployment],
            "pod_identity_associations": [
                {"namespace": "app", "service_account": "api", "role_arn": f"arn:aws:iam::{account}:role/{name}"}
            ],
        }
    if posture == "middling":
        return {
            "name": name,
            "version": "1.33",
            "subnets": ["private-a", "private-b"],
            "endpoint": {"public": True, "private": True, "public_cidrs": ["198.51.100.0/24"]},
            "logging": ["api", "audit"],
            "authentication_mode": "API_AND_CONFIG_MAP",
            "upgrade_policy": "STANDARD",
            "tags": {"team": "edge", "environment": "development"},
            "addons": ["vpc-cni", "coredns", "kube-proxy"],
            "nodegroups": [{"name": "small", "instance_types": ["t3.medium"], "size": 1}],
            "kubernetes": [app, service_account, deployment],
        }
    service_account["metadata"]["annotations"] = {"eks.amazonaws.com/role-arn": f"arn:aws:iam::{account}:role/{name}"}
    container["securityContext"] = {"privileged": True}
    return {
        "name": name,
        "version": "1.31",
        "subnets": ["public-a", "public-b"],
        "endpoint": {"public": True, "private": False},
        "logging": [],
        "authentication_mode": "CONFIG_MAP",
        "upgrade_policy": "EXTENDED",
        "tags": {"team": "analytics"},
        "addons": ["vpc-cni", {"name": "coredns", "version": "v1.11.4-eksbuild.22"}, "kube-proxy"],
        "nodegroups": [
            {
                "name": "workers",
                "size": 1,
                "subnets": ["public-a", "public-b"],
                "launch_template": {"instance_type": "m5.xlarge", "http_tokens": "optional", "encrypted": False},
            }
        ],
        "kubernetes": [app, service_account, deployment],
    }


# --- measuring -----------------------------------------------------------------------------------------------


class SandboxMeter:
    """WSGI middleware in front of the sandbox dispatcher: counts Kubernetes API requests and times the sandbox.

    Kubernetes requests are counted by method and path (``GET /apis/apps/v1``), so the counts add up across
    clusters. ``cpu_seconds`` is the CPU time the
    server's threads spent answering requests (AWS and Kubernetes): the simulator's share of the process's CPU.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        from eks_sandbox.kube.api import CLUSTER_ENVIRON_KEY

        self.app = app
        self._cluster_key = CLUSTER_ENVIRON_KEY
        self.kube_requests: Counter[str] = Counter()
        self.cpu_seconds = 0.0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start = time.thread_time()
        body = list(self.app(environ, start_response))
        with self._lock:
            self.cpu_seconds += time.thread_time() - start
            if self._cluster_key in environ:  # the dispatcher found a cluster's endpoint
                self.kube_requests[f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}"] += 1
        return body

    def kube_total(self) -> int:
        return sum(self.kube_requests.values())

    def reset(self) -> None:
        with self._lock:
            self.kube_requests.clear()
            self.cpu_seconds = 0.0


class ClientMeter:
    """Counts the boto3 clients created and the time spent creating them (service models parsed, hooks built)."""

    def __init__(self) -> None:
        self.created = 0
        self.seconds = 0.0

    @contextmanager
    def patched(self) -> Iterator[ClientMeter]:
        import botocore.session

        create_client = botocore.session.Session.create_client

        def measured(session: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return create_client(session, *args, **kwargs)
            finally:
                self.created += 1
                self.seconds += time.perf_counter() - start

        with patch.object(botocore.session.Session, "create_client", measured):
            yield self


@dataclass
class ClusterTask:
    """What one cluster's task cost (auditing it, gathering its cost facts), measured around the function it calls."""

    cluster: str
    aws_conn_id: str
    seconds: float
    aws_calls: Counter[tuple[str, str]]
    kube_requests: int
    clients_created: int
    client_seconds: float
    cpu_seconds: float = 0.0  # this thread's CPU: the product's, not the sandbox's (its server threads)


@dataclass
class ClusterProbe:
    """Wraps the function a per-cluster task calls with a ``ClusterRef`` first (``audit_one_cluster``,
    ``gather_one_cluster``) to attribute AWS calls, Kubernetes requests and boto3 clients to each cluster."""

    api_calls: Counter[tuple[str, str]]
    meter: SandboxMeter
    clients: ClientMeter
    audits: list[ClusterTask] = field(default_factory=list)

    def wrap(self, one_cluster: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        def measured(ref: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
            calls_before, kube_before = self.api_calls.copy(), self.meter.kube_total()
            clients_before, client_seconds_before = self.clients.created, self.clients.seconds
            start, cpu_start = time.perf_counter(), time.thread_time()
            try:
                return one_cluster(ref, *args, **kwargs)
            finally:
                self.audits.append(
                    ClusterTask(
                        ref.cluster_name,
                        ref.aws_conn_id,
                        time.perf_counter() - start,
                        self.api_calls - calls_before,
                        self.meter.kube_total() - kube_before,
                        self.clients.created - clients_before,
                        self.clients.seconds - client_seconds_before,
                        time.thread_time() - cpu_start,
                    )
                )

        return measured


@contextmanager
def idle_meter() -> Iterator[list[float]]:
    """Records every ``time.sleep`` (dag.test idles 1 s when no task is ready; AWS retries back off)."""
    slept: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        real_sleep(seconds)

    with patch.object(time, "sleep", sleep):
        yield slept


@contextmanager
def gc_meter() -> Iterator[Counter[str]]:
    """Times Python's cyclic garbage collector: seconds and collections, in total and for generation 2."""
    totals: Counter[str] = Counter()
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        elapsed = time.perf_counter() - started[0]
        totals["seconds"] += elapsed
        totals["collected"] += info["collected"]
        if info["generation"] == 2:
            totals["gen2_seconds"] += elapsed
            totals["gen2_collections"] += 1

    gc.callbacks.append(callback)
    try:
        yield totals
    finally:
        gc.callbacks.remove(callback)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Everything alive before the run (the sandbox holding the whole fleet, moto, Airflow's ORM) is frozen out
    of the garbage collector, as ``benchmark_upgrade.upgrade`` does: a worker does not hold the simulator, and
    otherwise each full collection scans a heap that grows with the fleet and charges it to whichever task runs."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


@dataclass
class FleetRunFigures:
    """What every fleet benchmark measures of one run over a fleet of ``clusters`` clusters."""

    clusters: int
    nodes: int
    pods: int
    load_seconds: float
    wall_seconds: float
    cpu_seconds: float
    sandbox_cpu_seconds: float
    gc: Counter[str]
    idle_seconds: float
    idle_sleeps: int


@dataclass
class AuditBenchmark(FleetRunFigures):
    """The figures of one audit run over a fleet of ``clusters`` clusters."""

    discover_seconds: float
    audit_seconds: list[float]
    report_seconds: float
    audits: list[ClusterTask]
    api_calls: Counter[tuple[str, str]]
    kube_requests: Counter[str]
    by_status: dict[str, int]
    reported_clusters: int


# --- running ---------------------------------------------------------------------------------------------------


def prepare_environment(home: Path) -> None:
    """What Airflow and boto3 read at import time: a throw-away AIRFLOW_HOME, sqlite, this repo's dags/plugins."""
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AIRFLOW_VAR_EKS_REQUIRED_TAGS": json.dumps(["team", "environment"]),
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    for leaked in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(leaked, None)
    # The kubernetes client caches each endpoint's discovery in the temp dir (osrcp-<md5>.json): keep it in ours.
    tempfile.tempdir = str(home)


def connections(endpoint_url: str) -> dict[str, str]:
    """Airflow connections (environment variables) for both accounts, every call going to the sandbox."""

    def connection(extra: dict[str, str]) -> str:
        return json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                # Airflow assumes role_arn through STS without endpoint_url: STS needs its own.
                "extra": {
                    "endpoint_url": endpoint_url,
                    "service_config": {"sts": {"endpoint_url": endpoint_url}},
                    **extra,
                },
            }
        )

    return {
        "AIRFLOW_CONN_AWS_DEFAULT": connection({"region_name": "us-east-1", "role_arn": AUDIT_ROLES["123456789012"]}),
        "AIRFLOW_CONN_AWS_FLEET_B": connection({"region_name": "eu-west-1", "role_arn": SECOND_ACCOUNT_ROLE}),
    }


def audit_targets() -> list[dict[str, Any]]:
    targets: dict[str, list[str]] = {}
    for _account, region, conn_id in PLACEMENTS:
        targets.setdefault(conn_id, []).append(region)
    return [{"aws_conn_id": conn_id, "regions": regions} for conn_id, regions in targets.items()]


@dataclass
class LoadedFleet:
    """A fleet loaded into a fresh in-process sandbox, with the meter in front of its dispatcher."""

    sandbox: Any
    meter: SandboxMeter
    load_seconds: float
    nodes: int
    pods: int


@contextmanager
def loaded_fleet(document: dict[str, Any], reports: Path) -> Iterator[LoadedFleet]:
    """A fresh Airflow DB and sandbox holding ``document`` (its load timed apart), served over HTTP, with the
    environment the fleet runbooks read (both accounts' connections, Variable eks_fleet, reports under
    ``reports``); the server stops and moto is reset after."""
    from airflow.utils import db

    from eks_sandbox.fleet import load_fleet
    from eks_sandbox.moto_compat import reset_moto
    from eks_sandbox.server import SandboxServer
    from eks_sandbox.world import Sandbox

    db.resetdb()
    reset_moto()
    sandbox = Sandbox(time_scale=0.001, start=FLEET_DATE)
    server = SandboxServer(sandbox, port=0)
    # Measure requests where they arrive: the dispatcher is the server's WSGI application.
    meter = SandboxMeter(server._server.app)
    server._server.app = meter
    server.start()
    try:
        environment = {
            "AWS_ENDPOINT_URL": server.url,
            "AIRFLOW_VAR_EKS_REPORTS_BASE": reports.as_uri(),
            "EKS_RUNBOOKS_AS_OF": FLEET_DATE.isoformat(),
            # The fleet Variable names both accounts' connections, which is what lets the runbooks use them.
            "AIRFLOW_VAR_EKS_FLEET": json.dumps(audit_targets()),
        }
        with patch.dict(os.environ, environment | connections(server.url)):
            start = time.perf_counter()
            load_fleet(sandbox, document)
            load_seconds = time.perf_counter() - start
            nodes = pods = 0
            with sandbox.lock:
                for kube_cluster in sandbox.kube_clusters.values():
                    nodes += len(kube_cluster.list("v1", "Node"))
                    pods += len(kube_cluster.list("v1", "Pod"))
            sandbox.api_calls.clear()
            meter.reset()
            yield LoadedFleet(sandbox, meter, load_seconds, nodes, pods)
    finally:
        server.stop()
        reset_moto()


@dataclass
class MeasuredRun:
    """One ``dag.test()`` run and what it cost the process."""

    run: Any  # the DagRun
    wall_seconds: float
    cpu_seconds: float
    gc: Counter[str]
    idle_seconds: float
    idle_sleeps: int

    def durations(self, task_id: str) -> list[float]:
        """Each task instance's run time (mapped tasks: one per cluster)."""
        return [
            (ti.end_date - ti.start_date).total_seconds()
            for ti in self.run.get_task_instances()
            if ti.task_id == task_id
        ]


def fleet_run_figures(clusters: int, fleet: LoadedFleet, measured: MeasuredRun) -> dict[str, Any]:
    """The ``FleetRunFigures`` fields of a run, as keyword arguments for a benchmark's result."""
    return {
        "clusters": clusters,
        "nodes": fleet.nodes,
        "pods": fleet.pods,
        "load_seconds": fleet.load_seconds,
        "wall_seconds": measured.wall_seconds,
        "cpu_seconds": measured.cpu_seconds,
        "sandbox_cpu_seconds": fleet.meter.cpu_seconds,
        "gc": measured.gc,
        "idle_seconds": measured.idle_seconds,
        "idle_sleeps": measured.idle_sleeps,
    }


def written_report(measured: MeasuredRun) -> Path:
    """The report.json the run's report task wrote (its XCom names it as a file:// URL)."""
    written = measured.run.get_task_instance("report").xcom_pull(task_ids="report")
    return Path(written["report_json"][len("file://") :])


def measured_dag_test(dag_id: str, run_conf: dict[str, Any]) -> MeasuredRun:
    """Run ``dag_id`` (parsed from dags/) with ``dag.test()``, timing it, its CPU, its idle sleeps and the GC;
    a run that does not succeed stops the benchmark."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(str(REPO / "dags" / f"{dag_id}.py")).get_dag(dag_id)
    with idle_meter() as slept, gc_meter() as collector:
        cpu_start, start = cpu_seconds(), time.perf_counter()
        run = dag.test(run_conf=run_conf)
        wall_seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    if run.state != "success":
        raise RuntimeError(f"the {dag_id} run ended {run.state}; see the task logs on stderr")
    return MeasuredRun(run, wall_seconds, cpu, collector, sum(slept), len(slept))


def run_audit_benchmark(clusters: int, work: Path, *, freeze_in_task: bool = False) -> AuditBenchmark:
    """Load a fleet of ``clusters`` clusters into a fresh sandbox and DB, audit it, and measure."""
    from eks_runbooks.tasks import audit as audit_run

    with loaded_fleet(fleet_document(clusters), work / f"reports-{clusters}") as fleet:
        probe = ClusterProbe(fleet.sandbox.api_calls, fleet.meter, ClientMeter())
        with (
            patch.object(audit_run, "audit_one_cluster", probe.wrap(audit_run.audit_one_cluster)),
            patch.object(
                audit_run, "audit_cluster_batch", freezing_heap(audit_run.audit_cluster_batch, freeze_in_task)
            ),
            probe.clients.patched(),
            frozen_heap(),
        ):
            measured = measured_dag_test("eks_compliance_audit", {"targets": audit_targets()})
        report = json.loads(written_report(measured).read_text())
        return AuditBenchmark(
            **fleet_run_figures(clusters, fleet, measured),
            discover_seconds=measured.durations("discover")[0],
            audit_seconds=measured.durations("audit"),
            report_seconds=measured.durations("report")[0],
            audits=probe.audits,
            api_calls=fleet.sandbox.api_calls.copy(),
            kube_requests=fleet.meter.kube_requests.copy(),
            by_status=report["summary"]["by_status"],
            reported_clusters=len(report["clusters"]),
        )


# --- reporting -------------------------------------------------------------------------------------------------


def summary_rows(result: AuditBenchmark) -> list[tuple[str, str, float | None]]:
    """(measure, value, quantity compared across fleet sizes or None) for the main table."""
    audits = result.audit_seconds
    tasks = result.discover_seconds + sum(audits) + result.report_seconds
    calls = [sum(audit.aws_calls.values()) for audit in result.audits]
    kube = [audit.kube_requests for audit in result.audits]
    total_calls, total_kube = sum(result.api_calls.values()), sum(result.kube_requests.values())
    lower_bound = result.discover_seconds + math.ceil(len(audits) / MAX_ACTIVE_AUDITS) * statistics.median(audits)
    return [
        *run_rows(result, "audit"),
        ("discover task", f"{result.discover_seconds:.2f} s", None),
        *cluster_task_rows("audit", "audit_one_cluster", audits, result.audits),
        ("report task", f"{result.report_seconds:.2f} s", None),
        ("Airflow between tasks (wall - tasks)", f"{result.wall_seconds - tasks:.1f} s", None),
        ("AWS API calls, total", f"{total_calls}", total_calls),
        (
            "AWS API calls per cluster in its audit task: mean (min-max)",
            f"{statistics.mean(calls):.1f} ({min(calls)}-{max(calls)})",
            None,
        ),
        ("Kubernetes API requests, total", f"{total_kube}", total_kube),
        (
            "Kubernetes API requests per cluster: mean (min-max)",
            f"{statistics.mean(kube):.1f} ({min(kube)}-{max(kube)})",
            None,
        ),
        ("clusters in the report / checks by status", f"{result.reported_clusters} / {_statuses(result)}", None),
        (
            "lower bound with 16 audit tasks at once (discover + ceil(tasks/16) x audit p50 + report)",
            f"{lower_bound + result.report_seconds:.0f} s",
            None,
        ),
    ]


def run_rows(result: FleetRunFigures, runbook: str) -> list[tuple[str, str, float | None]]:
    """The rows of ``summary_rows`` every fleet benchmark has: the fleet, the run's wall time, CPU and GC."""
    n = result.clusters
    return [
        ("clusters / nodes / pods", f"{n} / {result.nodes} / {result.pods}", None),
        (f"fleet load (not part of the {runbook})", f"{result.load_seconds:.1f} s", result.load_seconds),
        (f"{runbook} DagRun wall time (`dag.test()`, serial)", f"{result.wall_seconds:.1f} s", result.wall_seconds),
        ("clusters per minute (serial)", f"{n / result.wall_seconds * 60:.0f}", None),
        ("process CPU time during the run", f"{result.cpu_seconds:.1f} s", result.cpu_seconds),
        ("of which the sandbox answering requests", f"{result.sandbox_cpu_seconds:.1f} s", None),
        (
            "Python's cyclic GC during the run: time (generation 2: collections, time), objects freed",
            f"{result.gc['seconds']:.1f} s ({result.gc['gen2_collections']}, {result.gc['gen2_seconds']:.1f} s), "
            f"{result.gc['collected'] / 1e6:.1f} M",
            result.gc["seconds"],
        ),
        ("`dag.test()` idle sleeps", f"{result.idle_sleeps} ({result.idle_seconds:.1f} s)", None),
    ]


def cluster_task_rows(
    task_id: str, function: str, durations: list[float], tasks: list[ClusterTask]
) -> list[tuple[str, str, float | None]]:
    """The rows of ``summary_rows`` about the per-cluster task ``task_id``, which calls ``function``."""
    return [
        (f"{task_id} tasks (batches of clusters)", f"{len(durations)}", None),
        (
            f"{task_id} task p50 / p95 / max",
            f"{statistics.median(durations):.2f} / {percentile(durations, 0.95):.2f} / {max(durations):.2f} s",
            None,
        ),
        (
            f"per cluster in `{function}`: wall p50, CPU p50 / mean (the task's thread, GC included)",
            f"{statistics.median(task.seconds for task in tasks):.3f} s, "
            f"{statistics.median(task.cpu_seconds for task in tasks):.3f} / "
            f"{statistics.mean(task.cpu_seconds for task in tasks):.3f} s",
            None,
        ),
        (
            "boto3 clients created per cluster (mean), and the time creating them takes (p50)",
            f"{statistics.mean(task.clients_created for task in tasks):.1f}, "
            f"{statistics.median(task.client_seconds for task in tasks):.2f} s",
            None,
        ),
        (f"sum of {task_id} tasks", f"{sum(durations):.1f} s", sum(durations)),
    ]


def _statuses(result: AuditBenchmark) -> str:
    return ", ".join(f"{count} {status}" for status, count in result.by_status.items() if count)


def operation_rows(tasks: list[ClusterTask], api_calls: Counter[tuple[str, str]], task_id: str) -> list[str]:
    """AWS calls by operation: per cluster in each connection's ``task_id`` tasks, outside them, and in all."""
    conn_ids = sorted({task.aws_conn_id for task in tasks})
    per_conn: dict[str, Counter[tuple[str, str]]] = {conn_id: Counter() for conn_id in conn_ids}
    measured: Counter[str] = Counter()
    for task in tasks:
        per_conn[task.aws_conn_id].update(task.aws_calls)
        measured[task.aws_conn_id] += 1
    outside = api_calls - sum(per_conn.values(), Counter())
    headers = [f"per cluster, {conn_id} ({measured[conn_id]} clusters)" for conn_id in conn_ids]
    rows = [
        "| service:operation | " + " | ".join(headers) + f" | outside {task_id} tasks | whole run |",
        "|---" * (len(conn_ids) + 3) + "|",
    ]
    for key, total in sorted(api_calls.items(), key=lambda item: (-item[1], item[0])):
        means = [f"{per_conn[conn_id][key] / measured[conn_id]:.2f}" for conn_id in conn_ids]
        rows.append(f"| {key[0]}:{key[1]} | " + " | ".join(means) + f" | {outside[key]} | {total} |")
    totals = [f"{sum(per_conn[conn_id].values()) / measured[conn_id]:.2f}" for conn_id in conn_ids]
    total_calls = sum(api_calls.values())
    rows.append("| **all** | " + " | ".join(totals) + f" | {sum(outside.values())} | {total_calls} |")
    clients: Counter[str] = Counter()
    for task in tasks:
        clients[task.aws_conn_id] += task.clients_created
    means = [f"{clients[conn_id] / measured[conn_id]:.2f}" for conn_id in conn_ids]
    rows.append("| boto3 clients created (not calls) | " + " | ".join(means) + " | | |")
    return rows


def marginal_rows(results: list[FleetRunFigures]) -> list[str]:
    """The slope between the two fleet sizes: what one more cluster costs the serial run (wall, and CPU without the
    sandbox's share), Airflow's per-task cost included."""
    if len(results) != 2:
        return []
    large, small = results
    clusters = large.clusters - small.clusters
    wall = (large.wall_seconds - small.wall_seconds) / clusters
    product = lambda r: r.cpu_seconds - r.sandbox_cpu_seconds  # noqa: E731
    cpu = (product(large) - product(small)) / clusters
    sandbox = (large.sandbox_cpu_seconds - small.sandbox_cpu_seconds) / clusters
    return [
        "",
        f"Marginal cost per cluster (slope {small.clusters} → {large.clusters} clusters): {wall:.3f} s of wall time; "
        f"{cpu:.3f} s of CPU outside the sandbox, {sandbox:.3f} s in it.",
    ]


def comparison_table(sizes: list[int], tables: list[list[tuple[str, str, float | None]]]) -> list[str]:
    """One column per fleet size (rows as ``summary_rows`` gives them), and their ratio when there are two."""
    compare = len(tables) == 2
    lines = [
        "| measure | " + " | ".join(f"{size} clusters" for size in sizes) + (" | ratio |" if compare else " |"),
        "|---" * (len(tables) + 1 + compare) + "|",
    ]
    for index, (label, _, quantity) in enumerate(tables[0]):
        row = f"| {label} | " + " | ".join(table[index][1] for table in tables) + " |"
        if compare:
            other = tables[1][index][2]
            row += f" {quantity / other:.2f} |" if quantity is not None and other else " |"
        lines.append(row)
    return lines


def kube_request_rows(kube_requests: Counter[str], clusters: int) -> list[str]:
    """Kubernetes API requests by method and path, per cluster."""
    lines = ["| request | per cluster |", "|---|---|"]
    for path, count in sorted(kube_requests.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"| `{path}` | {count / clusters:.2f} |")
    return lines


def machine_line(load_before: float, load_after: float) -> str:
    return (
        f"{date.today()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"1-minute load average {load_before:.2f} before the runs and {load_after:.2f} after"
    )


def markdown(results: list[AuditBenchmark], load_before: float, load_after: float) -> str:
    """The main table (one column per fleet size, and their ratio when there are two), then the call tables."""
    lines = comparison_table([r.clusters for r in results], [summary_rows(result) for result in results])
    lines += marginal_rows(results)
    largest = results[0]
    lines += ["", f"AWS API calls by operation ({largest.clusters} clusters):", ""]
    lines += operation_rows(largest.audits, largest.api_calls, "audit")
    lines += ["", f"Kubernetes API requests per cluster ({largest.clusters} clusters):", ""]
    lines += kube_request_rows(largest.kube_requests, largest.clusters)
    header = ["## eks_compliance_audit on a simulated fleet", "", machine_line(load_before, load_after), ""]
    return "\n".join(header + lines)


@contextmanager
def logs_to_stderr() -> Iterator[TextIO]:
    """Send everything written to stdout (Airflow's and the tasks' logs) to stderr; yields the real stdout.

    Works on the file descriptor, since Airflow's log handlers hold the stdout they found when configured.
    """
    sys.stdout.flush()
    results_out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        yield results_out
    finally:
        sys.stdout.flush()
        results_out.flush()
        os.dup2(results_out.fileno(), sys.stdout.fileno())
        results_out.close()


@dataclass(frozen=True)
class FleetOptions:
    """The command line of a fleet benchmark: the fleet sizes, largest first, and the GC variant measured."""

    sizes: list[int]
    freeze_in_task: bool


def fleet_options(description: str, default: int, what: str) -> FleetOptions:
    """``--clusters`` (default ``default``), then ``--baseline`` (default 20, 0: none), and ``--freeze-in-task``
    from the command line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--clusters", type=int, default=default, help=f"clusters in the fleet (default {default})")
    parser.add_argument(
        "--baseline", type=int, default=20, help=f"also {what} a fleet this small, for the ratio (0: skip)"
    )
    parser.add_argument(
        "--freeze-in-task",
        action="store_true",
        help="measure a variant: each batch task freezes the heap it starts with out of the GC (gc.freeze) and "
        "unfreezes it when it ends, as a worker's task process could after its imports",
    )
    args = parser.parse_args()
    if args.clusters < 1 or args.baseline < 0:
        parser.error("--clusters must be at least 1 and --baseline at least 0")
    return FleetOptions([args.clusters, args.baseline] if args.baseline else [args.clusters], args.freeze_in_task)


def freezing_heap(batch_task: Callable[..., Any], enabled: bool) -> Callable[..., Any]:
    """``batch_task`` run with the heap it starts with frozen out of the GC (``--freeze-in-task``), else as is."""
    if not enabled:
        return batch_task

    def frozen(*args: Any, **kwargs: Any) -> Any:
        gc.freeze()
        try:
            return batch_task(*args, **kwargs)
        finally:
            gc.unfreeze()

    return frozen


def main() -> int:
    options = fleet_options(__doc__.split("\n\n")[0], 500, "audit")
    sizes = options.sizes
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="eks-audit-benchmark-"))
    try:
        prepare_environment(work)
        with logs_to_stderr() as results_out:
            results = []
            for clusters in sizes:
                result = run_audit_benchmark(clusters, work, freeze_in_task=options.freeze_in_task)
                if result.reported_clusters != clusters or result.by_status.get("ERROR"):
                    raise RuntimeError(
                        f"{clusters} clusters: the report has {result.reported_clusters} clusters, "
                        f"{result.by_status.get('ERROR', 0)} ERROR checks"
                    )
                results.append(result)
            print(markdown(results, load_before, os.getloadavg()[0]), file=results_out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

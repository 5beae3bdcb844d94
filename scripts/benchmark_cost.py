"""Benchmark the nightly cost audit on a simulated fleet; prints Markdown tables for BENCHMARKS.md.

    .venv/bin/python scripts/benchmark_cost.py [--clusters 500] [--baseline 20] [--freeze-in-task] > cost-benchmark.md

Builds a generated fleet (the compliance audit benchmark's accounts and regions, ``benchmark_audit.PLACEMENTS``;
four cost profiles in turn, so every region holds each of them: node groups of a few instance types, some SPOT;
Deployments with CPU and memory requests; two PersistentVolumeClaims on a quarter of the clusters, gp2 or gp3;
a cluster in extended support) in an in-process sandbox, then runs ``eks_cost_audit`` over all of it with
``dag.test()`` in this process, in a throw-away AIRFLOW_HOME, and measures:

- fleet load time (not part of the audit figures);
- the DagRun's wall time and process CPU time (the sandbox's share timed apart), Python's cyclic GC, per-task
  durations (discover; gather p50 / p95 / max; prices; report, and in the report the costing and findings, the
  HTML with its chart and the CSV), clusters per minute, the report's files and their sizes;
- AWS API calls per cluster by operation, attributed to each cluster's ``gather_one_cluster``; the calls of the
  prices task per (connection, region) — the Price List and the spot price history are read once per run and
  region, not per cluster, which the two fleet sizes show side by side; boto3 clients created; Kubernetes API
  requests per cluster, counted at the sandbox's WSGI entry;
- that every cluster is in the report, with no unpriced line, no unreadable source and no cluster left uncosted.

The same is done for ``--baseline`` clusters (fresh sandbox, DB and reports) to show how the run scales.
``dag.test()`` runs mapped tasks one at a time, so the wall time is a serial upper bound: a deployment runs up
to 16 gather tasks at once. What the process held before the run is frozen out of the garbage collector
(``frozen_heap``), unlike in ``benchmark_audit.py``. Airflow's and the tasks' logs go to stderr, the tables to
stdout. Absolute figures vary with the machine; compare ratios across runs.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

from benchmark_audit import (
    MAX_ACTIVE_AUDITS,
    PLACEMENTS,
    ClientMeter,
    ClusterProbe,
    ClusterTask,
    FleetRunFigures,
    audit_targets,
    cluster_task_rows,
    comparison_table,
    fleet_document,
    fleet_options,
    fleet_run_figures,
    freezing_heap,
    frozen_heap,
    kube_request_rows,
    loaded_fleet,
    logs_to_stderr,
    machine_line,
    marginal_rows,
    measured_dag_test,
    operation_rows,
    run_rows,
    written_report,
)
from benchmark_upgrade import in_throwaway_airflow_home

DAG_ID = "eks_cost_audit"
#: The services that answer prices: the Price List Query API, and EC2 for DescribeSpotPriceHistory.
PRICE_OPERATIONS = (("pricing", "GetProducts"), ("ec2", "DescribeSpotPriceHistory"))


# --- the fleet ---------------------------------------------------------------------------------------------


def cost_cluster_spec(index: int, account: str) -> dict[str, Any]:
    """Cluster ``index`` of the generated fleet: one of the cost profiles, taken in turn within each region (the
    fleet deals clusters to PLACEMENTS in turn), so that every region holds every profile."""
    in_region = index // len(PLACEMENTS)
    prefix, profile = COST_PROFILES[in_region % len(COST_PROFILES)]
    return profile(f"{prefix}-{index:03d}", account, in_region // len(COST_PROFILES))


def web_cluster(name: str, account: str, ordinal: int) -> dict[str, Any]:
    """Production web: one on-demand m5.large node group its pods need entirely."""
    return {
        **_cluster(name, "1.34", {"team": "web", "environment": "production"}),
        "nodegroups": [{"name": "general", "instance_types": ["m5.large"], "size": 2}],
        "kubernetes": _workload("web", "api", replicas=4, cpu="600m", memory="2Gi"),
    }


def batch_cluster(name: str, account: str, ordinal: int) -> dict[str, Any]:
    """Staging batch: t3.medium on demand next to c5.large spot, stateless workers."""
    return {
        **_cluster(name, "1.33", {"team": "batch", "environment": "staging"}),
        "nodegroups": [
            {"name": "system", "instance_types": ["t3.medium"], "size": 2},
            {"name": "workers", "instance_types": ["c5.large"], "size": 2, "capacity_type": "SPOT"},
        ],
        "kubernetes": _workload("batch", "worker", replicas=4, cpu="700m", memory="1Gi"),
    }


def data_cluster(name: str, account: str, ordinal: int) -> dict[str, Any]:
    """Production data: r5.large nodes, a StatefulSet with two EBS-backed claims: gp3, or on every other data
    cluster of a region the in-tree gp2 class every EKS cluster has."""
    volume_class = "gp2" if ordinal % 2 else "gp3"
    gp3 = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "gp3"},
        "provisioner": "ebs.csi.aws.com",
        "volumeBindingMode": "WaitForFirstConsumer",
        "parameters": {"type": "gp3"},
    }
    csi_driver = {
        "name": "aws-ebs-csi-driver",
        "service_account_role_arn": f"arn:aws:iam::{account}:role/{name}-ebs-csi-driver",
    }
    cluster = _cluster(name, "1.33", {"team": "data", "environment": "production"})
    return {
        **cluster,
        "addons": [*cluster["addons"], csi_driver],
        "nodegroups": [{"name": "memory", "instance_types": ["r5.large"], "size": 2}],
        "kubernetes": [gp3, *_workload("data", "store", replicas=2, cpu="1", memory="12Gi", claim=volume_class)],
    }


def legacy_cluster(name: str, account: str, ordinal: int) -> dict[str, Any]:
    """Development on 1.31 with upgradePolicy EXTENDED (in extended support on the fleet's day), half spot."""
    return {
        **_cluster(name, "1.31", {"team": "analytics", "environment": "development"}, upgrade_policy="EXTENDED"),
        "nodegroups": [
            {"name": "general", "instance_types": ["m5.xlarge"], "size": 1},
            {"name": "spot", "instance_types": ["m5.large"], "size": 1, "capacity_type": "SPOT"},
        ],
        "kubernetes": _workload("analytics", "notebook", replicas=2, cpu="1500m", memory="3Gi"),
    }


#: (name prefix, profile(name, account, how many of it the region already has)).
COST_PROFILES: list[tuple[str, Callable[[str, str, int], dict[str, Any]]]] = [
    ("web", web_cluster),
    ("batch", batch_cluster),
    ("data", data_cluster),
    ("legacy", legacy_cluster),
]


def _cluster(name: str, version: str, tags: dict[str, str], upgrade_policy: str = "STANDARD") -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "subnets": ["private-a", "private-b"],
        "endpoint": {"public": True, "private": True},
        "authentication_mode": "API",
        "upgrade_policy": upgrade_policy,
        "tags": tags,
        "addons": ["vpc-cni", "coredns", "kube-proxy"],
    }


def _workload(
    namespace: str, app: str, *, replicas: int, cpu: str, memory: str, claim: str | None = None
) -> list[dict[str, Any]]:
    """A namespace and a Deployment of ``replicas`` pods with these requests; with ``claim`` (a StorageClass) a
    StatefulSet instead, each pod with a 20 GiB claim of that class."""
    container = {
        "name": app,
        "image": "public.ecr.aws/nginx/nginx:1.27",
        "resources": {"requests": {"cpu": cpu, "memory": memory}},
    }
    labels = {"app": app}
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
    }
    kind = "Deployment"
    if claim:
        kind = "StatefulSet"
        container["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        spec["serviceName"] = app
        spec["volumeClaimTemplates"] = [
            {
                "metadata": {"name": "data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": claim,
                    "resources": {"requests": {"storage": "20Gi"}},
                },
            }
        ]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": app, "namespace": namespace}, "spec": spec},
    ]


# --- measuring -----------------------------------------------------------------------------------------------


@dataclass
class RegionProbe:
    """Wraps ``read_region_prices`` to attribute the prices task's AWS calls to each (connection, region)."""

    api_calls: Counter[tuple[str, str]]
    calls: dict[tuple[str, str], Counter[tuple[str, str]]] = field(default_factory=dict)

    def wrap(self, read_region_prices: Callable[..., Any]) -> Callable[..., Any]:
        def measured(aws_conn_id: str, region: str, *args: Any, **kwargs: Any) -> Any:
            before = self.api_calls.copy()
            try:
                return read_region_prices(aws_conn_id, region, *args, **kwargs)
            finally:
                self.calls[(aws_conn_id, region)] = self.api_calls - before

        return measured


@dataclass
class Stopwatch:
    """Wall seconds spent in functions it wraps, by name."""

    seconds: Counter[str] = field(default_factory=Counter)

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        return timed


@dataclass
class CostBenchmark(FleetRunFigures):
    """The figures of one cost audit over a fleet of ``clusters`` clusters."""

    task_seconds: dict[str, list[float]]
    in_report: Counter[str]
    gathers: list[ClusterTask]
    price_calls: dict[tuple[str, str], Counter[tuple[str, str]]]
    api_calls: Counter[tuple[str, str]]
    kube_requests: Counter[str]
    report_files: dict[str, int]
    document: dict[str, Any]


def run_cost_benchmark(clusters: int, work: Path, *, freeze_in_task: bool = False) -> CostBenchmark:
    """Load a fleet of ``clusters`` clusters into a fresh sandbox and DB, run the cost audit over it, and measure."""
    from eks_runbooks.core.cost import report as cost_report
    from eks_runbooks.readers import prices as price_reader
    from eks_runbooks.tasks import cost as cost_run

    reports = work / f"reports-{clusters}"
    with loaded_fleet(fleet_document(clusters, cost_cluster_spec), reports) as fleet:
        probe = ClusterProbe(fleet.sandbox.api_calls, fleet.meter, ClientMeter())
        regions = RegionProbe(fleet.sandbox.api_calls)
        stopwatch = Stopwatch()
        with (
            patch.object(cost_run, "gather_one_cluster", probe.wrap(cost_run.gather_one_cluster)),
            patch.object(
                cost_run, "gather_cluster_batch", freezing_heap(cost_run.gather_cluster_batch, freeze_in_task)
            ),
            patch.object(price_reader, "read_region_prices", regions.wrap(price_reader.read_region_prices)),
            patch.object(cost_run, "cost_clusters", stopwatch.wrap("costing", cost_run.cost_clusters)),
            patch.object(cost_report, "render_cost_html", stopwatch.wrap("html", cost_report.render_cost_html)),
            patch.object(cost_report, "render_cost_csv", stopwatch.wrap("csv", cost_report.render_cost_csv)),
            probe.clients.patched(),
            frozen_heap(),
        ):
            measured = measured_dag_test(DAG_ID, {"targets": audit_targets()})
        report_json = written_report(measured)
        return CostBenchmark(
            **fleet_run_figures(clusters, fleet, measured),
            task_seconds={task: measured.durations(task) for task in ("discover", "gather", "prices", "report")},
            in_report=stopwatch.seconds,
            gathers=probe.audits,
            price_calls=regions.calls,
            api_calls=fleet.sandbox.api_calls.copy(),
            kube_requests=fleet.meter.kube_requests.copy(),
            report_files={path.name: path.stat().st_size for path in sorted(report_json.parent.iterdir())},
            document=json.loads(report_json.read_text()),
        )


def report_problems(result: CostBenchmark) -> list[str]:
    """What makes the run's report incomplete: a cluster missing or not costed, a line not priced, a source
    not read."""
    clusters = result.document["clusters"]
    problems = (
        [f"{len(clusters)} clusters in the report, not {result.clusters}"] if len(clusters) != result.clusters else []
    )
    problems += [f"not costed: {item['cluster']} ({item['reason']})" for item in result.document.get("not_costed", [])]
    for cluster in clusters:
        problems += [f"{cluster['cluster']}: not priced: {line}" for line in cluster["unpriced"]]
        problems += [
            f"{cluster['cluster']}: could not read {source}: {why}" for source, why in cluster["errors"].items()
        ]
    return problems


# --- reporting -------------------------------------------------------------------------------------------------


def summary_rows(result: CostBenchmark) -> list[tuple[str, str, float | None]]:
    """(measure, value, quantity compared across fleet sizes or None) for the main table."""
    seconds = result.task_seconds
    gathers = seconds["gather"]
    run_level = seconds["discover"][0] + seconds["prices"][0] + seconds["report"][0]
    calls = [sum(task.aws_calls.values()) for task in result.gathers]
    kube = [task.kube_requests for task in result.gathers]
    price_calls = sum((Counter(c) for c in result.price_calls.values()), Counter())
    total_calls, total_kube = sum(result.api_calls.values()), sum(result.kube_requests.values())
    files = result.report_files
    csv_bytes = sum(size for name, size in files.items() if name.endswith(".csv"))
    lower_bound = run_level + math.ceil(len(gathers) / MAX_ACTIVE_AUDITS) * statistics.median(gathers)
    return [
        *run_rows(result, "cost audit"),
        ("discover task", f"{seconds['discover'][0]:.2f} s", None),
        *cluster_task_rows("gather", "gather_one_cluster", gathers, result.gathers),
        ("prices task (one for the run)", f"{seconds['prices'][0]:.2f} s", seconds["prices"][0]),
        ("report task", f"{seconds['report'][0]:.2f} s", seconds["report"][0]),
        ("— costing and findings (`cost_clusters`)", f"{result.in_report['costing']:.2f} s", None),
        (
            "— HTML with its chart / CSV rendering",
            f"{result.in_report['html']:.2f} / {result.in_report['csv']:.2f} s",
            None,
        ),
        (
            "report size: JSON / HTML / CSV (files)",
            f"{files.get('report.json', 0) / 1024:.0f} / {files.get('report.html', 0) / 1024:.0f} / "
            f"{csv_bytes / 1024:.0f} KiB ({len(files)})",
            files.get("report.json", 0),
        ),
        ("Airflow between tasks (wall - tasks)", f"{result.wall_seconds - run_level - sum(gathers):.1f} s", None),
        ("AWS API calls, total", f"{total_calls}", total_calls),
        (
            "AWS API calls per cluster in its gather task: mean (min-max)",
            f"{statistics.mean(calls):.1f} ({min(calls)}-{max(calls)})",
            None,
        ),
        (
            f"pricing calls in the run: GetProducts / DescribeSpotPriceHistory ({len(result.price_calls)} regions)",
            " / ".join(str(price_calls[operation]) for operation in PRICE_OPERATIONS),
            sum(price_calls[operation] for operation in PRICE_OPERATIONS),
        ),
        ("Kubernetes API requests, total", f"{total_kube}", total_kube),
        (
            "Kubernetes API requests per cluster: mean (min-max)",
            f"{statistics.mean(kube):.1f} ({min(kube)}-{max(kube)})",
            None,
        ),
        ("clusters in the report / fleet monthly cost", _costed(result), None),
        ("findings by check", _findings(result), None),
        (
            "lower bound with 16 gather tasks at once (discover + ceil(tasks/16) x gather p50 + prices + report)",
            f"{lower_bound:.0f} s",
            None,
        ),
    ]


def _costed(result: CostBenchmark) -> str:
    document = result.document
    clusters = document["clusters"]
    unpriced = sum(len(cluster["unpriced"]) for cluster in clusters)
    return (
        f"{len(clusters)} ({unpriced} unpriced lines; {len(document['snapshot_clusters'])} priced partly from the "
        f"snapshot) / ${document['monthly_usd']}, findings' possible saving ${document['possible_saving_usd']}"
    )


def _findings(result: CostBenchmark) -> str:
    found = Counter(finding["check_id"] for cluster in result.document["clusters"] for finding in cluster["findings"])
    return ", ".join(f"{count} {check_id}" for check_id, count in sorted(found.items())) or "none"


def price_call_rows(results: list[CostBenchmark]) -> list[str]:
    """The prices task's AWS calls per (connection, region), for each fleet size side by side."""
    places = sorted({place for result in results for place in result.price_calls})
    headers = [f"{result.clusters} clusters: GetProducts / DescribeSpotPriceHistory / other" for result in results]
    rows = ["| connection, region | " + " | ".join(headers) + " |", "|---" * (len(results) + 1) + "|"]
    for place in places:
        cells = []
        for result in results:
            calls = result.price_calls.get(place, Counter())
            other = sum(calls.values()) - sum(calls[operation] for operation in PRICE_OPERATIONS)
            cells.append(" / ".join([*(str(calls[operation]) for operation in PRICE_OPERATIONS), str(other)]))
        rows.append(f"| {place[0]}, {place[1]} | " + " | ".join(cells) + " |")
    return rows


def markdown(results: list[CostBenchmark], load_before: float, load_after: float) -> str:
    """The main table (one column per fleet size, their ratio when there are two), the prices task's calls, then
    the per-cluster call tables of the largest fleet."""
    lines = comparison_table([r.clusters for r in results], [summary_rows(result) for result in results])
    lines += marginal_rows(results)
    lines += ["", "AWS API calls of the prices task, per (connection, region):", "", *price_call_rows(results)]
    largest = results[0]
    lines += ["", f"AWS API calls by operation ({largest.clusters} clusters):", ""]
    lines += operation_rows(largest.gathers, largest.api_calls, "gather")
    lines += ["", f"Kubernetes API requests per cluster ({largest.clusters} clusters):", ""]
    lines += kube_request_rows(largest.kube_requests, largest.clusters)
    header = [f"## {DAG_ID} on a simulated fleet", "", machine_line(load_before, load_after), ""]
    return "\n".join(header + lines)


def benchmark(sizes: list[int], freeze_in_task: bool = False) -> int:
    """Each fleet size in turn (the largest first, so one-off imports land in it); the tables go to stdout, then
    what keeps a report from being complete (exit status 1), so that a long run is never measured in vain."""
    home = Path(os.environ["AIRFLOW_HOME"])
    # The kubernetes client caches each endpoint's discovery in the temp dir (osrcp-<md5>.json): keep it in ours.
    tempfile.tempdir = str(home)
    load_before = os.getloadavg()[0]
    with logs_to_stderr() as results_out:
        results, problems = [], []
        for clusters in sizes:
            result = run_cost_benchmark(clusters, home, freeze_in_task=freeze_in_task)
            problems += [f"{clusters} clusters: {problem}" for problem in report_problems(result)]
            results.append(result)
        print(markdown(results, load_before, os.getloadavg()[0]), file=results_out)
        if problems:
            listed = "\n".join(f"- {problem}" for problem in problems[:40])
            more = f"\n- ... and {len(problems) - 40} more" if len(problems) > 40 else ""
            print(f"\n**The report is not complete** ({len(problems)} problems):\n\n{listed}{more}", file=results_out)
    return 1 if problems else 0


def main() -> int:
    options = fleet_options(__doc__.split("\n\n")[0], 500, "cost")
    return in_throwaway_airflow_home(None, lambda: benchmark(options.sizes, options.freeze_in_task))


if __name__ == "__main__":
    sys.exit(main())

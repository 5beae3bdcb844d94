"""eks_cost_audit, run by Airflow (`dag.test()`) on the demo fleet, held to a computation of its own.

What each cluster should cost is worked out here from the fleet file (node groups, workloads, volumes) and from
the price table below — the prices AWS publishes for these instance types, which this test holds itself; it
reads neither the runbook's price snapshot nor the sandbox's. A month is 730 hours.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import DEMO_FLEET, REPO, WORLD_DATE, aws_connection_uri

HOURS = Decimal(730)
CENT = Decimal("0.01")
TARGETS = [
    {"aws_conn_id": "aws_default", "regions": ["us-east-1", "us-west-2"]},
    {"aws_conn_id": "aws_ml_platform", "regions": ["eu-west-1"]},  # the second account, through AssumeRole
]
ML_ACCOUNT = "210987654321"

#: (region, instance type) → (on-demand, spot) USD per hour: Linux, shared tenancy (aws.amazon.com/ec2/pricing);
#: the spot figures are the simulated world's spot prices on its date (spot moves by the hour; AWS has no list).
EC2 = {
    ("us-east-1", "m5.large"): ("0.096", "0.0385"),
    ("us-east-1", "m5.xlarge"): ("0.192", "0.0770"),
    ("us-east-1", "c5.xlarge"): ("0.17", "0.0680"),
    ("us-east-1", "r5.large"): ("0.126", "0.0480"),
    ("us-west-2", "t3.medium"): ("0.0416", "0.0150"),
    ("eu-west-1", "m5.large"): ("0.107", "0.0420"),
    ("eu-west-1", "m5.2xlarge"): ("0.428", "0.1680"),
    ("eu-west-1", "t3.medium"): ("0.0456", "0.0160"),
}
#: EKS: per cluster-hour, standard and extended support (aws.amazon.com/eks/pricing).
CONTROL_PLANE = {"standard": Decimal("0.10"), "extended": Decimal("0.60")}
#: Fargate, us-east-1, Linux/x86: per vCPU-hour and per GB-hour (aws.amazon.com/fargate/pricing).
FARGATE = {"us-east-1": (Decimal("0.04048"), Decimal("0.004445"))}
#: EBS per GB-month, us-east-1 (aws.amazon.com/ebs/pricing).
EBS = {("us-east-1", "gp2"): Decimal("0.10"), ("us-east-1", "gp3"): Decimal("0.08")}
#: End of standard support per version (docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html).
END_OF_STANDARD_SUPPORT = {
    "1.31": date(2025, 11, 26),
    "1.32": date(2026, 3, 23),
    "1.33": date(2026, 7, 29),
    "1.34": date(2026, 12, 2),
}
#: Fargate sizes [UG fargate-pod-configuration]: the pod's vCPU and memory requests (+256 MiB for the Kubernetes
#: components) rounded up to the first of these (vCPU, GB) combinations that holds both.
FARGATE_SIZES = [(Decimal("0.25"), Decimal(gb)) for gb in ("0.5", "1", "2")] + [
    (Decimal("0.5"), Decimal(gb)) for gb in range(1, 5)
]


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def demo_clusters() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(account, region, cluster) for every cluster of the demo fleet file."""
    fleet = yaml.safe_load(DEMO_FLEET.read_text())
    for account in fleet["accounts"]:
        for region, content in account["regions"].items():
            for cluster in content.get("clusters", []):
                yield account["id"], region, cluster


def nodegroup_instance_type(nodegroup: dict[str, Any]) -> str:
    return (nodegroup.get("launch_template") or {}).get("instance_type") or nodegroup["instance_types"][0]


def node_price(region: str, nodegroup: dict[str, Any]) -> Decimal:
    on_demand, spot = EC2[(region, nodegroup_instance_type(nodegroup))]
    return Decimal(spot if nodegroup.get("capacity_type") == "SPOT" else on_demand)


def in_extended_support(cluster: dict[str, Any]) -> bool:
    return END_OF_STANDARD_SUPPORT[cluster["version"]] < WORLD_DATE


def fargate_monthly(region: str, cluster: dict[str, Any]) -> Decimal:
    """Σ over the Deployments in the Fargate profiles' namespaces: replicas x the pod's Fargate size."""
    namespaces = {
        selector["namespace"] for profile in cluster.get("fargate_profiles", []) for selector in profile["selectors"]
    }
    total = Decimal(0)
    for item in cluster.get("kubernetes", []):
        if item["kind"] != "Deployment" or item["metadata"]["namespace"] not in namespaces:
            continue
        containers = item["spec"]["template"]["spec"]["containers"]
        cpu = sum(millicores(c) for c in containers) / Decimal(1000)
        memory_gb = (sum(mebibytes(c) for c in containers) + 256) / Decimal(1024)
        vcpu, gb = next((v, g) for v, g in FARGATE_SIZES if v >= cpu and g >= memory_gb)
        per_vcpu, per_gb = FARGATE[region]
        total += item["spec"].get("replicas", 1) * (vcpu * per_vcpu + gb * per_gb) * HOURS
    return total


def millicores(container: dict[str, Any]) -> Decimal:
    cpu = str(((container.get("resources") or {}).get("requests") or {}).get("cpu", "0"))
    return Decimal(cpu[:-1]) if cpu.endswith("m") else Decimal(cpu) * 1000


def mebibytes(container: dict[str, Any]) -> Decimal:
    memory = str(((container.get("resources") or {}).get("requests") or {}).get("memory", "0"))
    units = {"Mi": 1, "Gi": 1024}
    return Decimal(memory[:-2]) * units[memory[-2:]] if memory[-2:] in units else Decimal(0)


def storage_monthly(region: str, cluster: dict[str, Any]) -> Decimal:
    """Σ over StatefulSets' volume claim templates: replicas x size x the class's EBS type per GB-month."""
    classes = {
        item["metadata"]["name"]: item.get("parameters", {}).get("type", "gp3")
        for item in cluster.get("kubernetes", [])
        if item["kind"] == "StorageClass"
    }
    total = Decimal(0)
    for item in cluster.get("kubernetes", []):
        if item["kind"] != "StatefulSet":
            continue
        for claim in item["spec"].get("volumeClaimTemplates", []):
            size = Decimal(claim["spec"]["resources"]["requests"]["storage"].removesuffix("Gi"))
            volume_type = classes[claim["spec"]["storageClassName"]]
            total += item["spec"].get("replicas", 1) * size * EBS[(region, volume_type)]
    return total


def expected_costs() -> dict[str, dict[str, Decimal]]:
    """Cluster → part → USD per month, as this test works it out."""
    expected = {}
    for _, region, cluster in demo_clusters():
        support = "extended" if in_extended_support(cluster) else "standard"
        nodes = sum((ng["size"] * node_price(region, ng) * HOURS for ng in cluster.get("nodegroups", [])), Decimal(0))
        expected[cluster["name"]] = {
            "control_plane": cents(CONTROL_PLANE[support] * HOURS),
            "nodes": cents(nodes),
            "fargate": cents(fargate_monthly(region, cluster)),
            "storage": cents(storage_monthly(region, cluster)),
            "load_balancers": Decimal("0.00"),
        }
    return expected


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", tmp_path.as_uri())
    return tmp_path / "eks_cost_audit"


@pytest.fixture
def cost_dag(demo_fleet, airflow_db, reports, fast_dag_test, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_ML_PLATFORM",
        aws_connection_uri(os.environ["AWS_ENDPOINT_URL"], "eu-west-1", "arn:aws:iam::210987654321:role/fleet-audit"),
    )
    monkeypatch.setenv("AIRFLOW_VAR_EKS_FLEET", json.dumps(TARGETS))
    return DagBag(str(REPO / "dags" / "eks_cost_audit.py")).get_dag("eks_cost_audit")


def run_cost_audit(dag, **conf: Any) -> tuple[dict[str, Any], Path]:
    run = dag.test(run_conf={"targets": TARGETS, "cluster_names": None, **conf})
    assert run.state == "success"
    written = run.get_task_instance("report").xcom_pull(task_ids="report")
    folder = Path(written["report_json"][7:]).parent
    return json.loads((folder / "report.json").read_text()), folder


def by_cluster(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {cluster["cluster"]: cluster for cluster in report["clusters"]}


def test_every_demo_cluster_costs_what_an_independent_computation_says_to_the_cent(cost_dag, reports):
    report, folder = run_cost_audit(cost_dag)

    clusters = by_cluster(report)
    expected = expected_costs()
    assert sorted(clusters) == sorted(expected)
    for name, parts in expected.items():
        got = {part: Decimal(usd) for part, usd in clusters[name]["by_part"].items()}
        assert got == parts, name
        assert Decimal(clusters[name]["monthly_usd"]) == sum(parts.values()), name
        assert clusters[name]["unpriced"] == [], name
    assert clusters["analytics-staging"]["by_part"]["control_plane"] == "438.00"
    assert clusters["payments-prod"]["by_part"]["control_plane"] == "73.00"
    assert Decimal(report["monthly_usd"]) == sum(sum(p.values()) for p in expected.values())

    page = (folder / "report.html").read_text()
    assert "<svg" in page and "http://" not in page.split("<svg", 1)[1].split("</svg>", 1)[0].replace(
        "http://www.w3.org", ""
    )
    rows = list(csv.DictReader(io.StringIO((folder / "costs.csv").read_text())))
    assert {row["cluster"] for row in rows} == set(expected)
    assert (reports / "latest" / "report.json").exists()


def test_a_target_denied_the_price_list_is_priced_from_the_snapshot_and_the_report_says_so(cost_dag, demo_fleet):
    demo_fleet.faults.add_from_dict(
        {"service": "pricing", "account": ML_ACCOUNT, "error": "AccessDeniedException", "message": "denied by an SCP"}
    )
    report, folder = run_cost_audit(cost_dag)

    clusters = by_cluster(report)
    expected = expected_costs()
    for name, cluster in clusters.items():
        sources = {line["unit_price"]["source"] for line in cluster["lines"] if line["part"] == "control_plane"}
        if cluster["account"] == ML_ACCOUNT:
            assert all(source.startswith("price snapshot") for source in sources), (name, sources)
            assert any("aws_ml_platform" in note and "AccessDenied" in note for note in cluster["price_notes"]), name
        else:
            assert not any(source.startswith("price snapshot") for source in sources), (name, sources)
        # The snapshot holds the prices AWS publishes: the denied target's clusters still cost what they cost.
        assert {part: Decimal(usd) for part, usd in cluster["by_part"].items()} == expected[name], name
    denied = {c["cluster"] for c in report["snapshot_clusters"] if "AccessDenied" in c["why"]}
    assert denied == {cluster["name"] for account, _, cluster in demo_clusters() if account == ML_ACCOUNT}
    assert "AccessDenied" in (folder / "report.html").read_text()


def statefulset_replicas(cluster_name: str, name: str) -> int:
    cluster = next(c for _, _, c in demo_clusters() if c["name"] == cluster_name)
    item = next(i for i in cluster["kubernetes"] if i["kind"] == "StatefulSet" and i["metadata"]["name"] == name)
    return item["spec"].get("replicas", 1)


def nodegroup(cluster_name: str, name: str) -> tuple[str, dict[str, Any]]:
    region, cluster = next((r, c) for _, r, c in demo_clusters() if c["name"] == cluster_name)
    return region, next(ng for ng in cluster["nodegroups"] if ng["name"] == name)


def expected_savings() -> dict[str, tuple[str, Decimal]]:
    """Finding → (the cluster seeded for it, its monthly saving), worked out here."""
    region, workers = nodegroup("analytics-staging", "workers")
    _, spark = nodegroup("analytics-staging", "spark")
    # Spot share 0 against a target of 50 %: half of each on-demand stateless node's (on-demand - spot) price.
    spot_gap = sum(
        ng["size"]
        * (
            Decimal(EC2[(region, nodegroup_instance_type(ng))][0])
            - Decimal(EC2[(region, nodegroup_instance_type(ng))][1])
        )
        for ng in (workers, spark)
    )
    ml_region, cpu = nodegroup("ml-platform", "cpu")
    web_region, api = nodegroup("web-staging", "api")
    # ml-platform's three workload pods (1000m + 1000m + 500m) fit on one m5.2xlarge of the two; web-staging's
    # 45 api pods (10m each) fit on one t3.medium of the three once prefixes allow 110 pods per node.
    return {
        "COST-EXTENDED-SUPPORT": (
            "analytics-staging",
            cents((CONTROL_PLANE["extended"] - CONTROL_PLANE["standard"]) * HOURS),
        ),
        "COST-SPOT-SHARE": ("analytics-staging", cents(Decimal("0.5") * spot_gap * HOURS)),
        "COST-IDLE-CAPACITY": ("ml-platform", cents((cpu["size"] - 1) * node_price(ml_region, cpu) * HOURS)),
        "COST-PREFIX-DELEGATION": ("web-staging", cents((api["size"] - 1) * node_price(web_region, api) * HOURS)),
        "COST-GP2-VOLUMES": (
            "orders-prod",
            cents(
                statefulset_replicas("orders-prod", "inventory")
                * 50
                * (EBS[("us-east-1", "gp2")] - EBS[("us-east-1", "gp3")])
            ),
        ),
    }


def test_each_finding_is_on_the_cluster_seeded_for_it_with_the_saving_worked_out_here_and_nowhere_else(cost_dag):
    report, _ = run_cost_audit(cost_dag)

    for check_id, (seeded, saving) in expected_savings().items():
        found = [f for f in report["findings"] if f["check_id"] == check_id]
        assert {f["cluster"] for f in found} == {seeded}, (check_id, [(f["cluster"], f["detail"]) for f in found])
        assert sum(Decimal(f["monthly_saving_usd"]) for f in found) == saving, (check_id, found)
        assert all(f["detail"] and f["remediation"] for f in found), check_id

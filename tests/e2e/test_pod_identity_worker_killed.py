"""A worker killed mid-migration, the task retried: the Pod Identity migration completes and repeats nothing.

Real processes: the demo's sandbox and ``airflow standalone`` (``scripts/demo.py --serve-only``, LocalExecutor),
with the scheduler's task heartbeat timeout lowered so a dead worker is noticed in seconds, not five minutes.

Before the run, a sandbox fault rule answers ``ServiceUnavailableException`` to CreatePodIdentityAssociation for
``orders/orders-worker`` — the last service account ``associate`` works through — fewer times than botocore's
standard mode tries (10), so the step is slow, not failing. Once ``associate`` is running, that rule has been hit
and other service accounts' associations exist, the test SIGKILLs both processes of the try: the LocalExecutor
worker that supervises it (process title ``airflow worker -- LocalExecutor: <task instance id>``) and the task
process it forked (``airflow worker -- <task instance id>``). Nothing of the try can finish, clean up or report:
the scheduler finds the task instance without heartbeats and retries it, as after a lost machine. The rest of
the outage is then lifted (the rule removed) so the retry need not sit through botocore's back-off again.

Proof of the acceptance: the run succeeds with ``associate`` at try 2 or later; every association made before
the kill is still the same association (same id) and the retry's result says it found it; each service account
has one association; each role trusts ``pods.eks.amazonaws.com`` once; each migrated Deployment was restarted
once (revision 2).
"""

from __future__ import annotations

import base64
import re
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from tests.helpers import (
    PLATFORM_ADMIN_ROLE_ARN,
    assert_demo_stopped_cleanly,
    assumed_role_credentials,
    demo_output_until,
    eks_token,
    kill_task_instance_processes,
    sandbox_control,
    start_demo,
    wait_while_demo_runs,
)

#: One Airflow for the module; it stays on the pytest-xdist worker that runs the other standalone scenarios.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600), pytest.mark.xdist_group("airflow-standalone")]

DAG_ID = "eks_pod_identity_migration"
RUN_ID = "pod_identity__worker_killed"
CLUSTER = "orders-prod"
CONF = {"cluster_name": CLUSTER, "region": "us-east-1", "dry_run": False}
SLOW_ACCOUNT = ("orders", "orders-worker")
#: Answers of the outage, below botocore's 10 attempts (runs.upgrade_context.AWS_RETRIES): slow, not failed.
OUTAGE_ANSWERS = 9
#: The scheduler fails a running task instance without a heartbeat for this long (default 300 s); its supervisor
#: heartbeats every second here (the demo's [workers] min_heartbeat_interval), so a live task never comes near it.
HEARTBEAT_TIMEOUT = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
}


@dataclass
class Scenario:
    """What existed when the worker was killed, what was killed, and what Airflow and the cluster show after."""

    state_dir: Path
    before_kill: dict[tuple[str, str], str] = field(default_factory=dict)
    killed: list[str] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)
    associate: dict[str, Any] = field(default_factory=dict)
    associate_result: dict[str, str] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    associations: list[dict[str, Any]] = field(default_factory=list)
    trust: dict[str, dict[str, Any]] = field(default_factory=dict)
    revisions: dict[str, str] = field(default_factory=dict)
    output: str = ""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Start the demo, migrate orders-prod, kill the ``associate`` try mid-step, wait for the run, stop Airflow."""
    seen = Scenario(state_dir=tmp_path_factory.mktemp("pod-identity-kill"))
    demo = start_demo(seen.state_dir, "--serve-only", env=HEARTBEAT_TIMEOUT)
    seen.output = demo_output_until(demo, "Press Ctrl-C")
    try:
        login = re.search(r"airflow: UI on (\S+) \(user admin, password (\S+)\)", seen.output)
        sandbox = re.search(r"sandbox: demo fleet served on (\S+)", seen.output)
        assert login and sandbox and demo.poll() is None, seen.output
        migrate_and_kill_the_worker(seen, demo, sandbox.group(1), *login.groups())
        read_the_cluster(seen, sandbox.group(1))
    finally:
        demo.send_signal(signal.SIGINT)
        seen.output += demo.communicate(timeout=120)[0]
    return seen


def migrate_and_kill_the_worker(seen: Scenario, demo: subprocess.Popen, sandbox: str, airflow: str, password: str):
    api = requests.Session()
    token = api.post(f"{airflow}/auth/token", json={"username": "admin", "password": password}, timeout=30)
    api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    dag_url = f"{airflow}/api/v2/dags/{DAG_ID}"
    wait_while_demo_runs(lambda: api.get(dag_url, timeout=30).ok, f"{DAG_ID} to be parsed", demo, timeout=120)
    assert api.patch(dag_url, json={"is_paused": False}, timeout=30).ok
    status, rule = sandbox_control(
        sandbox,
        "POST",
        "/faults",
        {
            "service": "eks",
            "operation": "CreatePodIdentityAssociation",
            "match": {"clusterName": CLUSTER, "namespace": SLOW_ACCOUNT[0], "serviceAccount": SLOW_ACCOUNT[1]},
            "error": "ServiceUnavailableException",
            "count": OUTAGE_ANSWERS,
        },
    )
    assert status == 201, rule
    trigger = {"dag_run_id": RUN_ID, "logical_date": None, "conf": CONF}
    assert api.post(f"{dag_url}/dagRuns", json=trigger, timeout=30).status_code == 200
    run_url = f"{dag_url}/dagRuns/{RUN_ID}"
    eks = aws(sandbox, "eks")

    def associate_busy_on_the_slow_account() -> dict[str, Any] | None:
        task = api.get(f"{run_url}/taskInstances/associate", timeout=30).json()
        left = {r["id"]: r["count"] for r in sandbox_control(sandbox, "GET", "/faults")[1]["faults"]}
        hit = left.get(rule["id"], 0) < OUTAGE_ANSWERS
        return task if task.get("state") == "running" and hit and associations_of(eks) else None

    running = wait_while_demo_runs(associate_busy_on_the_slow_account, "associate to be mid-step", demo, timeout=240)
    seen.before_kill = {(a["namespace"], a["serviceAccount"]): a["associationId"] for a in associations_of(eks)}
    seen.killed = kill_task_instance_processes(running["id"])
    print(f"killed associate try {running['try_number']}: {seen.killed}; associations then: {seen.before_kill}")
    sandbox_control(sandbox, "DELETE", f"/faults/{rule['id']}")  # the outage is over (404 if used up already)

    def ended() -> dict[str, Any] | None:
        run = api.get(run_url, timeout=30).json()
        return run if run["state"] in ("success", "failed") else None

    seen.run = wait_while_demo_runs(ended, "the run to end", demo, timeout=300)
    seen.associate = api.get(f"{run_url}/taskInstances/associate", timeout=30).json()
    xcom = api.get(f"{run_url}/taskInstances/associate/xcomEntries/return_value", timeout=30).json()
    seen.associate_result = xcom.get("value") or {}


def aws(sandbox: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=sandbox,
        region_name="us-east-1",
        **assumed_role_credentials(sandbox, PLATFORM_ADMIN_ROLE_ARN, "worker-killed-test"),
    )


def associations_of(eks: Any) -> list[dict[str, Any]]:
    return eks.list_pod_identity_associations(clusterName=CLUSTER)["associations"]


def read_the_cluster(seen: Scenario, sandbox: str) -> None:
    """orders-prod after the run: associations, the trust of the roles they name, each Deployment's revision."""
    from kubernetes import client

    eks, iam = aws(sandbox, "eks"), aws(sandbox, "iam")
    seen.associations = associations_of(eks)
    for association in seen.associations:
        role = association_role(eks, association)
        seen.trust[role] = iam.get_role(RoleName=role.rpartition("/")[2])["Role"]["AssumeRolePolicyDocument"]
    described = eks.describe_cluster(name=CLUSTER)["cluster"]
    ca_file = seen.state_dir / f"{CLUSTER}.crt"
    ca_file.write_bytes(base64.b64decode(described["certificateAuthority"]["data"]))
    configuration = client.Configuration()
    configuration.host = described["endpoint"]
    configuration.ssl_ca_cert = str(ca_file)
    credentials = assumed_role_credentials(sandbox, PLATFORM_ADMIN_ROLE_ARN, "worker-killed-test")
    configuration.api_key = {"BearerToken": eks_token(CLUSTER, sandbox, credentials)}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    with client.ApiClient(configuration) as api_client:
        seen.revisions = {
            f"{d.metadata.namespace}/{d.metadata.name}": d.metadata.annotations["deployment.kubernetes.io/revision"]
            for d in client.AppsV1Api(api_client).list_deployment_for_all_namespaces().items
            if d.metadata.namespace in ("orders", "fulfillment", "observability", "settlement")
        }


def association_role(eks: Any, association: dict[str, Any]) -> str:
    return eks.describe_pod_identity_association(clusterName=CLUSTER, associationId=association["associationId"])[
        "association"
    ]["roleArn"]


def test_the_run_succeeds_with_associate_retried_after_its_worker_was_killed(scenario):
    assert len(scenario.killed) == 2, scenario.killed  # the supervisor and its task process
    assert any("LocalExecutor" in line for line in scenario.killed), scenario.killed
    assert scenario.run["state"] == "success", scenario.run
    assert scenario.associate["state"] == "success"
    assert scenario.associate["try_number"] >= 2, scenario.associate
    assert_demo_stopped_cleanly(scenario.output, scenario.state_dir)


def test_associations_made_before_the_kill_are_found_by_the_retry_not_made_again(scenario):
    assert scenario.before_kill and SLOW_ACCOUNT not in scenario.before_kill
    for (namespace, name), association_id in scenario.before_kill.items():
        found = scenario.associate_result[f"{namespace}/{name}"]
        # The EBS CSI driver's association belongs to its add-on (UpdateAddon podIdentityAssociations).
        assert found in (f"association {association_id} exists", f"add-on aws-ebs-csi-driver already associates {name}")
    assert scenario.associate_result["/".join(SLOW_ACCOUNT)].endswith(" created")
    after = {(a["namespace"], a["serviceAccount"]): a["associationId"] for a in scenario.associations}
    assert len(after) == len(scenario.associations), "one association per service account"
    # invoice-renderer's image has an SDK too old for Pod Identity: verification returns it to IRSA afterwards.
    kept = {account: id_ for account, id_ in scenario.before_kill.items() if account != ("orders", "invoice-renderer")}
    assert {account: after.get(account) for account in kept} == kept


def test_each_role_trusts_pod_identity_once_and_each_migrated_deployment_restarted_once(scenario):
    for role, document in scenario.trust.items():
        services = [statement["Principal"].get("Service") for statement in document["Statement"]]
        assert services.count("pods.eks.amazonaws.com") == 1, f"{role}: {document}"
    migrated = {f"{a['namespace']}/{a['serviceAccount']}" for a in scenario.associations}
    assert {"orders/orders-api", "orders/orders-worker"} <= migrated
    assert scenario.revisions["orders/orders-api"] == scenario.revisions["orders/orders-worker"] == "2"
    assert scenario.revisions["orders/legacy-exporter"] == "1"  # stays on IRSA: never restarted

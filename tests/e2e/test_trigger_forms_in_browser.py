"""The runbooks as a person meets them in Airflow's UI, in a real browser (Debian's Chromium, driven by playwright).

Logs in, opens each runbook's trigger form and reads every field of it: what a person needs must be a field of the
right kind under a label that says what it is (a list of targets one line each, not a raw JSON editor), and no
optional field may be marked required. The fields a person needs are this module's own table (``FORMS``), written
from the runbooks' documentation, not read from the DAGs: a Param renamed, removed or turned into another kind of
field fails here. A plan-mode upgrade and a compliance audit of two accounts (one line each) are filled in and
submitted through their forms once, one after the other, and run side by side: the upgrade's grid must show the hop
groups its plan uses done and the others skipped, and its run note the runbook's summary; the audit's HTML report,
opened in the browser, names every cluster of the demo fleet file (the audit runs while the upgrade does: the
module takes about as long as the upgrade plus the forms).

On a failure, the test's page is saved as a screenshot under ``test-artifacts/browser/<test>/`` (the path is
printed with the failure).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, unquote

import pytest
import requests
import yaml

from tests.e2e.conftest import DistributedDemo
from tests.helpers import DEMO_FLEET, REPO

#: The session's distributed Airflow (tests/e2e/conftest.py) serves every test of this module.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.timeout(900),
    pytest.mark.xdist_group("airflow-distributed"),
]

CHROMIUM = "/usr/bin/chromium"
#: The machine's network is closed: without these, Chromium waits on the network services it starts by itself.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts" / "browser"


class Field(NamedTuple):
    """A field as a person sees it: its label, what kind of input it is, and whether it is marked required.

    Kinds: ``text`` (one line), ``lines`` (one value per line), ``number``, ``switch``, ``choice`` (a drop-down),
    ``json`` (a JSON editor).
    """

    title: str
    kind: str
    required: bool


# Airflow marks every field whose type does not allow null as required, a switch or a field with a default too:
# those are "required" here because the form says so, though a person may leave them as they are.
CLUSTER_TARGET = {
    "cluster_name": Field("Cluster", "text", True),
    "region": Field("Region", "text", True),
    "aws_conn_id": Field("AWS connection", "text", True),
}
RUN = {
    "dry_run": Field("Plan only (dry run)", "switch", True),
    "require_approval": Field("Require approval", "switch", True),
    "ticket_id": Field("Ticket", "text", False),
}
FLEET_TARGET = {
    "aws_conn_id": Field("AWS connection", "text", False),
    "regions": Field("Regions", "lines", False),
    "cluster_names": Field("Only these clusters", "lines", False),
}
FLEET_REPORTS = {
    "report_aws_conn_id": Field("AWS connection for reports and alerts", "text", True),
    "targets": Field("Several accounts", "lines", False),
}
#: Runbook → param → the field a person fills (docs/interfaces.md names the params).
FORMS: dict[str, dict[str, Field]] = {
    "eks_cluster_upgrade": {
        **CLUSTER_TARGET,
        "target_version": Field("Target Kubernetes version", "text", True),
        **RUN,
        "addon_conflicts": Field("Add-on conflicts", "choice", True),
        "addon_version_policy": Field("Add-on versions", "choice", True),
        "nodegroup_parallelism": Field("Node groups at a time", "number", True),
        "force_node_drain": Field("Force node drain", "switch", True),
        "ignore_checks": Field("Accept these pre-flight findings", "lines", False),
    },
    "eks_compliance_audit": {
        **FLEET_TARGET,
        "checks": Field("Only these checks", "lines", False),
        **FLEET_REPORTS,
    },
    "eks_cost_audit": {
        **FLEET_TARGET,
        "spot_target_percent": Field("Spot target for stateless node groups (%)", "number", True),
        "group_by_tags": Field("Cluster tags to total by", "lines", True),
        **FLEET_REPORTS,
    },
    "eks_pod_identity_migration": {
        **CLUSTER_TARGET,
        "phase": Field("Phase", "choice", True),
        "namespaces": Field("Namespaces", "lines", False),
        "service_accounts": Field("Service accounts", "lines", False),
        "include_addons": Field("Include add-ons", "switch", True),
        "wave_size": Field("Workloads at a time", "number", True),
        **RUN,
    },
    "eks_cluster_bootstrap": {
        "definition": Field("Cluster definition", "text", False),
        "aws_conn_id": Field("AWS connection", "text", True),
        "cluster_name": Field("Cluster name", "text", False),
        "region": Field("Region", "text", False),
        "kubernetes_version": Field("Kubernetes version", "text", False),
        # A map and a list of node group specs: no form field of Airflow's holds them but its JSON editor.
        "tags": Field("Tags", "json", False),
        "subnet_ids": Field("Subnets", "lines", False),
        "endpoint": Field("API endpoint", "choice", False),
        "public_access_cidrs": Field("Public access CIDRs", "lines", False),
        "admin_principal_arns": Field("Admin principals", "lines", False),
        "kms_key_arn": Field("KMS key", "text", False),
        "cluster_role_arn": Field("Cluster role", "text", False),
        "node_role_arn": Field("Node role", "text", False),
        "compute": Field("Managed node groups", "json", False),
        "addons": Field("Add-ons", "lines", False),
        "teardown_on_failure": Field("Tear down on failure", "switch", True),
        **RUN,
    },
    "eks_fleet_inventory": {
        "aws_conn_id": Field("AWS connection", "text", True),
        "regions": Field("Regions", "lines", True),
    },
}

#: The form's own section (run id, note, the whole conf as JSON), not the runbook's.
AIRFLOW_SECTION = "Advanced Options"
SECTION = "[data-scope=accordion][data-part=item-trigger]"
#: Each field of a section: its label, the param it sets (the control's ``element_<param>`` name or id), its kind.
READ_FIELDS = """section => [...section.querySelectorAll('[data-scope=field][data-part=root]')].map(row => {
    const label = row.querySelector('label[data-part=label]');
    const control = row.querySelector('[name^="element_"]') || row.querySelector('[id^="element_"]');
    const has = selector => row.querySelector(selector) !== null;
    const kind = has('[role=code]') ? 'json' : has('input[type=checkbox]') ? 'switch'
        : has('[role=spinbutton]') ? 'number' : has('[role=combobox]') ? 'choice'
        : has('textarea') ? 'lines' : has('input') ? 'text' : 'none';
    return {
        param: control ? (control.getAttribute('name') || control.id).replace(/^element_/, '') : null,
        title: label ? label.textContent.replace('*', '').trim() : '',
        kind: kind,
        required: label !== null && label.hasAttribute('data-required'),
        visible: row.checkVisibility(),
    };
})"""
UPGRADE_CLUSTER, UPGRADE_REGION, UPGRADE_TARGET = "payments-prod", "us-east-1", "1.34"
#: The compliance audit's targets as a person types them into the form: every account and region of the demo fleet.
AUDIT_TARGET_LINES = ["aws_default: us-east-1, us-west-2", "aws_ml_platform: eu-west-1"]


class RunningDemo(NamedTuple):
    """An Airflow with the runbooks, wired to the demo fleet's sandbox; ``state_dir`` holds its reports."""

    airflow_url: str
    admin_password: str
    sandbox_url: str
    state_dir: Path


@pytest.fixture(scope="module")
def running_demo(distributed: DistributedDemo) -> RunningDemo:
    """The session's distributed Airflow and its sandbox: PostgreSQL, Redis, Celery workers, as teams run it."""
    return RunningDemo(distributed.airflow_url, distributed.password, distributed.sandbox_url, distributed.state_dir)


@pytest.fixture(scope="module")
def airflow_api(running_demo: RunningDemo) -> requests.Session:
    """Airflow's REST API as admin: to wait for runs and read what they returned."""
    api = requests.Session()
    token = api.post(
        f"{running_demo.airflow_url}/auth/token",
        json={"username": "admin", "password": running_demo.admin_password},
        timeout=30,
    )
    api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return api


@pytest.fixture(scope="module")
def signed_in(running_demo: RunningDemo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Chromium profile (fresh, throw-away) signed in to Airflow as admin, as a person does on its login page."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = browser.new_page()
            page.goto(running_demo.airflow_url)
            page.locator("input[name=username]").fill("admin")
            page.locator("input[name=password]").fill(running_demo.admin_password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "/auth/login" not in url)
            page.close()
            yield browser
        finally:
            browser.close()


class SubmittedRuns(NamedTuple):
    """The run ids of what a person started from the trigger forms."""

    upgrade: str
    audit: str


@pytest.fixture
def page(signed_in: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A browser tab for one test; a screenshot of it under test-artifacts/browser/<test>/ if the test failed."""
    tab = signed_in.new_page()
    yield tab
    if any(getattr(getattr(request.node, f"rep_{phase}", None), "failed", False) for phase in ("setup", "call")):
        save_screenshot(tab, request.node.name)
    tab.close()


@pytest.fixture(scope="module")
def submitted_runs(signed_in: Any, running_demo: RunningDemo) -> SubmittedRuns:
    """A plan-mode upgrade and a compliance audit of every account, each filled in and submitted on its trigger
    form, one after the other (the tests then wait for them: both run at once)."""
    tab = signed_in.new_page()
    try:
        form = open_trigger_form(tab, running_demo.airflow_url, "eks_cluster_upgrade")
        target = open_section(form, "Target")
        target.locator("[name=element_cluster_name]").fill(UPGRADE_CLUSTER)
        target.locator("[name=element_region]").fill(UPGRADE_REGION)
        target.locator("[name=element_target_version]").fill(UPGRADE_TARGET)
        assert open_section(form, "Run").locator("[name=element_dry_run]").is_checked()  # plan mode unless unticked
        upgrade = submit(tab, form, "eks_cluster_upgrade")

        form = open_trigger_form(tab, running_demo.airflow_url, "eks_compliance_audit")
        accounts = open_section(form, "several accounts").locator("[name=element_targets]")
        accounts.fill("\n".join(AUDIT_TARGET_LINES))
        return SubmittedRuns(upgrade, submit(tab, form, "eks_compliance_audit"))
    except Exception:
        save_screenshot(tab, "submitted_runs")
        raise
    finally:
        tab.close()


def save_screenshot(tab: Any, name: str) -> None:
    """The tab as a person saw it (PNG, and its HTML) under test-artifacts/browser/<name>/; prints where."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    folder.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=folder / "page.png", full_page=True)
    (folder / "page.html").write_text(tab.content())
    print(f"screenshot of the page at the failure: {folder / 'page.png'} (URL {tab.url})")


def open_trigger_form(page: Any, airflow_url: str, dag_id: str) -> Any:
    """The runbook's trigger form, as the DAG page's Trigger button opens it."""
    page.goto(f"{airflow_url}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger").first.click()
    form = page.locator("[data-scope=dialog][data-part=content][data-state=open]")
    form.locator(SECTION).first.wait_for()
    return form


def open_section(form: Any, title: str) -> Any:
    """Unfold the form's section ``title`` (the form shows one at a time) and return its content."""
    header = form.locator(SECTION, has_text=title)
    if header.get_attribute("aria-expanded") != "true":
        header.click()
    content = form.locator(f"[id='{header.get_attribute('aria-controls')}']")
    content.wait_for()
    return content


def fields_of(form: Any) -> dict[str, Field]:
    """Every field of the runbook's own sections, by the param it sets, as shown once its section is open."""
    fields: dict[str, Field] = {}
    for title in form.locator(SECTION).all_inner_texts():
        if title == AIRFLOW_SECTION:
            continue
        for row in open_section(form, title).evaluate(READ_FIELDS):
            assert row["visible"] and row["param"], f"section {title!r} shows {row}"
            fields[row["param"]] = Field(row["title"], row["kind"], row["required"])
    return fields


def submit(page: Any, form: Any, dag_id: str) -> str:
    """Press the form's Trigger button; the run id, from the run's page the UI opens."""
    form.get_by_role("button", name="Trigger").click()
    page.wait_for_url(re.compile(rf"/dags/{dag_id}/runs/[^/]+$"))
    return unquote(page.url.rsplit("/", 1)[1])


def wait_for(condition: Callable[[], Any], what: str, timeout: float) -> Any:
    """``condition()`` once it is truthy; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(1)
    pytest.fail(f"gave up waiting for {what} after {timeout:.0f} s")


def ended_run(airflow_api: requests.Session, airflow_url: str, dag_id: str, run_id: str, timeout: float) -> dict:
    """The run, once it ended (success or failed), as the REST API shows it."""

    def ended() -> dict | None:
        run = airflow_api.get(f"{airflow_url}/api/v2/dags/{dag_id}/dagRuns/{run_id}", timeout=30).json()
        return run if run.get("state") in ("success", "failed") else None

    return wait_for(ended, f"{dag_id} run {run_id} to end", timeout)


def return_value(airflow_api: requests.Session, airflow_url: str, dag_id: str, run_id: str, task_id: str) -> Any:
    """What the run's task returned (its XCom), through the REST API."""
    url = f"{airflow_url}/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
    return airflow_api.get(f"{url}/xcomEntries/return_value", timeout=30).json()["value"]


def hop_group_states(page: Any, run_id: str) -> dict[str, str]:
    """Each hop group's state in the run's grid column, as its tooltip tells a person who points at it."""
    page.get_by_test_id(f"grid-{run_id}-hop_1").wait_for()
    names = page.locator("[data-testid^=task-hop_]").evaluate_all("rows => rows.map(row => row.dataset.taskId)")
    states = {}
    for name in names:
        page.get_by_test_id(f"grid-{run_id}-{name}").hover()
        tooltip = page.locator(
            "[data-scope=tooltip][data-part=content][data-state=open]", has_text=re.compile(rf"Task ID: {name}(?!\d)")
        )
        states[name] = re.search(r"State: (\w+)", tooltip.inner_text())[1]
        page.mouse.move(0, 0)
    return states


def demo_cluster_names() -> list[str]:
    """Every cluster of the demo fleet file."""
    fleet = yaml.safe_load(DEMO_FLEET.read_text())
    return [
        cluster["name"]
        for account in fleet["accounts"]
        for contents in account["regions"].values()
        for cluster in contents.get("clusters", [])
    ]


def test_a_plan_mode_upgrade_submitted_from_its_form_shows_unused_hops_skipped_and_its_summary_as_note(
    page, running_demo, airflow_api, submitted_runs
):
    run_id = submitted_runs.upgrade
    run = ended_run(airflow_api, running_demo.airflow_url, "eks_cluster_upgrade", run_id, timeout=300)
    assert run["state"] == "success", run
    assert run["conf"]["cluster_name"] == UPGRADE_CLUSTER and run["conf"]["dry_run"] is True

    planned = len(return_value(airflow_api, running_demo.airflow_url, "eks_cluster_upgrade", run_id, "plan")["hops"])
    assert planned >= 1

    page.goto(f"{running_demo.airflow_url}/dags/eks_cluster_upgrade/runs/{quote(run_id, safe='')}")
    hop_states = hop_group_states(page, run_id)
    assert len(hop_states) > planned, hop_states  # some hop group is not used
    assert hop_states == {
        f"hop_{number}": "Success" if number <= planned else "Skipped" for number in range(1, len(hop_states) + 1)
    }
    note = run["note"]
    assert UPGRADE_CLUSTER in note and UPGRADE_TARGET in note, note
    assert page.get_by_text(note, exact=True).is_visible()


def test_the_compliance_audit_submitted_from_its_form_writes_an_html_report_naming_every_demo_cluster(
    page, running_demo, airflow_api, submitted_runs
):
    run_id = submitted_runs.audit
    run = ended_run(airflow_api, running_demo.airflow_url, "eks_compliance_audit", run_id, timeout=300)
    assert run["state"] == "success", run
    assert run["conf"]["targets"] == AUDIT_TARGET_LINES
    report = return_value(airflow_api, running_demo.airflow_url, "eks_compliance_audit", run_id, "report")

    page.goto(report["report_html"])
    shown = page.locator("body").inner_text()
    assert [name for name in demo_cluster_names() if name not in shown] == []


@pytest.mark.parametrize("dag_id", list(FORMS))
def test_the_trigger_form_shows_every_field_a_person_needs_labelled_and_of_its_kind(page, running_demo, dag_id):
    form = open_trigger_form(page, running_demo.airflow_url, dag_id)

    assert fields_of(form) == FORMS[dag_id]

"""The public interfaces written in docs/interfaces.md hold against the code.

Clients (the UI, schedules, ticketing systems on the REST API) depend on DAG ids, Params, Variables,
connections, environment settings, report layouts, the ticketing payload and the claim tag. A test here fails
when the code has one the page does not document (or the page documents one the code no longer has), so that
each change to them is seen — and, when it is breaking, called out.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "interfaces.md"
SOURCES = sorted([*(REPO / "dags").glob("*.py"), *(REPO / "plugins").rglob("*.py")])
DAG_FILES = sorted((REPO / "dags").glob("*.py"))

_ROW_NAME = re.compile(r"^\|\s*`([^`]+)`")


def section(heading: str, text: str | None = None) -> str:
    """The text under ``heading`` (a ``## `` or ``### `` line) up to the next heading of the same or a higher level."""
    text = DOC.read_text() if text is None else text
    level = heading.split(" ", 1)[0]
    lines = text.splitlines()
    try:
        start = lines.index(heading)
    except ValueError:
        pytest.fail(f"docs/interfaces.md has no heading {heading!r}")
    body = []
    for line in lines[start + 1 :]:
        marker = line.split(" ", 1)[0]
        if set(marker) == {"#"} and len(marker) <= len(level):
            break
        body.append(line)
    return "\n".join(body)


def table_rows(text: str) -> dict[str, list[str]]:
    """Table rows whose first cell is one backticked name: name → the row's cells (after the name)."""
    rows = {}
    for line in text.splitlines():
        match = _ROW_NAME.match(line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in line.strip().strip("|").split("|")[1:]]
    return rows


def documented(heading: str) -> set[str]:
    return set(table_rows(section(heading)))


def _module_constants(tree: ast.Module) -> dict[str, str]:
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def variables_read() -> dict[str, str]:
    """Every Airflow Variable name the runbooks read (``Variable.get(NAME, ...)``) → the file reading it."""
    found = {}
    for path in SOURCES:
        source = path.read_text()
        if "Variable.get" not in source:
            continue
        tree = ast.parse(source)
        constants = _module_constants(tree)
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "Variable"
            ):
                continue
            key = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "key"), None)
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                name = key.value
            elif isinstance(key, ast.Name) and key.id in constants:
                name = constants[key.id]
            else:
                pytest.fail(
                    f"{path.relative_to(REPO)}:{node.lineno}: Variable.get with a name that is neither a string "
                    "nor a module constant; name the Variable so that it can be documented"
                )
            found[name] = str(path.relative_to(REPO))
    return found


def connections_named() -> dict[str, str]:
    """Connection ids the runbooks name in code → the file: ``*conn_id`` arguments, defaults and constants."""
    found = {}
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        literals = []
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg and node.arg.endswith("conn_id"):
                literals.append(node.value)
            elif isinstance(node, ast.arguments):
                positional = [*node.posonlyargs, *node.args]
                pairs = list(zip(positional[len(positional) - len(node.defaults) :], node.defaults, strict=True))
                pairs += [(arg, default) for arg, default in zip(node.kwonlyargs, node.kw_defaults, strict=True)]
                literals += [default for arg, default in pairs if default is not None and arg.arg.endswith("conn_id")]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr == "get_connection" and node.args:
                    literals.append(node.args[0])
            elif isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id.endswith("CONN_ID") for target in node.targets
            ):
                literals.append(node.value)
        for literal in literals:
            if isinstance(literal, ast.Constant) and isinstance(literal.value, str) and "{" not in literal.value:
                found[literal.value] = str(path.relative_to(REPO))
    return found


@pytest.fixture(scope="module")
def dag_bag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag


def test_the_documented_dags_are_the_dags_in_dags_folder(dag_bag):
    assert documented("## DAGs") == set(dag_bag.dag_ids) == {path.stem for path in DAG_FILES}


def test_each_dag_schedule_is_the_documented_one(dag_bag):
    for dag_id, cells in table_rows(section("## DAGs")).items():
        schedule = dag_bag.get_dag(dag_id).schedule
        written = re.match(r"`([^`]+)`", cells[0])
        assert (written.group(1) if written else None) == schedule, f"{dag_id}: schedule {schedule!r}, doc {cells[0]}"


def test_each_dag_has_exactly_the_documented_params(dag_bag):
    params = section("## Params")
    for dag_id in dag_bag.dag_ids:
        names = documented(f"### `{dag_id}`") if f"### `{dag_id}`" in params else set()
        assert names == set(dag_bag.get_dag(dag_id).params), (
            f"{dag_id}: Params in the DAG and in docs/interfaces.md differ"
        )


def test_each_param_default_is_the_documented_one(dag_bag):
    for dag_id in dag_bag.dag_ids:
        dag_params = dag_bag.get_dag(dag_id).params
        for name, cells in table_rows(section(f"### `{dag_id}`")).items():
            written = re.fullmatch(r"`(.*)`", cells[1])
            assert written, f"{dag_id}.{name}: the default column must be one backticked JSON value"
            assert json.loads(written.group(1)) == dag_params.get_param(name).value, f"{dag_id}.{name}: default"


def test_every_variable_the_runbooks_read_is_documented_and_every_documented_one_is_read():
    read = variables_read()
    assert "eks_reports_base" in read, "the scan no longer finds Variable.get(REPORTS_BASE_VARIABLE, ...)"
    undocumented = {name: where for name, where in read.items() if name not in documented("## Airflow Variables")}
    assert undocumented == {}, "document these Variables in docs/interfaces.md"
    assert documented("## Airflow Variables") - set(read) == set(), "documented Variables that no code reads"


def test_every_connection_named_in_code_is_documented():
    named = connections_named()
    assert {"aws_default", "ticketing_default", "airflow_api"} <= set(named)
    undocumented = {name: where for name, where in named.items() if name not in documented("## Airflow connections")}
    assert undocumented == {}, "document these connections in docs/interfaces.md"


def test_every_environment_setting_is_documented():
    settings = {
        name: str(path.relative_to(REPO))
        for path in SOURCES
        for name in re.findall(r"\bEKS_RUNBOOKS_[A-Z0-9_]+\b", path.read_text())
    }
    assert settings, "the scan found no EKS_RUNBOOKS_* setting"
    assert set(settings) == documented("## Environment settings")


def test_the_ticketing_payload_has_the_documented_keys():
    from eks_runbooks.notifiers.ticketing import TicketingNotifier

    dag_run = SimpleNamespace(dag_id="eks_cluster_upgrade", run_id="ticket__CHG-1", state="success", note=None)
    context = {"dag_run": dag_run, "run_id": "ticket__CHG-1", "params": {}}
    notifier = TicketingNotifier(report_url=lambda _: "file:///reports/report.md", summary=lambda _: "done")
    payload = notifier.ticket_payload("CHG-1", context)
    assert set(payload) == documented("## Ticketing callback")
    assert payload["state"] == "success" and payload["report_url"] == "file:///reports/report.md"


def test_the_claim_tag_is_the_documented_one():
    from eks_runbooks.runs.claims import CLAIM_TAG, claim_holder

    text = section("## Cluster claim tag")
    assert f"`{CLAIM_TAG}`" in text
    assert claim_holder("eks_cluster_upgrade", "run") == "eks_cluster_upgrade/run"


def test_report_locations_are_the_documented_ones():
    from eks_runbooks.runs.reports import LATEST_FOLDER, REPORTS_BASE_VARIABLE, ReportLocation

    text = section("## Reports")
    assert f"`<{REPORTS_BASE_VARIABLE}>/<dag id>/<run id>/<file>`" in text
    assert f"/{LATEST_FOLDER}/`" in text
    assert ReportLocation("file:///r", "eks_compliance_audit", "manual__2026-11-21T10:00:00+00:00").url(
        "report.json"
    ) == ("file:///r/eks_compliance_audit/manual__2026-11-21T10_00_00_00_00/report.json")


def _upgrade_report() -> dict:
    from eks_runbooks.tasks.upgrade import report_files, run_report_document

    document = run_report_document(
        "ticket__CHG-1",
        "2026-01-20T10:00:00+00:00",
        request={"cluster_name": "payments"},
        plan=None,
        hops=[],
        failures=[],
        rejected_by=None,
    )
    return json.loads(report_files(document)["report.json"])


def _audit_report(previous: dict | None) -> dict:
    from eks_runbooks.core.audit.report import audit_document

    cluster = {
        "cluster": "payments",
        "region": "us-east-1",
        "account": "111122223333",
        "version": "1.32",
        "checks": [{"id": "EKS-TAGS", "status": "FAIL", "severity": "LOW", "detail": "missing owner"}],
    }
    return audit_document("scheduled__2026-01-20", "2026-01-20T02:00:00+00:00", [cluster], previous)


def test_every_report_json_carries_schema_version_1():
    upgrade, audit = _upgrade_report(), _audit_report(None)
    assert upgrade["schema_version"] == audit["schema_version"] == 1
    assert next(iter(upgrade)) == next(iter(audit)) == "schema_version"
    assert table_rows(section("### `report.json`"))["schema_version"] == ["both", "the layout version, the integer `1`"]


def test_report_keys_are_documented():
    keys = table_rows(section("### `report.json`"))
    upgrade, audit = set(_upgrade_report()), {*_audit_report(None), "unreachable_targets", "notifications"}
    assert upgrade | audit == set(keys)
    assert {name for name, cells in keys.items() if cells[0] in ("upgrade", "both")} == upgrade
    assert {name for name, cells in keys.items() if cells[0] in ("audit", "both")} == audit


def test_the_audit_trend_reads_a_previous_report_written_before_schema_version():
    previous = {key: value for key, value in _audit_report(None).items() if key != "schema_version"}
    previous["run_id"] = "scheduled__2026-01-19"
    previous["clusters"][0]["checks"][0]["status"] = "PASS"

    trend = _audit_report(json.loads(json.dumps(previous)))["trend"]

    assert trend["previous_run_id"] == "scheduled__2026-01-19"
    assert [failure["check"] for failure in trend["new_failures"]] == ["EKS-TAGS"]

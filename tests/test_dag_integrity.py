"""Every DAG file imports cleanly, is a complete runbook, and parses fast.

Parse time matters because the DAG processor re-parses every file every few minutes in a freshly forked
child: it is measured in a separate interpreter that has done ``import airflow`` (which, through
``airflow_local_settings``, warms the runbook library exactly as the DAG processor's parent does).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import REPORTED_FIGURES, dag_parse_times

REPO = Path(__file__).resolve().parents[1]
DAG_FILES = sorted((REPO / "dags").glob("*.py"))
PARSE_BUDGET_MS = 50.0


@pytest.fixture(scope="module")
def dag_bag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(REPO / "dags"))


def test_every_dag_file_imports_without_errors(dag_bag):
    assert DAG_FILES, "dags/ holds no DAG files"
    assert dag_bag.import_errors == {}
    assert {Path(dag.fileloc).name for dag in dag_bag.dags.values()} == {path.name for path in DAG_FILES}


def test_every_dag_is_a_complete_runbook(dag_bag):
    from eks_runbooks.runs.policies import runbook_dag_problems

    problems = {dag_id: runbook_dag_problems(dag) for dag_id, dag in dag_bag.dags.items()}
    assert {dag_id: found for dag_id, found in problems.items() if found} == {}


def test_dag_policy_refuses_an_undocumented_dag(airflow_db, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "bare.py").write_text(
        "from airflow.sdk import DAG\nfrom airflow.providers.standard.operators.empty import EmptyOperator\n"
        "with DAG('bare', schedule=None):\n    EmptyOperator(task_id='noop')\n"
    )
    errors = DagBag(str(tmp_path)).import_errors
    assert len(errors) == 1
    message = next(iter(errors.values()))
    assert "not a complete runbook" in message and "no doc_md" in message and "no tags" in message
    assert "no retries policy" in message and "task noop has no owner" in message


def test_dag_policy_accepts_a_documented_owned_dag_with_an_explicit_retries_policy(airflow_db, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "complete.py").write_text(
        "from airflow.sdk import DAG\nfrom airflow.providers.standard.operators.empty import EmptyOperator\n"
        "with DAG('complete', schedule=None, doc_md='Does one thing.', tags=['eks'],\n"
        "         default_args={'owner': 'platform', 'retries': 0}):\n    EmptyOperator(task_id='noop')\n"
    )
    bag = DagBag(str(tmp_path))
    assert bag.import_errors == {} and list(bag.dag_ids) == ["complete"]


def test_each_dag_file_parses_within_budget_beyond_import_airflow():
    timings = dag_parse_times(DAG_FILES, os.environ.copy())
    REPORTED_FIGURES.append(
        ("DAG parse time beyond `import airflow`", [f"{name}: {ms:.1f} ms" for name, ms in timings.items()])
    )
    assert {name: ms for name, ms in timings.items() if ms > PARSE_BUDGET_MS} == {}


def test_airflow_plugin_manager_finds_no_broken_plugin_in_the_library():
    from airflow import plugins_manager

    plugins, import_errors = plugins_manager._get_plugins()
    assert import_errors == {}
    assert not [plugin for plugin in plugins if "eks_runbooks" in str(getattr(plugin, "source", ""))]


def test_the_compliance_audit_runs_nightly_at_two_utc_without_catchup_and_with_defaults_for_every_param(dag_bag):
    audit = dag_bag.get_dag("eks_compliance_audit")
    assert audit.timetable.expression == "0 2 * * *" and str(audit.timetable.timezone) == "UTC"
    assert audit.catchup is False
    assert {name: param.value for name, param in audit.params.items()} == {
        "aws_conn_id": None,
        "regions": None,
        "cluster_names": None,
        "checks": None,
        "report_aws_conn_id": "aws_default",
        "targets": None,
    }


def test_every_upgrade_param_has_a_title_and_a_section_for_the_trigger_form(dag_bag):
    upgrade = dag_bag.get_dag("eks_cluster_upgrade")
    untitled = {name for name, param in upgrade.params.items() if not param.schema.get("title")}
    unsectioned = {name for name, param in upgrade.params.items() if not param.schema.get("section")}
    assert (untitled, unsectioned) == (set(), set())
    from eks_runbooks.core.upgrade.request import UpgradeRequest

    assert set(upgrade.params) == set(UpgradeRequest.__dataclass_fields__)

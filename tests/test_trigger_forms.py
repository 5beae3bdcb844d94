"""Every runbook's trigger form: an optional field is not marked required, and targets are fields a person fills.

Airflow's form marks a field required unless its JSON schema type allows null (airflow/ui: a Param whose
``type`` is not a list containing "null" shows "required" once emptied). A Param is optional when its default is
empty and valid: the run may leave it as it is.
"""

from __future__ import annotations

import jsonschema
import pytest

from tests.helpers import REPO

EMPTY = (None, "", [], {})


@pytest.fixture
def dag_bag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag


def optional_params(dag) -> dict[str, dict]:
    optional = {}
    for name, param in dag.params.items():
        value = dag.params.get_param(name).value
        if value in EMPTY and jsonschema.Draft202012Validator(param.schema).is_valid(value):
            optional[name] = param.schema
    return optional


def test_no_optional_field_of_any_runbook_is_marked_required(dag_bag):
    marked_required = {
        f"{dag_id}.{name}"
        for dag_id, dag in dag_bag.dags.items()
        for name, schema in optional_params(dag).items()
        if not jsonschema.Draft202012Validator(schema).is_valid(None)
    }
    assert marked_required == set()


def test_the_audit_form_asks_for_a_connection_and_regions_not_json(dag_bag):
    params = dag_bag.get_dag("eks_compliance_audit").params
    connection, regions = params.get_param("aws_conn_id").schema, params.get_param("regions").schema
    assert connection["type"] == ["null", "string"]
    assert regions["type"] == ["null", "array"] and regions["items"]["type"] == "string"


@pytest.mark.parametrize("dag_id", ["eks_compliance_audit", "eks_cost_audit"])
def test_an_audits_several_accounts_are_lines_in_the_form_and_objects_through_rest(dag_bag, dag_id):
    targets = dag_bag.get_dag(dag_id).params.get_param("targets").schema
    validator = jsonschema.Draft202012Validator(targets)

    assert "type" not in targets["items"]  # Airflow's form shows an array of untyped items as one per line
    assert validator.is_valid(["aws_default: us-east-1, us-west-2", "aws_ml_platform: eu-west-1"])
    assert validator.is_valid([{"aws_conn_id": "aws_ml_platform", "regions": ["eu-west-1"]}])
    assert not validator.is_valid(["aws_default us-east-1"])

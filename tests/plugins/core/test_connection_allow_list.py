"""Which AWS connections a run may name (``eks_runbook_connections``, else aws_default and eks_fleet's)."""

from __future__ import annotations

import json

import pytest

from eks_runbooks.core.connections import ConnectionNotAllowed, connection_allow_list

FLEET = json.dumps([{"aws_conn_id": "aws_ml_platform", "regions": ["eu-west-1"]}, {"regions": ["us-east-1"]}])


def refusal(allow_list, *conn_ids: str) -> str:
    with pytest.raises(ConnectionNotAllowed) as refused:
        allow_list.refuse_unlisted(conn_ids)
    return str(refused.value)


def test_with_neither_variable_set_only_aws_default_may_be_named():
    allow_list = connection_allow_list(None, None)
    allow_list.refuse_unlisted(["aws_default"])
    message = refusal(allow_list, "aws_prod_admin")
    assert "aws_prod_admin" in message and "eks_runbook_connections is unset" in message
    assert "aws_default" in message and "Nothing was called in AWS" in message


def test_while_the_list_is_unset_the_fleets_connections_are_allowed_too():
    allow_list = connection_allow_list(None, FLEET)
    allow_list.refuse_unlisted(["aws_default", "aws_ml_platform"])
    assert allow_list.allowed == ("aws_default", "aws_ml_platform")
    assert "aws_prod_admin" in refusal(allow_list, "aws_ml_platform", "aws_prod_admin")


def test_a_set_list_is_the_whole_rule_even_for_aws_default_and_the_fleet():
    allow_list = connection_allow_list(json.dumps(["aws_audit"]), FLEET)
    allow_list.refuse_unlisted(["aws_audit"])
    message = refusal(allow_list, "aws_default", "aws_ml_platform")
    assert "aws_default, aws_ml_platform" in message
    assert "Variable eks_runbook_connections allows only: aws_audit" in message


@pytest.mark.parametrize("listed", ['"aws_default"', "[aws_default]", '["a b"]', "{}"])
def test_a_malformed_list_refuses_every_run_rather_than_opening_up(listed):
    with pytest.raises(ConnectionNotAllowed, match="eks_runbook_connections must be a JSON list"):
        connection_allow_list(listed, FLEET)


def test_a_malformed_fleet_variable_adds_nothing():
    assert connection_allow_list(None, "not json").allowed == ("aws_default",)

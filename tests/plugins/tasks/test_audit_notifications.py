"""New HIGH/CRITICAL audit failures reach people: SNS when configured, else the ticketing connection."""

from __future__ import annotations

import json

import boto3

from eks_runbooks.tasks.audit import notify_new_failures
from tests.helpers import ticketing_system

ALERTS_ROLE = "arn:aws:iam::123456789012:role/eks-alerts"


def sandbox_url() -> str:
    import os

    return os.environ["AWS_ENDPOINT_URL"]


FAILURES = [
    {"account": "1", "region": "us-east-1", "cluster": "edge-dev", "check": "EKS-ENDPOINT-PUBLIC", "severity": "HIGH"}
]


def test_new_failures_are_published_to_the_sns_topic(sandbox, airflow_db, monkeypatch):
    sns, sqs = boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
    topic = sns.create_topic(Name="eks-audit")["TopicArn"]
    queue = sqs.create_queue(QueueName="platform-oncall")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("AIRFLOW_VAR_EKS_COMPLIANCE_SNS_TOPIC", topic)

    (record,) = notify_new_failures(FAILURES, "file:///reports/report.html")
    assert record["status"] == "sent" and topic in record["channel"]
    (delivered,) = sqs.receive_message(QueueUrl=queue)["Messages"]
    message = json.loads(json.loads(delivered["Body"])["Message"])
    assert message == {
        "runbook": "eks_compliance_audit",
        "new_failures": FAILURES,
        "report_url": "file:///reports/report.html",
    }


def test_without_a_topic_the_ticketing_connection_gets_them(airflow_db, monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_EKS_COMPLIANCE_SNS_TOPIC", raising=False)
    with ticketing_system() as (url, received):
        monkeypatch.setenv("AIRFLOW_CONN_TICKETING_DEFAULT", url)
        assert notify_new_failures(FAILURES, "file:///r.html") == [
            {"channel": "ticketing_default", "status": "sent", "reason": ""}
        ]
    assert received == [{"runbook": "eks_compliance_audit", "new_failures": FAILURES, "report_url": "file:///r.html"}]


def test_nothing_new_means_no_message_and_a_broken_channel_is_recorded_with_its_reason(airflow_db, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_VAR_EKS_COMPLIANCE_SNS_TOPIC", "arn:aws:sns:us-east-1:123456789012:missing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    assert notify_new_failures([], "file:///r.html") == []
    (record,) = notify_new_failures(FAILURES, "file:///r.html")
    assert record["status"] == "failed" and "EndpointConnectionError" in record["reason"]
    assert "arn:aws:sns:us-east-1:123456789012:missing" in record["channel"]
    assert "NOT sent" in caplog.text and "EndpointConnectionError" in caplog.text


def test_a_ticketing_system_that_answers_an_error_is_a_lost_alert_not_a_sent_one(airflow_db, monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_EKS_COMPLIANCE_SNS_TOPIC", raising=False)
    with ticketing_system(status=503, answer=b"maintenance") as (url, _):
        monkeypatch.setenv("AIRFLOW_CONN_TICKETING_DEFAULT", url)
        (record,) = notify_new_failures(FAILURES, "file:///r.html")
    assert record == {"channel": "ticketing_default", "status": "failed", "reason": "HTTP 503: maintenance"}


def test_sns_publishes_with_the_connection_it_is_given(sandbox, airflow_db, monkeypatch):
    from tests.helpers import aws_connection_uri

    sns = boto3.client("sns", region_name="us-east-1")
    topic = sns.create_topic(Name="eks-audit")["TopicArn"]
    monkeypatch.setenv("AIRFLOW_VAR_EKS_COMPLIANCE_SNS_TOPIC", topic)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_ALERTS", aws_connection_uri(sandbox_url(), role_arn=ALERTS_ROLE))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", "aws://broken:broken@/?endpoint_url=http%3A%2F%2F127.0.0.1%3A9")

    (record,) = notify_new_failures(FAILURES, "file:///r.html", aws_conn_id="aws_alerts")
    assert record["status"] == "sent", record
    assert record["channel"] == f"sns:{topic} (connection aws_alerts)"

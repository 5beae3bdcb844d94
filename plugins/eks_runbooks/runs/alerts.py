"""Telling someone about what a nightly audit found: an SNS topic when one is configured, else the
``ticketing_default`` HTTP connection. A lost alert never fails the run: what happened is returned for the report."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def send_alert(
    topic: str | None, message: Mapping[str, Any], subject: str, *, aws_conn_id: str = "aws_default"
) -> dict[str, str]:
    """Publish ``message`` to the SNS ``topic`` (through ``aws_conn_id``) when there is one, else POST it to
    ``ticketing_default``. Returns ``{"channel", "status": "sent" | "failed" | "not configured", "reason"}``;
    never raises."""
    try:
        record = _publish_to_sns(topic, message, subject, aws_conn_id) if topic else _post_to_ticketing(message)
    except Exception as error:  # a notification never fails the run, but its loss must be visible
        channel = f"sns:{topic} (connection {aws_conn_id})" if topic else "ticketing_default"
        record = {"channel": channel, "status": "failed", "reason": f"{type(error).__name__}: {str(error)[:300]}"}
    if record["status"] == "sent":
        log.info("Told %s: %s", record["channel"], subject)
    else:
        log.warning(
            "NOT sent to %s (%s): %s — %s. It is in the report.",
            record["channel"],
            record["status"],
            record["reason"],
            subject,
        )
    return record


def _publish_to_sns(topic: str, message: Mapping[str, Any], subject: str, aws_conn_id: str) -> dict[str, str]:
    from airflow.providers.amazon.aws.hooks.sns import SnsHook

    SnsHook(aws_conn_id=aws_conn_id, region_name=_topic_region(topic)).publish_to_target(
        target_arn=topic, message=json.dumps(message, default=str), subject=subject[:100]
    )
    return {"channel": f"sns:{topic} (connection {aws_conn_id})", "status": "sent", "reason": ""}


def _post_to_ticketing(message: Mapping[str, Any]) -> dict[str, str]:
    from airflow.providers.http.hooks.http import HttpHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        HttpHook.get_connection("ticketing_default")
    except AirflowNotFoundException:
        return {
            "channel": "none",
            "status": "not configured",
            "reason": "no SNS topic Variable and no ticketing_default connection",
        }
    response = HttpHook(method="POST", http_conn_id="ticketing_default").run(
        endpoint="/", json=dict(message), extra_options={"timeout": 10, "check_response": False}
    )
    if response.status_code >= 400:
        return {
            "channel": "ticketing_default",
            "status": "failed",
            "reason": f"HTTP {response.status_code}: {response.text[:300]}",
        }
    return {"channel": "ticketing_default", "status": "sent", "reason": ""}


def _topic_region(topic_arn: str) -> str | None:
    match = re.match(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):", topic_arn)
    return match.group(1) if match else None

"""What the bootstrap's tasks and step operators read from the run: its request (form or named definition), what
the pre-flight resolved, and what earlier steps made."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException

from eks_runbooks.core.bootstrap.request import BootstrapRequest, InvalidBootstrapRequest, parse_bootstrap_request
from eks_runbooks.runs.connections import refuse_unlisted_connections

if TYPE_CHECKING:
    from airflow.sdk import Context

    from eks_runbooks.core.bootstrap.calls import Resolved

PREFLIGHT_TASK_ID = "preflight"
IDENTITY_TASK_ID = "identity"
#: The Airflow Variable where a team may keep cluster definitions as JSON ({"<name>": {cluster fields}}), beside
#: the YAML files under include/clusters/; a name in both is refused.
DEFINITIONS_VARIABLE = "eks_cluster_definitions"


class BootstrapRequestRejected(AirflowFailException):
    """The run's conf is malformed (not retried: the same conf fails the same way)."""


def cluster_definitions() -> dict[str, dict[str, Any]]:
    """Every named cluster definition: include/clusters/*.yaml and the Variable ``eks_cluster_definitions``."""
    from airflow.sdk import Variable

    from eks_runbooks.core.bootstrap.definitions import load_cluster_definitions
    from eks_runbooks.core.include import include_path

    files = load_cluster_definitions(include_path("clusters"))
    variable = Variable.get(DEFINITIONS_VARIABLE, default={}, deserialize_json=True)
    if not isinstance(variable, dict) or not all(isinstance(v, dict) for v in variable.values()):
        raise BootstrapRequestRejected(
            f'Variable {DEFINITIONS_VARIABLE} must be a JSON object {{"<name>": {{cluster fields}}}}; fix it and re-run'
        )
    if twice := sorted(set(files) & set(variable)):
        raise BootstrapRequestRejected(
            f"Cluster definition(s) {', '.join(twice)} exist both in include/clusters/ and in Variable "
            f"{DEFINITIONS_VARIABLE}; keep one"
        )
    return {**files, **variable}


def bootstrap_request_of(context: Context) -> BootstrapRequest:
    """The run's validated request, naming a connection runs may use (``runs.connections``)."""
    conf = dict(context["params"])
    try:
        request = parse_bootstrap_request(conf, cluster_definitions() if conf.get("definition") else None)
    except InvalidBootstrapRequest as error:
        raise BootstrapRequestRejected(
            f"{error}. Fix the run's conf (or the trigger form) and start a new run; nothing was changed."
        ) from None
    refuse_unlisted_connections([request.aws_conn_id], what=f"bootstrap of {request.cluster_name}: aws_conn_id")
    return request


def resolved_of(context: Context) -> Resolved:
    """What the pre-flight resolved, with the KMS key the identity step made (if it made one)."""
    from eks_runbooks.core.bootstrap.calls import Resolved, with_kms_key

    ti = context["ti"]
    preflight = ti.xcom_pull(task_ids=PREFLIGHT_TASK_ID) or {}
    if "resolved" not in preflight:
        raise AirflowFailException("The pre-flight left no resolved plan (XCom of task preflight); clear it first")
    resolved = Resolved(**preflight["resolved"])
    made = (ti.xcom_pull(task_ids=IDENTITY_TASK_ID) or {}).get("kms_key_arn")
    return with_kms_key(resolved, made) if made and not resolved.kms_key_arn else resolved

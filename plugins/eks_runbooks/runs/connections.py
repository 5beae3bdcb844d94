"""Refuse a run that names an AWS connection it may not use, before any AWS call (``core.connections`` decides).

Variables: ``eks_runbook_connections`` — a JSON list of the connection ids runs may name; unset: ``aws_default``
and the connections of ``eks_fleet``.
"""

from __future__ import annotations

from collections.abc import Iterable

from airflow.providers.common.compat.sdk import AirflowFailException

from eks_runbooks.core.connections import ConnectionAllowList, ConnectionNotAllowed, connection_allow_list


class ConnectionRefused(AirflowFailException):
    """The run names a connection runs may not use (not retried: the same conf is refused the same way)."""


def allowed_connections() -> ConnectionAllowList:
    """The allow-list as the Variables say now."""
    from airflow.sdk import Variable

    return connection_allow_list(
        Variable.get("eks_runbook_connections", default=None), Variable.get("eks_fleet", default=None)
    )


def refuse_unlisted_connections(conn_ids: Iterable[str], *, what: str = "aws_conn_id") -> None:
    """Fail the task (ConnectionRefused) when ``conn_ids`` names a connection the allow-list does not hold."""
    try:
        allowed_connections().refuse_unlisted(conn_ids, what=what)
    except ConnectionNotAllowed as error:
        raise ConnectionRefused(str(error)) from None

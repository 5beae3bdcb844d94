"""Which Airflow AWS connections a run may name: the rule, as plain data in and a decision out.

A run's ``aws_conn_id`` picks the identity every AWS call of the run is made with. Anyone who may trigger a
runbook may type any connection id into its form or REST conf, so without a list an engineer allowed to audit
a sandbox account could point the upgrade at the production account's admin role. The list is the Airflow
Variable ``eks_runbook_connections`` (a JSON list of connection ids). While it is unset, ``aws_default`` and
the connections the fleet Variable ``eks_fleet`` names are allowed: what the runbooks use without being told.

Reading the Variables is ``eks_runbooks.runs.connections``'s business; this module decides.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eks_runbooks.core.eks.names import CONNECTION_ID

ALLOWED_CONNECTIONS_VARIABLE = "eks_runbook_connections"
FLEET_VARIABLE = "eks_fleet"
DEFAULT_CONNECTION = "aws_default"


class ConnectionNotAllowed(ValueError):
    """A run names a connection the allow-list does not hold, or the allow-list itself is malformed."""


@dataclass(frozen=True)
class ConnectionAllowList:
    """The connections runs may name, and where that list came from (said in every refusal)."""

    allowed: tuple[str, ...]
    #: True when read from ``eks_runbook_connections``; False for the default (aws_default + eks_fleet's).
    from_variable: bool

    def refuse_unlisted(self, conn_ids: Iterable[str], *, what: str = "aws_conn_id") -> None:
        """Raise ConnectionNotAllowed naming every connection in ``conn_ids`` the list does not hold.

        :param what: how the run named them (``aws_conn_id``, ``targets``), for the message.
        """
        unlisted = [conn_id for conn_id in dict.fromkeys(conn_ids) if conn_id not in self.allowed]
        if not unlisted:
            return
        names = ", ".join(unlisted)
        if self.from_variable:
            where = f"Variable {ALLOWED_CONNECTIONS_VARIABLE} allows only: {', '.join(self.allowed) or 'none'}"
        else:
            where = (
                f"Variable {ALLOWED_CONNECTIONS_VARIABLE} is unset, so only {DEFAULT_CONNECTION} and the connections "
                f"of Variable {FLEET_VARIABLE} are allowed: {', '.join(self.allowed)}"
            )
        raise ConnectionNotAllowed(
            f"{what} names AWS connection(s) {names} that runs may not use ({where}). Use an allowed connection, "
            f"or ask an Airflow admin to add {names} to Variable {ALLOWED_CONNECTIONS_VARIABLE} "
            f'(a JSON list of connection ids, e.g. ["{DEFAULT_CONNECTION}"]). Nothing was called in AWS.'
        )


def connection_allow_list(listed: str | None, fleet: str | None) -> ConnectionAllowList:
    """The allow-list from the two Variables' text (None when a Variable is unset).

    A malformed ``eks_runbook_connections`` is refused rather than ignored: a typo in the list that guards
    production identities must not open it up. A malformed ``eks_fleet`` is the audit's to report; here it
    only contributes the connection ids it plainly names.
    """
    if listed is not None:
        ids = _json(listed)
        if not isinstance(ids, list) or not all(isinstance(item, str) and CONNECTION_ID.match(item) for item in ids):
            raise ConnectionNotAllowed(
                f"Variable {ALLOWED_CONNECTIONS_VARIABLE} must be a JSON list of Airflow connection ids, e.g. "
                f'["{DEFAULT_CONNECTION}", "aws_prod"], not {listed!r}; no run may name a connection until it is '
                "fixed."
            )
        return ConnectionAllowList(tuple(dict.fromkeys(ids)), from_variable=True)
    return ConnectionAllowList((DEFAULT_CONNECTION, *_fleet_connections(_json(fleet))), from_variable=False)


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _fleet_connections(fleet: Any | None) -> list[str]:
    """The connection ids ``eks_fleet`` targets name (a target without one uses aws_default)."""
    if not isinstance(fleet, list):
        return []
    named = [target.get("aws_conn_id", DEFAULT_CONNECTION) for target in fleet if isinstance(target, Mapping)]
    return [
        conn_id
        for conn_id in dict.fromkeys(named)
        if isinstance(conn_id, str) and CONNECTION_ID.match(conn_id) and conn_id != DEFAULT_CONNECTION
    ]

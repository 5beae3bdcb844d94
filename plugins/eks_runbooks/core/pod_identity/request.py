"""What a Pod Identity migration run was asked to do, validated before anything touches AWS (``core.requests``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eks_runbooks.core.eks.names import CLUSTER_NAME, CONNECTION_ID, NAMESPACE, REGION, SERVICE_ACCOUNT, TICKET_ID
from eks_runbooks.core.pod_identity.plan import Phase
from eks_runbooks.core.requests import (
    InvalidRequest,
    boolean_field,
    enum_field,
    list_field,
    parse_request_fields,
    pattern_field,
    whole_number_field,
)

MAX_WAVE_SIZE = 50


class InvalidMigrationRequest(InvalidRequest):
    what = "Pod Identity migration request"


@dataclass(frozen=True)
class MigrationRequest:
    cluster_name: str
    region: str = "us-east-1"
    aws_conn_id: str = "aws_default"
    namespaces: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()
    include_addons: bool = True
    phase: Phase = Phase.MIGRATE
    wave_size: int = 5
    dry_run: bool = True
    require_approval: bool = False
    ticket_id: str | None = None

    def in_scope(self, namespace: str, name: str) -> bool:
        """Whether the run's filters (namespaces, service_accounts) take in this service account."""
        if self.namespaces and namespace not in self.namespaces:
            return False
        return not self.service_accounts or f"{namespace}/{name}" in self.service_accounts

    def as_dict(self) -> dict[str, Any]:
        return {
            **{key: getattr(self, key) for key in self.__dataclass_fields__},
            "namespaces": list(self.namespaces),
            "service_accounts": list(self.service_accounts),
            "phase": self.phase.value,
        }


_KNOWN = frozenset(MigrationRequest.__dataclass_fields__)
_CHECKS = {
    "cluster_name": pattern_field(CLUSTER_NAME, "an EKS cluster name (letters, digits, '-', '_'; 1-100 characters)"),
    "region": pattern_field(REGION, "an AWS region such as us-east-1"),
    "aws_conn_id": pattern_field(CONNECTION_ID, "an Airflow connection id"),
    "namespaces": list_field(pattern_field(NAMESPACE, "a namespace name"), '["payments"]'),
    "service_accounts": list_field(
        pattern_field(SERVICE_ACCOUNT, "a service account as namespace/name"),
        '["payments/ledger"]',
    ),
    "include_addons": boolean_field,
    "phase": enum_field(Phase),
    "wave_size": whole_number_field(1, MAX_WAVE_SIZE),
    "dry_run": boolean_field,
    "require_approval": boolean_field,
    "ticket_id": pattern_field(TICKET_ID, "a ticket id (letters, digits, '-', '_', '.'; up to 64 characters)"),
}


def parse_migration_request(conf: Mapping[str, Any]) -> MigrationRequest:
    """A MigrationRequest from run conf/params, or InvalidMigrationRequest listing every problem by key."""
    values = parse_request_fields(
        conf, known=_KNOWN, required=("cluster_name",), checks=_CHECKS, error=InvalidMigrationRequest
    )
    return MigrationRequest(**values)

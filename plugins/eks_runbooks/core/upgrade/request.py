"""What an upgrade run was asked to do, validated before anything touches AWS (``core.requests``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from eks_runbooks.core.eks.names import CHECK_ID, CLUSTER_NAME, CONNECTION_ID, REGION, TICKET_ID
from eks_runbooks.core.eks.versions import minor_of
from eks_runbooks.core.requests import (
    InvalidRequest,
    boolean_field,
    enum_field,
    parse_request_fields,
    pattern_field,
    whole_number_field,
)
from eks_runbooks.core.upgrade.plan import AddonVersionPolicy
from eks_runbooks.core.upgrade.preflight import load_preflight_catalogue


class ResolveConflicts(StrEnum):
    """UpdateAddon's ``resolveConflicts``: what happens to a field the cluster's owner changed [BC UpdateAddon]."""

    PRESERVE = "PRESERVE"  # keep the owner's value
    OVERWRITE = "OVERWRITE"  # reset it to the EKS default
    NONE = "NONE"  # change nothing, and fail the update on a conflict


MAX_NODEGROUP_PARALLELISM = 10


class InvalidUpgradeRequest(InvalidRequest):
    """One or more inputs of an upgrade run are wrong; ``problems`` maps each key to what is wrong with it."""

    what = "upgrade request"


@dataclass(frozen=True)
class UpgradeRequest:
    cluster_name: str
    region: str
    target_version: str
    aws_conn_id: str = "aws_default"
    dry_run: bool = True
    ticket_id: str | None = None
    addon_conflicts: ResolveConflicts = ResolveConflicts.PRESERVE
    addon_version_policy: AddonVersionPolicy = AddonVersionPolicy.DEFAULT
    nodegroup_parallelism: int = 1
    force_node_drain: bool = False
    ignore_checks: tuple[str, ...] = ()
    require_approval: bool = False


_REQUIRED = ("cluster_name", "region", "target_version")
_KNOWN = frozenset(UpgradeRequest.__dataclass_fields__)


def parse_upgrade_request(conf: Mapping[str, Any]) -> UpgradeRequest:
    """An UpgradeRequest from run conf/params, or InvalidUpgradeRequest listing every problem by key."""
    values = parse_request_fields(conf, known=_KNOWN, required=_REQUIRED, checks=_CHECKS, error=InvalidUpgradeRequest)
    return UpgradeRequest(**values)


def _version(value: Any) -> str:
    try:
        minor_of(value)
    except (TypeError, ValueError):
        raise ValueError(f'{value!r} is not a Kubernetes version; give it as a string 1.NN, e.g. "1.32"') from None
    return value


#: The check id shown in examples (a test keeps it in the catalogue).
EXAMPLE_CHECK_ID = "K8S-PDB-BLOCKS-DRAIN"


def _check_ids(value: Any) -> tuple[str, ...]:
    """Ids of the pre-flight catalogue, checked here: an unknown one would otherwise only fail the first
    pre-flight, after the cluster is claimed."""
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) and CHECK_ID.match(item) for item in value):
        raise ValueError(f'{value!r} is not a list of check ids such as ["{EXAMPLE_CHECK_ID}"]')
    known = [spec.id for spec in load_preflight_catalogue()]
    unknown = [item for item in dict.fromkeys(value) if item not in known]
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)}: not in the pre-flight catalogue; valid ids "
            f"(include/checks/upgrade-preflight.yaml): {', '.join(known)}"
        )
    return tuple(dict.fromkeys(value))


_CHECKS = {
    "cluster_name": pattern_field(CLUSTER_NAME, "an EKS cluster name (letters, digits, '-', '_'; 1-100 characters)"),
    "region": pattern_field(REGION, "an AWS region such as us-east-1"),
    "target_version": _version,
    "aws_conn_id": pattern_field(CONNECTION_ID, "an Airflow connection id"),
    "dry_run": boolean_field,
    "ticket_id": pattern_field(TICKET_ID, "a ticket id (letters, digits, '-', '_', '.'; up to 64 characters)"),
    "addon_conflicts": enum_field(ResolveConflicts),
    "addon_version_policy": enum_field(AddonVersionPolicy),
    "nodegroup_parallelism": whole_number_field(1, MAX_NODEGROUP_PARALLELISM),
    "force_node_drain": boolean_field,
    "ignore_checks": _check_ids,
    "require_approval": boolean_field,
}

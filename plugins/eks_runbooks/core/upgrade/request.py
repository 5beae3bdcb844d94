"""What an upgrade run was asked to do, validated before anything touches AWS.

Runs start from the UI form, the REST API (a ticketing system) or a retry. Airflow's Params check types and
patterns, but accept unknown keys silently — and a typo such as ``dryrun: false`` silently falling back to
the default is exactly what must never happen on a production cluster. So every key is checked here, and every
problem is reported at once, naming the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, TypeVar

from eks_runbooks.core.eks.names import CHECK_ID, CLUSTER_NAME, CONNECTION_ID, REGION, TICKET_ID
from eks_runbooks.core.eks.versions import minor_of
from eks_runbooks.core.upgrade.plan import AddonVersionPolicy
from eks_runbooks.core.upgrade.preflight import load_preflight_catalogue


class ResolveConflicts(StrEnum):
    """UpdateAddon's ``resolveConflicts``: what happens to a field the cluster's owner changed [BC UpdateAddon]."""

    PRESERVE = "PRESERVE"  # keep the owner's value
    OVERWRITE = "OVERWRITE"  # reset it to the EKS default
    NONE = "NONE"  # change nothing, and fail the update on a conflict


MAX_NODEGROUP_PARALLELISM = 10
E = TypeVar("E", bound=Enum)


class InvalidUpgradeRequest(ValueError):
    """One or more inputs are wrong; ``problems`` maps each key to what is wrong with it."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        listed = "; ".join(f"{key}: {problem}" for key, problem in problems.items())
        super().__init__(f"Invalid upgrade request — {listed}")


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
    problems: dict[str, str] = {}
    for key in sorted(set(conf) - _KNOWN):
        problems[key] = f"unknown key (expected one of: {', '.join(sorted(_KNOWN))})"
    for key in _REQUIRED:
        if conf.get(key) in (None, ""):
            problems[key] = "required"
    values: dict[str, Any] = {}
    for key, check in _CHECKS.items():
        if key in conf and conf[key] is not None and key not in problems:
            try:
                values[key] = check(conf[key])
            except ValueError as error:
                problems[key] = str(error)
    if problems:
        raise InvalidUpgradeRequest(problems)
    return UpgradeRequest(**values)


def _pattern(regex: re.Pattern[str], what: str):
    def check(value: Any) -> str:
        if not isinstance(value, str) or not regex.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


def _version(value: Any) -> str:
    try:
        minor_of(value)
    except (TypeError, ValueError):
        raise ValueError(f'{value!r} is not a Kubernetes version; give it as a string 1.NN, e.g. "1.32"') from None
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


def _parallelism(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_NODEGROUP_PARALLELISM:
        raise ValueError(f"{value!r} is not a whole number from 1 to {MAX_NODEGROUP_PARALLELISM}")
    return value


def _enum(kind: type[E]) -> Callable[[Any], E]:
    def check(value: Any) -> E:
        try:
            return kind(value)
        except ValueError:
            raise ValueError(f"{value!r} is not one of {', '.join(member.value for member in kind)}") from None

    return check


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
    "cluster_name": _pattern(CLUSTER_NAME, "an EKS cluster name (letters, digits, '-', '_'; 1-100 characters)"),
    "region": _pattern(REGION, "an AWS region such as us-east-1"),
    "target_version": _version,
    "aws_conn_id": _pattern(CONNECTION_ID, "an Airflow connection id"),
    "dry_run": _boolean,
    "ticket_id": _pattern(TICKET_ID, "a ticket id (letters, digits, '-', '_', '.'; up to 64 characters)"),
    "addon_conflicts": _enum(ResolveConflicts),
    "addon_version_policy": _enum(AddonVersionPolicy),
    "nodegroup_parallelism": _parallelism,
    "force_node_drain": _boolean,
    "ignore_checks": _check_ids,
    "require_approval": _boolean,
}

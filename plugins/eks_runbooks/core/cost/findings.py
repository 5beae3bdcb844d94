"""The cost audit's findings: what could be saved on one cluster, in dollars a month, with the evidence.

The catalogue (include/checks/cost.yaml: id, title, severity, rationale, remediation, source) and one small
function per entry (eks_runbooks/core/cost/checks.py, ``@cost_check("ID")``), in the one check framework of
``eks_runbooks.core.catalogue``. A check sees a cluster's facts, its priced cost and its region's prices and answers
one ``Outcome`` per object it judges, each with the monthly saving it points at (None when a price is missing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from eks_runbooks.core.catalogue import (
    CheckRegistry,
    Outcome,
    Severity,
    Status,
    check_against_registry,
    load_catalogue_entries,
    noted,
)
from eks_runbooks.core.cost.costing import ClusterCost
from eks_runbooks.core.cost.facts import ClusterCostFacts
from eks_runbooks.core.cost.prices import RegionPrices
from eks_runbooks.core.cost.rules import CostRules, cost_rules
from eks_runbooks.core.include import include_path

#: Statuses a finding is listed with; PASS and SKIP are not findings.
LISTED = (Status.FAIL, Status.WARN, Status.INFO)


def _exempt_environments() -> tuple[str, ...]:
    return cost_rules().exempt_environments


def _environment_tag() -> str:
    return cost_rules().environment_tag


@dataclass(frozen=True)
class CostPolicy:
    """What the fleet's owners decide: the spot share stateless node groups should reach, and the clusters (by
    their environment tag) the spot finding leaves alone. Defaults from include/cost/rules.yaml."""

    spot_target_share: Decimal = Decimal("0.5")
    environment_tag: str = field(default_factory=_environment_tag)
    exempt_environments: tuple[str, ...] = field(default_factory=_exempt_environments)


@dataclass(frozen=True)
class CostInputs:
    """What every cost check is given."""

    facts: ClusterCostFacts
    cost: ClusterCost
    prices: RegionPrices
    policy: CostPolicy
    rules: CostRules


@dataclass(frozen=True)
class CostOutcome:
    """One thing a check found, and what acting on it would save a month (None when that cannot be priced)."""

    outcome: Outcome
    monthly_saving_usd: Decimal | None = None


CostCheck = Callable[[CostInputs], list[CostOutcome]]
#: check id → function; filled by the ``@cost_check`` decorators of eks_runbooks.core.cost.checks.
COST_CHECKS: CheckRegistry[CostCheck] = CheckRegistry("cost")
cost_check = COST_CHECKS.check


@dataclass(frozen=True)
class CostCheckSpec:
    """One entry of the cost catalogue."""

    id: str
    title: str
    severity: Severity
    rationale: str
    remediation: str
    source: str


@cache
def load_cost_catalogue(path: Path | None = None) -> tuple[CostCheckSpec, ...]:
    """The cost checks of include/checks/cost.yaml, each with its registered function."""
    import eks_runbooks.core.cost.checks  # noqa: F401  (registers the check functions)

    catalogue = tuple(
        CostCheckSpec(**entry) for entry in load_catalogue_entries(path or include_path("checks", "cost.yaml"))
    )
    check_against_registry((spec.id for spec in catalogue), COST_CHECKS)
    return catalogue


def cost_findings(
    facts: ClusterCostFacts, cost: ClusterCost, prices: RegionPrices, policy: CostPolicy | None = None
) -> list[dict[str, Any]]:
    """The cluster's findings (FAIL, WARN and INFO; PASS and SKIP are not listed), in catalogue order, each with
    its evidence, monthly saving and remediation — the ``findings`` of the cluster's cost result."""
    inputs = CostInputs(facts, cost, prices, policy or CostPolicy(), cost_rules())
    findings = []
    for spec in load_cost_catalogue():
        try:
            results = COST_CHECKS[spec.id](inputs)
        except Exception as error:  # a check that cannot run must say so, not pass silently
            results = [CostOutcome(noted(f"check could not run: {type(error).__name__}: {error}"))]
        findings.extend(_finding(spec, facts, result) for result in results if result.outcome.status in LISTED)
    return findings


def _finding(spec: CostCheckSpec, facts: ClusterCostFacts, result: CostOutcome) -> dict[str, Any]:
    outcome, saving = result.outcome, result.monthly_saving_usd
    return {
        "check_id": spec.id,
        "title": spec.title,
        "severity": str(spec.severity),
        "status": str(outcome.status),
        "cluster": facts.cluster,
        "region": facts.region,
        "account": facts.account,
        "aws_conn_id": facts.aws_conn_id,
        "object": outcome.objects[0] if outcome.objects else f"cluster/{facts.cluster}",
        "detail": outcome.detail,
        "monthly_saving_usd": str(saving) if saving is not None else None,
        "remediation": spec.remediation,
    }

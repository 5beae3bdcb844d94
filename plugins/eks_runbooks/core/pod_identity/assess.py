"""From what was read to what the run does: eligibility per service account, then the phase's plan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eks_runbooks.core.pod_identity.eligibility import EligibilityInputs, Scope, judge
from eks_runbooks.core.pod_identity.estate import ServiceAccountUse
from eks_runbooks.core.pod_identity.facts import load_pod_identity_facts
from eks_runbooks.core.pod_identity.plan import (
    Action,
    MigrationPlan,
    Phase,
    plan_cleanup,
    plan_migration,
    plan_role_cleanup,
    plan_rollback,
)


@dataclass
class MigrationFacts:
    """The cluster as the migration sees it (plain data)."""

    cluster: dict[str, Any]
    account_id: str
    oidc_provider_arn: str | None
    oidc_provider_exists: bool
    estate: list[ServiceAccountUse]
    associations: list[dict[str, Any]]
    fargate_profiles: list[dict[str, Any]]
    addons: list[dict[str, Any]]
    addon_pod_identity: dict[str, list[dict[str, Any]]]
    roles: dict[str, dict[str, Any] | None]
    nodes: list[dict[str, Any]]
    agent_pods: list[dict[str, Any]]
    #: every service account of the cluster still annotated, by role (cleanup keeps a role's OIDC trust then)
    annotated_by_role: dict[str, list[str]] = field(default_factory=dict)
    #: every pod of the cluster that uses IRSA, by the role its variables name
    irsa_pods_by_role: dict[str, list[str]] = field(default_factory=dict)

    @property
    def agent_installed(self) -> bool:
        return any(addon["addonName"] == load_pod_identity_facts().agent_addon for addon in self.addons)

    def association_of(self, namespace: str, name: str) -> dict[str, Any] | None:
        return next((a for a in self.associations if (a["namespace"], a["serviceAccount"]) == (namespace, name)), None)


def _inputs(facts: MigrationFacts, cluster_name: str, image_sdks: Mapping[str, str], **extra: Any) -> EligibilityInputs:
    return EligibilityInputs(
        cluster_name=cluster_name,
        cluster=facts.cluster,
        account_id=facts.account_id,
        associations=facts.associations,
        fargate_profiles=facts.fargate_profiles,
        image_sdks=image_sdks,
        addon_pod_identity=facts.addon_pod_identity,
        nodes=facts.nodes,
        agent_pods=facts.agent_pods,
        agent_installed=facts.agent_installed,
        **extra,
    )


def assess_migration(
    facts: MigrationFacts, cluster_name: str, phase: Phase, image_sdks: Mapping[str, str] | None = None
) -> MigrationPlan:
    """The run's plan: per service account in scope, its eligibility findings and the action the phase takes."""
    image_sdks = image_sdks or {}
    accounts = []
    for account in facts.estate:
        association = facts.association_of(account.namespace, account.name)
        if phase is Phase.MIGRATE:
            findings = judge(
                _inputs(
                    facts,
                    cluster_name,
                    image_sdks,
                    service_account=account,
                    role=facts.roles.get(account.role_arn or ""),
                ),
                Scope.SERVICE_ACCOUNT,
            )
            accounts.append(plan_migration(account, findings, association))
        elif phase is Phase.CLEANUP:
            accounts.append(plan_cleanup(account, association))
        else:
            accounts.append(plan_rollback(account, association))
    planned = sum(1 for account in accounts if account.action is Action.MIGRATE)
    cluster_findings = judge(_inputs(facts, cluster_name, image_sdks, planned_associations=planned), Scope.CLUSTER)
    blocking = [f.as_dict() for f in cluster_findings if f.blocks_run] if phase is Phase.MIGRATE else []
    roles = _role_cleanup(facts, accounts) if phase is Phase.CLEANUP else []
    return MigrationPlan(
        cluster_name=cluster_name,
        phase=phase,
        service_accounts=tuple(accounts),
        blocking=tuple(blocking),
        cluster_findings=tuple(f.as_dict() for f in cluster_findings),
        roles=tuple(roles),
        oidc_provider_removable=_provider_removable(facts, accounts) if phase is Phase.CLEANUP else False,
        install_agent=phase is Phase.MIGRATE and not facts.agent_installed and planned > 0,
    )


def _role_cleanup(facts: MigrationFacts, accounts: list[Any]) -> list[Any]:
    cleaned = {account.key for account in accounts if account.remove_annotation}
    roles = {account.role_arn for account in accounts if account.remove_annotation and account.role_arn}
    still_annotated = {
        role: [key for key in keys if key not in cleaned] for role, keys in facts.annotated_by_role.items()
    }
    return plan_role_cleanup(roles, still_annotated, facts.irsa_pods_by_role)


def _provider_removable(facts: MigrationFacts, accounts: list[Any]) -> bool:
    """Nothing of this cluster uses its IAM OIDC provider once the run is done (reported, never deleted)."""
    cleaned = {account.key for account in accounts if account.remove_annotation}
    annotated = [key for keys in facts.annotated_by_role.values() for key in keys if key not in cleaned]
    return facts.oidc_provider_exists and not annotated and not facts.irsa_pods_by_role


def agent_addon_name() -> str:
    return load_pod_identity_facts().agent_addon

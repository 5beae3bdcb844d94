"""What a run does to each service account, per phase: migrate, cleanup or rollback.

Decisions only; the steps (``tasks.pod_identity``) carry them out and re-read the cluster first, so a
re-run or a retried task does only what is left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from eks_runbooks.core.pod_identity.eligibility import EligibilityFinding
from eks_runbooks.core.pod_identity.estate import Credentials, PodView, ServiceAccountUse

#: Tag on the associations (and add-ons) this runbook moved: what rollback undoes, and only that.
MIGRATED_BY_TAG = "eks-runbooks/migrated-by"
RUNBOOK = "eks_pod_identity_migration"


class Phase(StrEnum):
    MIGRATE = "migrate"
    CLEANUP = "cleanup"
    ROLLBACK = "rollback"


class Action(StrEnum):
    MIGRATE = "migrate"  # trust the role for Pod Identity, associate, restart, verify
    RESTART = "restart"  # associated already; restart the workloads still on IRSA, verify
    DONE = "done"  # every pod already on Pod Identity
    STAYS_ON_IRSA = "stays on IRSA"  # not eligible: untouched, with the reasons
    CLEAN_UP = "clean up"  # remove the IRSA annotation (and the role's OIDC statement where unused)
    NOT_YET = "not yet"  # cleanup waits: pods still on IRSA, or never migrated
    ROLL_BACK = "roll back"  # restore IRSA, delete the association, restart, verify IRSA
    NOTHING = "nothing to do"


@dataclass(frozen=True)
class ServiceAccountPlan:
    namespace: str
    name: str
    role_arn: str | None
    action: Action
    reasons: tuple[str, ...] = ()
    addon: str | None = None
    workloads: tuple[str, ...] = ()  # refs of the workloads the run restarts
    association_id: str | None = None
    remove_annotation: bool = False
    findings: tuple[dict[str, Any], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "action": str(self.action), "key": self.key}


@dataclass(frozen=True)
class RolePlan:
    """Cleanup of one role: this cluster's OIDC statement removed, or kept with the reason."""

    role_arn: str
    remove_oidc_statement: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MigrationPlan:
    cluster_name: str
    phase: Phase
    service_accounts: tuple[ServiceAccountPlan, ...]
    blocking: tuple[dict[str, Any], ...] = ()  # cluster findings that stop the run
    cluster_findings: tuple[dict[str, Any], ...] = ()
    roles: tuple[RolePlan, ...] = ()
    oidc_provider_removable: bool = False
    install_agent: bool = False
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "cluster_name": self.cluster_name,
            "phase": str(self.phase),
            "service_accounts": [account.as_dict() for account in self.service_accounts],
            "blocking": list(self.blocking),
            "cluster_findings": list(self.cluster_findings),
            "roles": [role.as_dict() for role in self.roles],
            "oidc_provider_removable": self.oidc_provider_removable,
            "install_agent": self.install_agent,
            "notes": list(self.notes),
        }


def association_of(account: ServiceAccountUse, associations: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The cluster's association for the service account, if any (one per service account)."""
    return next(
        (a for a in associations if (a.get("namespace"), a.get("serviceAccount")) == (account.namespace, account.name)),
        None,
    )


def migrated_by_this_runbook(association: Mapping[str, Any] | None) -> bool:
    return bool(association) and (association.get("tags") or {}).get(MIGRATED_BY_TAG) == RUNBOOK


def _still_on_irsa(workload_pods: Iterable[PodView]) -> bool:
    return any(pod.credentials is not Credentials.POD_IDENTITY for pod in workload_pods)


def plan_migration(
    account: ServiceAccountUse, findings: Sequence[EligibilityFinding], association: Mapping[str, Any] | None
) -> ServiceAccountPlan:
    """What a migrate run does to one service account."""
    base = {
        "namespace": account.namespace,
        "name": account.name,
        "role_arn": account.role_arn,
        "addon": account.addon,
        "association_id": (association or {}).get("associationId"),
        "findings": tuple(finding.as_dict() for finding in findings),
    }
    keeping = [f"{finding.check_id}: {finding.detail}" for finding in findings if finding.keeps_on_irsa]
    if keeping:
        return ServiceAccountPlan(**base, action=Action.STAYS_ON_IRSA, reasons=tuple(keeping))
    if account.role_arn is None and association is None:
        return ServiceAccountPlan(**base, action=Action.NOTHING, reasons=("no IRSA annotation and no association",))
    to_restart = tuple(w.ref for w in account.workloads if w.restartable and _still_on_irsa(w.pods))
    if association is not None and not to_restart and not _still_on_irsa(account.pods):
        return ServiceAccountPlan(**base, action=Action.DONE, reasons=("every pod already uses Pod Identity",))
    action = Action.RESTART if association is not None else Action.MIGRATE
    return ServiceAccountPlan(**base, action=action, workloads=to_restart)


def plan_cleanup(account: ServiceAccountUse, association: Mapping[str, Any] | None) -> ServiceAccountPlan:
    """Cleanup of one service account: only once it is associated and none of its pods uses IRSA."""
    base = {
        "namespace": account.namespace,
        "name": account.name,
        "role_arn": account.role_arn,
        "addon": account.addon,
        "association_id": (association or {}).get("associationId"),
    }
    if association is None:
        return ServiceAccountPlan(**base, action=Action.NOT_YET, reasons=("not migrated: no Pod Identity association",))
    on_irsa = [pod.name for pod in account.pods if pod.credentials is Credentials.IRSA]
    if on_irsa:
        return ServiceAccountPlan(
            **base, action=Action.NOT_YET, reasons=(f"pods still on IRSA: {', '.join(sorted(on_irsa))}",)
        )
    if account.role_arn is None:
        return ServiceAccountPlan(**base, action=Action.DONE, reasons=("annotation already removed",))
    return ServiceAccountPlan(**base, action=Action.CLEAN_UP, remove_annotation=True)


def plan_rollback(account: ServiceAccountUse, association: Mapping[str, Any] | None) -> ServiceAccountPlan:
    """Rollback of one service account: only what this runbook migrated (its tag on the association)."""
    base = {
        "namespace": account.namespace,
        "name": account.name,
        "role_arn": account.role_arn or (association or {}).get("roleArn"),
        "addon": account.addon,
        "association_id": (association or {}).get("associationId"),
    }
    if not migrated_by_this_runbook(association):
        still = [
            w.ref
            for w in account.workloads
            if w.restartable and any(p.credentials is Credentials.POD_IDENTITY for p in w.pods)
        ]
        if association is None and still:
            # An earlier rollback deleted the association but stopped before every workload restarted.
            return ServiceAccountPlan(**base, action=Action.ROLL_BACK, workloads=tuple(still))
        return ServiceAccountPlan(**base, action=Action.NOTHING, reasons=("not migrated by this runbook",))
    workloads = tuple(w.ref for w in account.workloads if w.restartable)
    return ServiceAccountPlan(**base, action=Action.ROLL_BACK, workloads=workloads)


def plan_role_cleanup(
    roles: Iterable[str], annotated_elsewhere: Mapping[str, Sequence[str]], pods_on_irsa: Mapping[str, Sequence[str]]
) -> list[RolePlan]:
    """Per role whose service accounts this run cleans up: remove this cluster's OIDC statement only when no
    service account of the cluster keeps its annotation and no pod still uses it through IRSA.

    :param annotated_elsewhere: role → service accounts (``ns/name``) still annotated with it after the run.
    :param pods_on_irsa: role → pods of the cluster whose IRSA variables name it.
    """
    plans = []
    for role in sorted(set(roles)):
        users = list(annotated_elsewhere.get(role, ()))
        pods = list(pods_on_irsa.get(role, ()))
        if users:
            plans.append(RolePlan(role, False, f"still the IRSA role of {', '.join(sorted(users))}"))
        elif pods:
            plans.append(RolePlan(role, False, f"pods still use it through IRSA: {', '.join(sorted(pods))}"))
        else:
            plans.append(RolePlan(role, True, "no service account or pod of the cluster uses it through IRSA"))
    return plans

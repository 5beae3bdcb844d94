"""Which IRSA service accounts may move to Pod Identity, judged by include/checks/pod-identity-eligibility.yaml.

The catalogue decides what a FAIL means (``effect``): ``not_eligible`` keeps that service account on IRSA,
untouched; ``blocks_run`` stops the run before any change; ``report`` changes nothing. The functions
(``core.pod_identity.checks``) only say what they found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
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
)
from eks_runbooks.core.include import include_path
from eks_runbooks.core.pod_identity.estate import ServiceAccountUse


class Scope(StrEnum):
    CLUSTER = "cluster"
    SERVICE_ACCOUNT = "service_account"


class Effect(StrEnum):
    NOT_ELIGIBLE = "not_eligible"
    BLOCKS_RUN = "blocks_run"
    REPORT = "report"


@dataclass(frozen=True)
class EligibilitySpec:
    id: str
    title: str
    severity: Severity
    scope: Scope
    effect: Effect
    rationale: str
    remediation: str
    source: str


@dataclass(frozen=True)
class EligibilityInputs:
    """What eligibility looks at, as plain data.

    :param cluster: DescribeCluster ``cluster``.
    :param account_id: the cluster's account (from its ARN).
    :param service_account: the service account judged (None for cluster checks).
    :param role: GetRole ``Role`` of its IRSA role, ``AssumeRolePolicyDocument`` decoded; None when missing.
    :param associations: DescribePodIdentityAssociation ``association`` of every association of the cluster.
    :param fargate_profiles: DescribeFargateProfile ``fargateProfile`` of every profile.
    :param image_sdks: image reference → declared SDK ``<sdk>/<version>`` (the eks_pod_identity_image_sdks Variable).
    :param addon_pod_identity: add-on name → DescribeAddonConfiguration ``podIdentityConfiguration``.
    :param nodes: Kubernetes Nodes; ``agent_pods``: the eks-pod-identity-agent DaemonSet's pods.
    :param planned_associations: associations the run would create (the quota check).
    :param agent_installed: whether the eks-pod-identity-agent add-on is installed.
    """

    cluster_name: str
    cluster: Mapping[str, Any]
    account_id: str
    service_account: ServiceAccountUse | None = None
    role: Mapping[str, Any] | None = None
    associations: Sequence[Mapping[str, Any]] = ()
    fargate_profiles: Sequence[Mapping[str, Any]] = ()
    image_sdks: Mapping[str, str] | None = None
    addon_pod_identity: Mapping[str, Sequence[Mapping[str, Any]]] | None = None
    nodes: Sequence[Mapping[str, Any]] = ()
    agent_pods: Sequence[Mapping[str, Any]] = ()
    planned_associations: int = 0
    agent_installed: bool = False


ELIGIBILITY_CHECKS: CheckRegistry = CheckRegistry("Pod Identity eligibility")
check = ELIGIBILITY_CHECKS.check


@dataclass(frozen=True)
class EligibilityFinding:
    check_id: str
    title: str
    severity: Severity
    effect: Effect
    status: Status
    detail: str
    objects: tuple[str, ...] = ()
    remediation: str = ""

    @property
    def keeps_on_irsa(self) -> bool:
        # A check that could not judge keeps the service account where it is, as a failure would.
        return self.status in (Status.FAIL, Status.ERROR) and self.effect is Effect.NOT_ELIGIBLE

    @property
    def blocks_run(self) -> bool:
        return self.status is Status.FAIL and self.effect is Effect.BLOCKS_RUN

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "severity": str(self.severity),
            "effect": str(self.effect),
            "status": str(self.status),
            "objects": list(self.objects),
        }


@cache
def load_eligibility_catalogue(path: Path | None = None) -> tuple[EligibilitySpec, ...]:
    """The catalogue, held against the registered functions (every entry has one, every function an entry)."""
    from eks_runbooks.core.pod_identity import checks  # noqa: F401  (registers the check functions)

    entries = load_catalogue_entries(
        path or include_path("checks", "pod-identity-eligibility.yaml"), ("scope", "effect")
    )
    specs = tuple(
        EligibilitySpec(**{**entry, "scope": Scope(entry["scope"]), "effect": Effect(entry["effect"])})
        for entry in entries
    )
    check_against_registry([spec.id for spec in specs], ELIGIBILITY_CHECKS)
    return specs


def judge(inputs: EligibilityInputs, scope: Scope) -> list[EligibilityFinding]:
    """Every check of ``scope`` on ``inputs``, in catalogue order, each outcome joined with its entry."""
    findings = []
    for spec in load_eligibility_catalogue():
        if spec.scope is not scope:
            continue
        try:
            outcomes = ELIGIBILITY_CHECKS[spec.id](inputs)
        except (KeyError, TypeError, ValueError) as error:
            outcomes = [Outcome(Status.ERROR, f"could not be judged: {type(error).__name__}: {error}")]
        findings += [
            EligibilityFinding(
                spec.id, spec.title, spec.severity, spec.effect, o.status, o.detail, o.objects, spec.remediation
            )
            for o in outcomes
        ]
    return findings

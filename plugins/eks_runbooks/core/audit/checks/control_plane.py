"""Checks of the EKS control plane's configuration (DescribeCluster, DescribeClusterVersions)."""

from __future__ import annotations

from datetime import datetime

from eks_runbooks.core.audit.compliance import ClusterFacts, audit_check
from eks_runbooks.core.catalogue import Outcome, failed, passed, skipped, warned
from eks_runbooks.core.eks.rules import control_plane_prices

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")


@audit_check("EKS-ENDPOINT-PUBLIC")
def endpoint_is_not_open(facts: ClusterFacts) -> Outcome:
    vpc = facts.cluster.get("resourcesVpcConfig", {})
    if not vpc.get("endpointPublicAccess"):
        return passed("private endpoint only")
    cidrs = vpc.get("publicAccessCidrs") or ["0.0.0.0/0"]
    if "0.0.0.0/0" in cidrs:
        return failed("public endpoint open to 0.0.0.0/0", [f"cluster/{facts.cluster_name}"])
    return passed(f"public endpoint restricted to {', '.join(cidrs)}")


@audit_check("EKS-VERSION-SUPPORT")
def version_in_standard_support(facts: ClusterFacts) -> Outcome:
    version = facts.cluster.get("version")
    entry = next((v for v in facts.cluster_versions if v.get("clusterVersion") == version), None)
    status = (entry or {}).get("versionStatus", "UNSUPPORTED")
    if status == "STANDARD_SUPPORT":
        days = _days_until(entry.get("endOfStandardSupportDate"), facts.now)
        return passed(f"{version} in standard support, {days} day(s) left")
    if status == "EXTENDED_SUPPORT":
        days = _days_until(entry.get("endOfExtendedSupportDate"), facts.now)
        prices = control_plane_prices()
        return warned(
            f"{version} in extended support (${prices.extended_per_hour:.2f}/h instead of "
            f"${prices.standard_per_hour:.2f}/h: about ${prices.extended_extra_per_month:.0f} a month more); "
            f"{days} day(s) until EKS upgrades it",
            [f"cluster/{facts.cluster_name}"],
        )
    return failed(f"{version} is no longer supported by EKS", [f"cluster/{facts.cluster_name}"])


@audit_check("EKS-UPGRADE-POLICY")
def upgrade_policy_is_standard(facts: ClusterFacts) -> Outcome:
    support = facts.cluster.get("upgradePolicy", {}).get("supportType", "EXTENDED")  # EKS's default
    if support == "STANDARD":
        return passed("STANDARD: upgraded by EKS at the end of standard support")
    return warned("EXTENDED: moves into paid extended support ($0.60/h) when standard support ends")


@audit_check("EKS-SECRETS-KMS")
def secrets_are_envelope_encrypted(facts: ClusterFacts) -> Outcome:
    keys = [
        config.get("provider", {}).get("keyArn", "")
        for config in facts.cluster.get("encryptionConfig") or []
        if "secrets" in config.get("resources", [])
    ]
    if keys:
        return passed(f"Secrets encrypted with {keys[0]}")
    return failed("Secrets are not envelope-encrypted with a KMS key", [f"cluster/{facts.cluster_name}"])


@audit_check("EKS-CONTROL-PLANE-LOGS")
def all_control_plane_logs(facts: ClusterFacts) -> Outcome:
    enabled = {
        log_type
        for setup in facts.cluster.get("logging", {}).get("clusterLogging", [])
        if setup.get("enabled")
        for log_type in setup.get("types", [])
    }
    missing = [log_type for log_type in CONTROL_PLANE_LOG_TYPES if log_type not in enabled]
    if missing:
        return failed(f"log types not sent to CloudWatch: {', '.join(missing)}")
    return passed("all five control-plane log types enabled")


@audit_check("EKS-DELETION-PROTECTION")
def deletion_protection(facts: ClusterFacts) -> Outcome:
    if facts.cluster.get("deletionProtection"):
        return passed("deletion protection on")
    return failed("deletion protection off: DeleteCluster succeeds at once", [f"cluster/{facts.cluster_name}"])


@audit_check("EKS-TAGS")
def required_tags(facts: ClusterFacts) -> Outcome:
    if not facts.required_tags:
        return skipped("no required tags configured (Variable eks_required_tags)")
    tags = facts.cluster.get("tags") or {}
    missing = [key for key in facts.required_tags if not tags.get(key)]
    if missing:
        return failed(f"missing required tag(s): {', '.join(missing)}", [f"cluster/{facts.cluster_name}"])
    return passed(f"carries {', '.join(facts.required_tags)}")


def _days_until(when: datetime | str | None, now: datetime) -> int | str:
    if when is None:
        return "unknown"
    moment = when if isinstance(when, datetime) else datetime.fromisoformat(str(when))
    # Calendar days, as the inventory counts them: AWS dates support windows by day (midnight UTC).
    return (moment.date() - now.date()).days

"""Checks of managed add-ons, Pod Identity and EKS Insights."""

from __future__ import annotations

from eks_runbooks.core.audit.compliance import ClusterFacts, audit_check
from eks_runbooks.core.catalogue import Outcome, failed, passed, skipped, warned
from eks_runbooks.core.eks.versions import addon_version_key

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


@audit_check("EKS-ADDONS-CURRENT")
def addons_at_default(facts: ClusterFacts) -> Outcome:
    if not facts.addons:
        return skipped("no managed add-ons")
    version = facts.cluster.get("version")
    defaults = {
        addon["addonName"]: entry["addonVersion"]
        for addon in facts.addon_versions
        for entry in addon.get("addonVersions", [])
        for compatibility in entry.get("compatibilities", [])
        if compatibility.get("clusterVersion") == version and compatibility.get("defaultVersion")
    }
    behind = [
        f"addon/{addon['addonName']} {addon['addonVersion']} < {defaults[addon['addonName']]}"
        for addon in facts.addons
        if addon["addonName"] in defaults
        and addon_version_key(addon["addonVersion"]) < addon_version_key(defaults[addon["addonName"]])
    ]
    if behind:
        return failed(f"add-ons behind EKS's default for {version}", behind)
    return passed(f"{len(facts.addons)} add-on(s) at or past their default for {version}")


@audit_check("EKS-POD-IDENTITY")
def pod_identity_in_use(facts: ClusterFacts) -> Outcome:
    on_irsa = [
        f"{sa['metadata'].get('namespace')}/{sa['metadata']['name']}"
        for sa in facts.kubernetes.get("ServiceAccount", [])
        if IRSA_ANNOTATION in (sa["metadata"].get("annotations") or {})
    ]
    if not any(addon["addonName"] == "eks-pod-identity-agent" for addon in facts.addons):
        return failed(f"eks-pod-identity-agent not installed; {len(on_irsa)} service account(s) on IRSA", on_irsa)
    if on_irsa:
        return warned(f"{len(on_irsa)} service account(s) still on IRSA", on_irsa)
    return passed("Pod Identity agent installed; no service account on IRSA")


@audit_check("EKS-INSIGHTS")
def no_insight_in_error(facts: ClusterFacts) -> Outcome:
    errors = [
        f"insight/{insight.get('name', insight.get('id'))}"
        for insight in facts.insights
        if insight.get("insightStatus", {}).get("status") == "ERROR"
    ]
    if errors:
        return failed(f"{len(errors)} EKS Insights finding(s) in ERROR", errors)
    return passed(f"{len(facts.insights)} insight(s), none in ERROR")

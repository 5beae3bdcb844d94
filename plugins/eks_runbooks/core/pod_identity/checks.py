"""The eligibility checks, one small function per entry of include/checks/pod-identity-eligibility.yaml."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from eks_runbooks.core.catalogue import Outcome, failed, listed, noted, passed, skipped, warned
from eks_runbooks.core.pod_identity.eligibility import EligibilityInputs, check
from eks_runbooks.core.pod_identity.estate import Compute, ServiceAccountUse, Workload
from eks_runbooks.core.pod_identity.facts import UnknownSdk, load_pod_identity_facts, sdk_below_minimum
from eks_runbooks.core.pod_identity.trust import policy_length, with_pod_identity_trust


def _account(inputs: EligibilityInputs) -> ServiceAccountUse:
    if inputs.service_account is None:
        raise ValueError("a service-account check was run without a service account")
    return inputs.service_account


def _platform_number(version: str) -> int:
    return int(version.removeprefix("eks.") or 0)


@check("PI-CLUSTER-SUPPORTS-POD-IDENTITY")
def cluster_supports_pod_identity(inputs: EligibilityInputs) -> list[Outcome]:
    version, platform = inputs.cluster.get("version", ""), inputs.cluster.get("platformVersion", "")
    minimum = load_pod_identity_facts().platform_versions.get(version)
    if minimum and _platform_number(platform) < _platform_number(minimum):
        return [failed(f"{inputs.cluster_name} runs {version} {platform}; Pod Identity needs {minimum} or later")]
    return [passed(f"{version} {platform} supports Pod Identity")]


@check("PI-ASSOCIATION-QUOTA")
def association_quota(inputs: EligibilityInputs) -> list[Outcome]:
    quota = load_pod_identity_facts().associations_per_cluster
    total = len(inputs.associations) + inputs.planned_associations
    if total > quota:
        return [
            failed(
                f"{len(inputs.associations)} associations exist and the run would add {inputs.planned_associations}: "
                f"{total} is over the quota of {quota} per cluster"
            )
        ]
    return [passed(f"{total} of {quota} associations after the run")]


def _agent_ready_nodes(inputs: EligibilityInputs) -> set[str]:
    return {
        pod["spec"].get("nodeName")
        for pod in inputs.agent_pods
        if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (pod.get("status") or {}).get("conditions") or []
        )
    }


@check("PI-AGENT-READY")
def agent_ready(inputs: EligibilityInputs) -> list[Outcome]:
    facts = load_pod_identity_facts()
    if not inputs.agent_installed:
        return [warned(f"the {facts.agent_addon} add-on is not installed; a migrate run installs it first")]
    linux_nodes = [
        node["metadata"]["name"]
        for node in inputs.nodes
        if (node["metadata"].get("labels") or {}).get(facts.fargate_label[0]) != facts.fargate_label[1]
        and (node["metadata"].get("labels") or {}).get(facts.windows_label[0]) != facts.windows_label[1]
    ]
    missing = sorted(set(linux_nodes) - _agent_ready_nodes(inputs))
    if missing:
        return [
            warned(f"no Ready agent on {len(missing)} node(s): {listed(missing)}; a migrate run waits for it", missing)
        ]
    return [passed(f"the agent is Ready on all {len(linux_nodes)} eligible node(s)")]


def _matches_fargate(workload: Workload, profiles: Sequence[Mapping[str, Any]]) -> str | None:
    for profile in profiles:
        if profile.get("status", "ACTIVE") != "ACTIVE":
            continue
        for selector in profile.get("selectors") or []:
            labels = selector.get("labels") or {}
            if selector.get("namespace") == workload.namespace and all(
                workload.template_labels.get(key) == value for key, value in labels.items()
            ):
                return profile.get("fargateProfileName")
    return None


@check("PI-NOT-ON-FARGATE")
def not_on_fargate(inputs: EligibilityInputs) -> list[Outcome]:
    account = _account(inputs)
    on_fargate = []
    for workload in account.workloads:
        profile = _matches_fargate(workload, inputs.fargate_profiles)
        if profile or any(pod.compute is Compute.FARGATE for pod in workload.pods):
            on_fargate.append(f"{workload.ref}" + (f" (Fargate profile {profile})" if profile else ""))
    if on_fargate:
        return [failed(f"runs on Fargate: {listed(on_fargate)}", on_fargate)]
    return [passed("no pod on Fargate")]


@check("PI-NOT-ON-WINDOWS")
def not_on_windows(inputs: EligibilityInputs) -> list[Outcome]:
    os_key, windows = load_pod_identity_facts().windows_label
    on_windows = [
        workload.ref
        for workload in _account(inputs).workloads
        if workload.node_selector.get(os_key) == windows or any(pod.compute is Compute.WINDOWS for pod in workload.pods)
    ]
    if on_windows:
        return [failed(f"runs on Windows nodes: {listed(on_windows)}", on_windows)]
    return [passed("no pod on Windows nodes")]


@check("PI-NO-HARD-CODED-IRSA-ENV")
def no_hard_coded_irsa_env(inputs: EligibilityInputs) -> list[Outcome]:
    found = [
        f"{workload.ref} (container {', '.join(workload.hard_coded_irsa)})"
        for workload in _account(inputs).workloads
        if workload.hard_coded_irsa
    ]
    if found:
        return [failed(f"IRSA variables set in the pod spec: {listed(found)}", found)]
    return [passed("no IRSA variables in any pod spec")]


def _declared_sdks(workload: Workload, image_sdks: Mapping[str, str]) -> list[str]:
    return list(workload.declared_sdks) + [image_sdks[image] for image in workload.images if image in image_sdks]


@check("PI-SDK-SUPPORTS-POD-IDENTITY")
def sdk_supports_pod_identity(inputs: EligibilityInputs) -> list[Outcome]:
    too_old, unknown, undeclared = [], [], []
    for workload in _account(inputs).workloads:
        declared = _declared_sdks(workload, inputs.image_sdks or {})
        if not declared:
            undeclared.append(workload.ref)
        for sdk in declared:
            try:
                reason = sdk_below_minimum(sdk)
            except UnknownSdk as error:
                unknown.append(f"{workload.ref}: {error}")
                continue
            if reason:
                too_old.append(f"{workload.ref}: {reason}")
    if too_old:
        return [failed(f"AWS SDK too old for Pod Identity — {listed(too_old)}", too_old)]
    if unknown:
        return [failed(f"declared AWS SDK cannot be judged — {listed(unknown)}", unknown)]
    if undeclared:
        return [noted(f"AWS SDK unknown: verified after restart ({listed(undeclared)})", undeclared)]
    return [passed("every declared AWS SDK reads Pod Identity credentials")]


@check("PI-NOT-RETURNED-BEFORE")
def not_returned_before(inputs: EligibilityInputs) -> list[Outcome]:
    account = _account(inputs)
    if account.returned:
        return [failed(f"returned to IRSA by an earlier run — {account.returned}", [account.key])]
    return [passed("never returned to IRSA")]


def _role_account(role_arn: str) -> str:
    parts = role_arn.split(":")
    return parts[4] if len(parts) > 5 else ""


@check("PI-ROLE-EXISTS")
def role_exists(inputs: EligibilityInputs) -> list[Outcome]:
    account = _account(inputs)
    if account.role_arn is None:
        return [skipped("no IRSA annotation (removed by an earlier cleanup)")]
    if _role_account(account.role_arn) != inputs.account_id:
        return [skipped(f"{account.role_arn} is in another account; not looked up")]
    if inputs.role is None:
        return [failed(f"role {account.role_arn} does not exist", [account.role_arn])]
    return [passed(f"role {account.role_arn} exists")]


@check("PI-ROLE-IN-CLUSTER-ACCOUNT")
def role_in_cluster_account(inputs: EligibilityInputs) -> list[Outcome]:
    account = _account(inputs)
    if account.role_arn is None:
        return [skipped("no IRSA annotation")]
    other = _role_account(account.role_arn)
    if other != inputs.account_id:
        return [
            failed(
                f"role {account.role_arn} is in account {other}, the cluster in {inputs.account_id}: it needs a role "
                f"of {inputs.account_id} with targetRoleArn",
                [account.role_arn],
            )
        ]
    return [passed("role in the cluster's account")]


@check("PI-TRUST-POLICY-FITS")
def trust_policy_fits(inputs: EligibilityInputs) -> list[Outcome]:
    if inputs.role is None:
        return [skipped("no role to look at")]
    document = inputs.role.get("AssumeRolePolicyDocument") or {}
    if isinstance(document, str):
        document = json.loads(document)
    updated = with_pod_identity_trust(document)
    if updated is None:
        return [passed("the role already trusts pods.eks.amazonaws.com")]
    limit = load_pod_identity_facts().trust_policy_max_characters
    length = policy_length(updated)
    if length > limit:
        return [
            failed(
                f"with the Pod Identity statement the trust policy of {inputs.role['Arn']} is {length} characters, "
                f"over the quota of {limit}",
                [inputs.role["Arn"]],
            )
        ]
    return [passed(f"{length} of {limit} characters with the Pod Identity statement")]


@check("PI-NO-CONFLICTING-ASSOCIATION")
def no_conflicting_association(inputs: EligibilityInputs) -> list[Outcome]:
    account = _account(inputs)
    for association in inputs.associations:
        if (association.get("namespace"), association.get("serviceAccount")) != (account.namespace, account.name):
            continue
        if account.role_arn and association.get("roleArn") != account.role_arn:
            return [
                failed(
                    f"association {association.get('associationId')} gives {account.key} role "
                    f"{association.get('roleArn')}, the annotation names {account.role_arn}",
                    [association.get("associationId", "")],
                )
            ]
        return [passed(f"association {association.get('associationId')} already gives the same role")]
    return [passed("no association yet")]


@check("PI-ADDON-SUPPORTS-POD-IDENTITY")
def addon_supports_pod_identity(inputs: EligibilityInputs) -> list[Outcome]:
    account = _account(inputs)
    if account.addon is None:
        return [skipped("not an add-on's service account")]
    configuration = (inputs.addon_pod_identity or {}).get(account.addon) or []
    if not any(entry.get("serviceAccount") == account.name for entry in configuration):
        return [
            failed(f"the installed version of add-on {account.addon} does not support Pod Identity", [account.addon])
        ]
    return [passed(f"add-on {account.addon} supports Pod Identity for {account.name}")]


@check("PI-RESTARTABLE-WORKLOADS")
def restartable_workloads(inputs: EligibilityInputs) -> list[Outcome]:
    account = _account(inputs)
    if account.addon:
        return [skipped(f"add-on {account.addon}: EKS re-creates its pods")]
    others = [w.ref for w in account.workloads if not w.restartable and w.kind != "CronJob"]
    if others:
        return [noted(f"not restarted by this runbook (re-create them yourself): {listed(others)}", others)]
    if not account.workloads:
        return [noted("no workload runs as this service account")]
    return [passed("every workload is restarted or picks the change up at its next run")]

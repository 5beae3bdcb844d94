"""Pre-flight checks of the managed add-ons: can each follow the hop, and is each healthy now."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eks_runbooks.core.catalogue import Outcome, failed, passed, warned
from eks_runbooks.core.upgrade.checks.registry import PreflightInputs, check
from eks_runbooks.core.upgrade.plan import UpgradePlanError, load_addon_rules, plan_addon_steps


def describe_health_issues(issues: Sequence[Mapping[str, Any]]) -> str:
    """``code: message (resource ids)`` of add-on and node group ``health.issues``, on one line."""
    return "; ".join(
        f"{issue.get('code')}: {issue.get('message')}"
        + (f" ({', '.join(issue['resourceIds'])})" if issue.get("resourceIds") else "")
        for issue in issues
    )


@check("EKS-ADDON-COMPATIBLE")
def addons_have_a_version_for_the_hop(inputs: PreflightInputs) -> list[Outcome]:
    """Plans each add-on's step exactly as the add-on step will, so the gate and the step cannot disagree."""
    rules = inputs.addon_rules or load_addon_rules()
    outcomes, targets = [], []
    for addon in sorted(inputs.addons, key=lambda addon: addon["addonName"]):
        name, version = addon["addonName"], addon.get("addonVersion", "")
        try:
            steps = plan_addon_steps(inputs.cluster_name, {name: version}, inputs.hop_to, inputs.addon_versions, rules)
        except UpgradePlanError as error:
            outcomes.append(failed(str(error), [f"addon/{name}"]))
            continue
        except ValueError as error:  # a version string that is not vX.Y.Z-eksbuild.N (some marketplace add-ons)
            outcomes.append(
                warned(
                    f"Cluster {inputs.cluster_name}: cannot compare versions of add-on {name} ({error}); "
                    f"check by hand that it supports {inputs.hop_to}.",
                    [f"addon/{name}"],
                )
            )
            continue
        targets.append(f"{name} → {steps[-1].to_version}" if steps else f"{name} stays {version}")
    if outcomes:
        return outcomes
    return [
        passed(
            f"Cluster {inputs.cluster_name}: all {len(targets)} add-ons have a version for {inputs.hop_to} "
            f"({', '.join(targets) or 'none installed'})."
        )
    ]


@check("EKS-ADDON-HEALTH")
def addons_are_healthy(inputs: PreflightInputs) -> list[Outcome]:
    outcomes = []
    for addon in sorted(inputs.addons, key=lambda addon: addon["addonName"]):
        name, status = addon["addonName"], addon.get("status")
        issues = (addon.get("health") or {}).get("issues") or []
        if status == "ACTIVE" and not issues:
            continue
        described = describe_health_issues(issues)
        outcomes.append(
            failed(
                f"Cluster {inputs.cluster_name}: add-on {name} is {status}" + (f" — {described}" if described else ""),
                [f"addon/{name}"],
            )
        )
    return outcomes or [
        passed(f"Cluster {inputs.cluster_name}: all {len(inputs.addons)} add-ons are ACTIVE without health issues.")
    ]

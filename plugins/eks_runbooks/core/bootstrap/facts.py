"""What a well-configured cluster is made of (include/eks/bootstrap.yaml), as the bootstrap runbook builds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from eks_runbooks.core.include import include_path


@dataclass(frozen=True)
class RoleFacts:
    trusted_service: str
    managed_policies: tuple[str, ...]
    #: policy name → AWS managed policies that serve in its place (e.g. the registry's ReadOnly for PullOnly)
    also_accepted: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def accepted(self, policy: str) -> tuple[str, ...]:
        """``policy`` and the managed policies a role may carry instead of it."""
        return (policy, *self.also_accepted.get(policy, ()))


@dataclass(frozen=True)
class AddonRoleFacts:
    namespace: str
    service_account: str
    managed_policies: tuple[str, ...]


@dataclass(frozen=True)
class BootstrapFacts:
    cluster_role: RoleFacts
    node_role: RoleFacts
    log_types: tuple[str, ...]
    free_ips_per_subnet: int
    min_availability_zones: int
    unsupported_zone_ids: frozenset[str]
    clusters_quota: dict[str, Any]
    public_access_cidrs_max: int
    nodegroup_max_size: int
    instance_types_max: int
    ami_types: tuple[str, ...]
    ami_architectures: dict[str, str]
    launch_template: dict[str, Any]
    root_device_names: dict[str, str]
    addons_before_compute: tuple[str, ...]
    addons_after_compute: tuple[str, ...]
    addons_required: tuple[str, ...]
    addon_roles: dict[str, AddonRoleFacts]
    addon_workloads: dict[str, tuple[str, ...]]
    baseline_checks: tuple[str, ...]
    smoke_test: dict[str, Any]
    cluster: dict[str, Any]

    @property
    def default_addons(self) -> tuple[str, ...]:
        return self.addons_before_compute + self.addons_after_compute

    def root_device_name(self, ami_type: str) -> str:
        """The device a node group's launch template maps its (data) volume to, by AMI family."""
        return self.root_device_names["BOTTLEROCKET" if ami_type.startswith("BOTTLEROCKET") else "AL2023"]


def _role(entry: dict[str, Any]) -> RoleFacts:
    also_accepted = {name: tuple(others) for name, others in (entry.get("also_accepted") or {}).items()}
    return RoleFacts(entry["trusted_service"], tuple(entry["managed_policies"]), also_accepted)


@cache
def load_bootstrap_facts(path: Path | None = None) -> BootstrapFacts:
    data = yaml.safe_load((path or include_path("eks", "bootstrap.yaml")).read_text())
    plane, nodes, addons = data["control_plane"], data["nodes"], data["addons"]
    return BootstrapFacts(
        cluster_role=_role(data["cluster_role"]),
        node_role=_role(data["node_role"]),
        log_types=tuple(plane["log_types"]),
        free_ips_per_subnet=plane["free_ips_per_subnet"],
        min_availability_zones=plane["min_availability_zones"],
        unsupported_zone_ids=frozenset(plane["unsupported_zone_ids"]),
        clusters_quota={k: v for k, v in plane["clusters_quota"].items() if k != "source"},
        public_access_cidrs_max=plane["public_access_cidrs_max"],
        nodegroup_max_size=nodes["nodegroup_max_size"],
        instance_types_max=nodes["instance_types_max"],
        ami_types=tuple(nodes["ami_types"]),
        ami_architectures={k: v for k, v in nodes["ami_architectures"].items() if k != "source"},
        launch_template={k: v for k, v in nodes["launch_template"].items() if k != "source"},
        root_device_names={k: v for k, v in nodes["root_device_names"].items() if k != "source"},
        addons_before_compute=tuple(addons["before_compute"]),
        addons_after_compute=tuple(addons["after_compute"]),
        addons_required=tuple(addons["required"]),
        addon_roles={
            name: AddonRoleFacts(role["namespace"], role["service_account"], tuple(role["managed_policies"]))
            for name, role in addons["pod_identity_roles"].items()
        },
        addon_workloads={name: tuple(refs) for name, refs in addons["workloads"].items()},
        baseline_checks=tuple(data["baseline"]["checks"]),
        smoke_test={k: v for k, v in data["smoke_test"].items() if k != "source"},
        cluster={k: v for k, v in data["cluster"].items() if k != "source"},
    )

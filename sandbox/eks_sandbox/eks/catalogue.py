"""Loading the plain-data catalogues the simulated EKS runs on.

- ``include/eks/kubernetes-versions.yaml``: the version calendar (which versions exist, their support windows);
- ``include/eks/addons.yaml``: the add-on catalogue (every add-on EKS publishes that it knows: versions,
  compatibilities, defaults, and for those the sandbox runs, workloads and schemas);
- ``include/sandbox/timings.yaml``: how long each simulated operation takes.

The same YAML files are read by the runbooks' domain core, so everything EKS-specific lives there, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

STANDARD_SUPPORT = "STANDARD_SUPPORT"
EXTENDED_SUPPORT = "EXTENDED_SUPPORT"
UNSUPPORTED = "UNSUPPORTED"
#: How often the simulated EKS publishes an optimized AMI per Kubernetes version (UNCONFIRMED: AWS publishes
#: roughly every one to three weeks, awslabs/amazon-eks-ami releases; a fixed cadence keeps rehearsals repeatable).
AMI_RELEASE_INTERVAL = timedelta(days=14)


def minor_of(version: str) -> int:
    """31 for "1.31" (or "v1.31.7-eks-..."): EKS versions are all Kubernetes 1.x."""
    match = re.match(r"v?1\.(\d+)", version)
    if not match:
        raise ValueError(f"not a Kubernetes 1.x version: {version!r}")
    return int(match.group(1))


def minor_version(minor: int) -> str:
    return f"1.{minor}"


@dataclass(frozen=True)
class KubernetesVersion:
    """One row of the EKS version calendar."""

    version: str
    eks_release: date
    end_of_standard_support: date
    end_of_extended_support: date
    confirmed: bool
    kubernetes_patch: str
    platform_version: str
    ami_release_date: str

    @property
    def minor(self) -> int:
        return minor_of(self.version)

    def support_status(self, when: datetime) -> str | None:
        """STANDARD_SUPPORT / EXTENDED_SUPPORT / UNSUPPORTED at ``when``; None before EKS released it."""
        today = when.date()
        if today < self.eks_release:
            return None
        if today < self.end_of_standard_support:
            return STANDARD_SUPPORT
        if today < self.end_of_extended_support:
            return EXTENDED_SUPPORT
        return UNSUPPORTED

    def ami_release_version(self, on: date) -> str:
        """Release version of the newest EKS optimized AMI published by ``on``: ``<patch>-<YYYYMMDD>``
        [UG eks-linux-ami-versions]. Releases are modelled every ``AMI_RELEASE_INTERVAL`` around the catalogue's
        ``ami_release_date``, from the version's EKS release to its end of extended support."""
        anchor = datetime.strptime(self.ami_release_date, "%Y%m%d").date()
        last_day = min(max(on, self.eks_release), self.end_of_extended_support)
        newest = anchor + AMI_RELEASE_INTERVAL * ((last_day - anchor) // AMI_RELEASE_INTERVAL)
        if newest < self.eks_release:
            newest += AMI_RELEASE_INTERVAL
        return f"{self.kubernetes_patch}-{newest:%Y%m%d}"


class VersionCalendar:
    """The EKS Kubernetes version calendar, evaluated at a simulated date."""

    def __init__(self, versions: list[KubernetesVersion]) -> None:
        self.versions = sorted(versions, key=lambda v: v.minor)
        self._by_version = {v.version: v for v in self.versions}

    def get(self, version: str) -> KubernetesVersion | None:
        return self._by_version.get(version)

    def released(self, when: datetime) -> list[KubernetesVersion]:
        return [v for v in self.versions if v.support_status(when) is not None]

    def is_supported(self, version: str, when: datetime) -> bool:
        """True while EKS accepts clusters at ``version``: released, and before the end of extended support."""
        return self.unsupported_reason(version, when) is None

    def unsupported_reason(self, version: str, when: datetime) -> str | None:
        """Why EKS does not accept ``version`` at ``when`` (naming the date that decides it), or None if it does."""
        entry = self.get(version)
        if entry is None:
            return f"{version} is not a Kubernetes version Amazon EKS offers"
        status = entry.support_status(when)
        if status is None:
            return f"{version} is not available on Amazon EKS before {entry.eks_release}"
        if status == UNSUPPORTED:
            return f"{version} reached the end of extended support on {entry.end_of_extended_support}"
        return None

    def automatic_upgrade_date(self, version: str, support_type: str) -> date | None:
        """The day EKS starts upgrading a cluster at ``version`` itself: the end of standard support under an
        upgrade policy of STANDARD, the end of extended support under EXTENDED [UG view-upgrade-policy.adoc,
        kubernetes-versions.adoc]; None when the calendar has no later version to upgrade to."""
        entry = self.get(version)
        if entry is None or self.get(minor_version(entry.minor + 1)) is None:
            return None
        return entry.end_of_standard_support if support_type == "STANDARD" else entry.end_of_extended_support

    def default_version(self, when: datetime) -> str:
        """The newest version in standard support (UNCONFIRMED simplification, see the YAML header)."""
        standard = [v for v in self.versions if v.support_status(when) == STANDARD_SUPPORT]
        return (standard or self.released(when))[-1].version


@dataclass(frozen=True)
class AddonVersion:
    version: str
    cluster_versions: tuple[str, ...]
    default_for: tuple[str, ...]

    @property
    def upstream(self) -> str:
        """``v1.31.14`` of ``v1.31.14-eksbuild.9``."""
        return self.version.split("-", 1)[0]

    @property
    def build(self) -> str:
        """``eksbuild.9`` of ``v1.31.14-eksbuild.9``."""
        return self.version.split("-", 1)[1] if "-" in self.version else ""

    @property
    def key(self) -> tuple[int, ...]:
        """(1, 19, 6, 7) of ``v1.19.6-eksbuild.7``: add-on versions compare part by part."""
        return tuple(int(part) for part in re.findall(r"\d+", self.version))

    @property
    def minor(self) -> tuple[int, int]:
        """(1, 19) of ``v1.19.6-eksbuild.7``: what "one minor version at a time" counts."""
        major, minor = self.upstream.lstrip("v").split(".")[:2]
        return int(major), int(minor)


@dataclass(frozen=True)
class AddonSpec:
    """One managed add-on of the catalogue."""

    name: str
    type: str
    publisher: str
    owner: str
    namespace: str
    one_minor_version_at_a_time: bool
    #: Moves after the node groups (kube-proxy): judged by version skew with the kubelets, not compatibility.
    update_after_nodegroups: bool
    requires_iam_permissions: bool
    iam_service_account: str | None
    versions: tuple[AddonVersion, ...]
    workloads: tuple[dict[str, Any], ...]
    pod_identity: tuple[dict[str, Any], ...]
    configuration_schema: dict[str, Any]
    #: The first version whose DescribeAddonConfiguration lists ``pod_identity`` (None: every version).
    pod_identity_since: str | None = None

    def version(self, version: str) -> AddonVersion | None:
        return next((v for v in self.versions if v.version == version), None)

    def default_version(self, cluster_version: str) -> AddonVersion | None:
        return next((v for v in self.versions if cluster_version in v.default_for), None)

    def pod_identity_configuration(self, version: AddonVersion) -> list[dict[str, Any]]:
        """DescribeAddonConfiguration ``podIdentityConfiguration`` of ``version``: empty below the first version
        that supports Pod Identity, which is how EKS says a version does not support it [BC]."""
        if self.pod_identity_since and version.key < AddonVersion(self.pod_identity_since, (), ()).key:
            return []
        return [dict(entry) for entry in self.pod_identity]

    def service_accounts(self) -> list[str]:
        return sorted({w["service_account"] for w in self.workloads if w.get("service_account")})


@dataclass(frozen=True)
class AddonCatalogue:
    addons: dict[str, AddonSpec]
    bootstrap_self_managed: tuple[str, ...]

    def get(self, name: str) -> AddonSpec | None:
        return self.addons.get(name)


class Timings:
    """Simulated durations of EKS operations (``include/sandbox/timings.yaml``)."""

    def __init__(self, minutes: dict[str, float]) -> None:
        self._minutes = minutes

    def __getitem__(self, name: str) -> timedelta:
        return timedelta(minutes=self._minutes[name])


@dataclass(frozen=True)
class Catalogue:
    calendar: VersionCalendar
    addons: AddonCatalogue
    timings: Timings


def load_catalogue(include_dir: Path) -> Catalogue:
    return Catalogue(
        calendar=load_calendar(include_dir / "eks" / "kubernetes-versions.yaml"),
        addons=load_addons(include_dir / "eks" / "addons.yaml"),
        timings=load_timings(include_dir / "sandbox" / "timings.yaml"),
    )


def load_calendar(path: Path) -> VersionCalendar:
    data = yaml.safe_load(path.read_text())
    return VersionCalendar(
        [
            KubernetesVersion(
                version=str(row["version"]),
                eks_release=row["eks_release"],
                end_of_standard_support=row["end_of_standard_support"],
                end_of_extended_support=row["end_of_extended_support"],
                confirmed=bool(row["confirmed"]),
                kubernetes_patch=str(row["kubernetes_patch"]),
                platform_version=str(row["platform_version"]),
                ami_release_date=str(row["ami_release_date"]),
            )
            for row in data["versions"]
        ]
    )


def load_addons(path: Path) -> AddonCatalogue:
    data = yaml.safe_load(path.read_text())
    addons = {name: _addon_spec(name, spec) for name, spec in data["addons"].items()}
    return AddonCatalogue(addons=addons, bootstrap_self_managed=tuple(data.get("bootstrap_self_managed", ())))


def _addon_spec(name: str, spec: dict[str, Any]) -> AddonSpec:
    """One catalogue entry; the rule and workload fields are optional (catalogue-only add-ons run nothing)."""
    return AddonSpec(
        name=name,
        type=spec["type"],
        publisher=spec["publisher"],
        owner=spec["owner"],
        namespace=spec["namespace"],
        one_minor_version_at_a_time=bool(spec.get("one_minor_version_at_a_time", False)),
        update_after_nodegroups=bool(spec.get("update_after_nodegroups", False)),
        requires_iam_permissions=bool(spec["requires_iam_permissions"]),
        iam_service_account=spec.get("iam_service_account"),
        versions=tuple(
            AddonVersion(
                version=v["version"],
                cluster_versions=tuple(str(c) for c in v["cluster_versions"]),
                default_for=tuple(str(c) for c in v["default_for"]),
            )
            for v in spec["versions"]
        ),
        workloads=tuple(spec.get("workloads") or ()),
        pod_identity=tuple(spec.get("pod_identity") or ()),
        configuration_schema=spec.get("configuration_schema") or {},
        pod_identity_since=spec.get("pod_identity_since"),
    )


def load_timings(path: Path) -> Timings:
    data = yaml.safe_load(path.read_text())
    return Timings({name: float(entry["minutes"]) for name, entry in data.items()})

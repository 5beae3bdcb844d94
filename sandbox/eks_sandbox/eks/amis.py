"""EKS optimized AMIs: which releases exist on a day, their AMI ids, and the SSM public parameters naming them.

Releases follow the calendar's model (``KubernetesVersion.ami_release_version``): one every
``AMI_RELEASE_INTERVAL`` around each version's ``ami_release_date``, from its EKS release to its end of extended
support, ``<patch>-<YYYYMMDD>``. AMI ids are made up but stable: the same AMI type and release always have the
same id, in every region, so a node's ``eks.amazonaws.com/nodegroup-image`` label, its EC2 instance's ImageId and
the SSM parameter agree.

SSM public parameters, as AWS publishes them:
- ``/aws/service/eks/optimized-ami/<version>/amazon-linux-2023/<x86_64|arm64>/standard/recommended/<image_id|
  release_version|image_name>`` [docs.aws.amazon.com/eks/latest/userguide/retrieve-ami-id.html];
- ``/aws/service/eks/optimized-ami/<version>/<amazon-linux-2|amazon-linux-2-arm64>/recommended/<...>`` for the
  versions with AL2 AMIs (up to 1.32) [same page; include/eks/node-amis.yaml];
- ``/aws/service/bottlerocket/aws-k8s-<version>/<x86_64|arm64>/latest/image_id``
  [docs.aws.amazon.com/eks/latest/userguide/retrieve-ami-id-bottlerocket.html];
- ``/aws/service/ami-windows-latest/Windows_Server-<2019|2022|2025>-English-<Core|Full>-EKS_Optimized-<version>/
  image_id`` [docs.aws.amazon.com/eks/latest/userguide/retrieve-windows-ami-id.html].
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from eks_sandbox import moto_compat
from eks_sandbox.eks.catalogue import AMI_RELEASE_INTERVAL, KubernetesVersion, VersionCalendar
from eks_sandbox.eks.errors import invalid_parameter

#: EKS stopped publishing AL2 AMIs after Kubernetes 1.32 [docs.aws.amazon.com/eks/latest/userguide/
#: eks-ami-build-scripts.html; awslabs/amazon-eks-ami#2545].
LAST_AL2_MINOR = 32


@dataclass(frozen=True)
class AmiFamily:
    """One AMI type's SSM parameter folder and AMI name (``{version}`` and ``{date}`` filled in)."""

    ami_type: str
    parameter_folder: str
    image_name: str | None
    al2: bool = False
    #: the first Kubernetes minor EKS publishes this AMI type for
    first_minor: int = 0


@dataclass(frozen=True)
class WindowsRelease:
    """A Windows Server release EKS builds node AMIs on: its build (the ``node.kubernetes.io/windows-build`` label
    the kubelet sets [kubernetes.io/docs/reference/labels-annotations-taints]) and the first Kubernetes minor
    with EKS optimized AMIs of it."""

    release: str
    build: str
    first_minor: int


#: Windows Server 2019 (build 10.0.17763) and 2022 (10.0.20348) AMIs exist for every version the calendar holds;
#: 2025 (10.0.26100) AMIs start with 1.35 [UG nodes/eks-ami-versions-windows.adoc lists 2025 Core/Full AMIs from
#: 1.35-2026-01-22; eksctl-io/eksctl v0.222.0 "Add support for EKS Windows Server 2025"]. Builds: Microsoft's
#: Windows Server release information. Windows nodes are x86_64 only (botocore AMITypes).
WINDOWS_RELEASES = {
    "2019": WindowsRelease("2019", "10.0.17763", 0),
    "2022": WindowsRelease("2022", "10.0.20348", 0),
    "2025": WindowsRelease("2025", "10.0.26100", 35),
}


def windows_release(ami_type: str) -> WindowsRelease | None:
    """The Windows Server release of a ``WINDOWS_<CORE|FULL>_<release>_x86_64`` AMI type, else None."""
    parts = ami_type.split("_")
    if parts[0] != "WINDOWS" or len(parts) < 3:
        return None
    return WINDOWS_RELEASES.get(parts[2])


#: The AMI types whose SSM parameters the sandbox publishes (image names as AWS names its AMIs).
FAMILIES = (
    AmiFamily(
        "AL2023_x86_64_STANDARD",
        "/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/x86_64/standard/recommended",
        "amazon-eks-node-al2023-x86_64-standard-{version}-v{date}",
    ),
    AmiFamily(
        "AL2023_ARM_64_STANDARD",
        "/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/arm64/standard/recommended",
        "amazon-eks-node-al2023-arm64-standard-{version}-v{date}",
    ),
    AmiFamily(
        "AL2_x86_64",
        "/aws/service/eks/optimized-ami/{version}/amazon-linux-2/recommended",
        "amazon-eks-node-{version}-v{date}",
        al2=True,
    ),
    AmiFamily(
        "AL2_ARM_64",
        "/aws/service/eks/optimized-ami/{version}/amazon-linux-2-arm64/recommended",
        "amazon-eks-arm64-node-{version}-v{date}",
        al2=True,
    ),
    AmiFamily("BOTTLEROCKET_x86_64", "/aws/service/bottlerocket/aws-k8s-{version}/x86_64/latest", None),
    AmiFamily("BOTTLEROCKET_ARM_64", "/aws/service/bottlerocket/aws-k8s-{version}/arm64/latest", None),
    *(
        AmiFamily(
            f"WINDOWS_{option.upper()}_{release.release}_x86_64",
            f"/aws/service/ami-windows-latest/Windows_Server-{release.release}-English-{option}-EKS_Optimized-"
            "{version}",
            None,
            first_minor=release.first_minor,
        )
        for release in WINDOWS_RELEASES.values()
        for option in ("Core", "Full")
    ),
)


def image_id(ami_type: str, release_version: str) -> str:
    """The AMI of a release: a custom AMI (``ami-...``) is itself, else a stable made-up EKS optimized AMI id."""
    if release_version.startswith("ami-"):
        return release_version
    return "ami-" + hashlib.sha1(f"{ami_type}/{release_version}".encode()).hexdigest()[:17]


def published_releases(entry: KubernetesVersion, on: date) -> list[str]:
    """Every release of ``entry`` published by ``on``, oldest first (the newest is ``ami_release_version``)."""
    newest = entry.ami_release_version(on)
    newest_day = datetime.strptime(newest.rsplit("-", 1)[1], "%Y%m%d").date()
    releases = []
    day = newest_day
    while day >= entry.eks_release:
        releases.append(f"{entry.kubernetes_patch}-{day:%Y%m%d}")
        day -= AMI_RELEASE_INTERVAL
    return releases[::-1] or [newest]


def validate_release_version(calendar: VersionCalendar, version: str, release_version: str, on: date) -> None:
    """Refuse a ``releaseVersion`` that is not an AMI release of ``version`` published by ``on``."""
    entry = calendar.get(version)
    if entry is None or release_version not in published_releases(entry, on):
        # The message EKS answers when the release does not belong to the version (eksctl-io/eksctl#7976, 2025);
        # an unpublished release of the right version is equally no valid release of it.
        raise invalid_parameter(
            f"Requested release version {release_version} is not valid for kubernetes version {version}"
        )


def public_parameters(calendar: VersionCalendar, on: date) -> dict[str, tuple[str, date]]:
    """SSM parameter name → (value, day it last changed) for every AMI family and version EKS offers on ``on``."""
    parameters: dict[str, tuple[str, date]] = {}
    for entry in calendar.versions:
        if not entry.eks_release <= on < entry.end_of_extended_support:
            continue
        release = entry.ami_release_version(on)
        released_on = datetime.strptime(release.rsplit("-", 1)[1], "%Y%m%d").date()
        for family in FAMILIES:
            if (family.al2 and entry.minor > LAST_AL2_MINOR) or entry.minor < family.first_minor:
                continue
            folder = family.parameter_folder.format(version=entry.version)
            parameters[f"{folder}/image_id"] = (image_id(family.ami_type, release), released_on)
            if family.image_name is not None:
                name = family.image_name.format(version=entry.version, date=f"{released_on:%Y%m%d}")
                parameters[f"{folder}/release_version"] = (release, released_on)
                parameters[f"{folder}/image_name"] = (name, released_on)
    return parameters


class PublicAmiParameters:
    """Keeps moto's SSM in each account and region up to date with the releases published by the world date."""

    def __init__(self, calendar: VersionCalendar) -> None:
        self.calendar = calendar
        self._published_on: dict[tuple[str, str], date] = {}
        self._values: tuple[date, dict[str, tuple[str, date]]] | None = None

    def publish(self, account: str, region: str, today: date) -> None:
        """Called before each SSM request: (re)publish when the world date moved since this region's last look."""
        if self._published_on.get((account, region)) == today:
            return
        if self._values is None or self._values[0] != today:
            self._values = (today, public_parameters(self.calendar, today))
        for name, (value, changed) in self._values[1].items():
            moto_compat.put_public_parameter(
                account, region, name, value, datetime.combine(changed, time(0, 0), tzinfo=UTC)
            )
        self._published_on[(account, region)] = today

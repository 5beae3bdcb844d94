"""Kubernetes and EKS add-on version strings, parsed once and compared as numbers."""

from __future__ import annotations

import re

_MINOR_VERSION = re.compile(r"^1\.(\d{1,2})$")
_KUBELET_VERSION = re.compile(r"^v?1\.(\d+)\b")
_ADDON_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(?:-eksbuild\.(\d+))?$")


def minor_of(version: str) -> int:
    """The minor number of a Kubernetes ``1.NN`` version string; ValueError for anything else."""
    match = _MINOR_VERSION.match(version or "")
    if not match:
        raise ValueError(f"not a Kubernetes 1.NN version: {version!r}")
    return int(match.group(1))


def minor_version(minor: int) -> str:
    """``1.NN`` for a minor number."""
    return f"1.{minor}"


def kubelet_minor(kubelet_version: str) -> int | None:
    """The minor of a kubelet version as a Node reports it (``v1.32.9-eks-113cf36`` → 32); None if absent."""
    match = _KUBELET_VERSION.match(kubelet_version or "")
    return int(match.group(1)) if match else None


def addon_version_key(version: str) -> tuple[int, int, int, int]:
    """Sort key of an EKS add-on version (``v1.19.6-eksbuild.7`` → (1, 19, 6, 7)); ValueError if malformed."""
    match = _ADDON_VERSION.match(version or "")
    if not match:
        raise ValueError(f"not an EKS add-on version (vX.Y.Z-eksbuild.N): {version!r}")
    major, minor, patch, build = match.groups()
    return int(major), int(minor), int(patch), int(build or 0)

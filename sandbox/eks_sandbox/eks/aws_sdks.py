"""Which AWS SDK releases read EKS Pod Identity credentials (``include/eks/pod-identity-sdk-minimums.yaml``).

A declared SDK is ``<sdk>/<version>``: versions compare numerically part by part (a leading ``v`` ignored), and
``release-YYYY-MM-DD`` versions (Go v2, Rust) by date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import yaml

SDK_MINIMUMS_FILE = Path("eks") / "pod-identity-sdk-minimums.yaml"


def version_key(version: str) -> tuple[str, tuple[int, ...]]:
    """A sortable form of an SDK version; ValueError when it is neither dotted numbers nor a release date."""
    if version.startswith("release-"):
        return "release", (date.fromisoformat(version.removeprefix("release-")).toordinal(),)
    return "numbered", tuple(int(part) for part in version.removeprefix("v").split("."))


@dataclass(frozen=True)
class SdkMinimums:
    """The oldest release of each SDK whose container credential provider reads Pod Identity credentials."""

    minimums: dict[str, str]
    source: str

    def parse(self, declared: str) -> tuple[str, str]:
        """``(sdk, version)`` of a declaration ``<sdk>/<version>``; ValueError naming what is wrong."""
        sdk, _, version = declared.partition("/")
        if sdk not in self.minimums:
            raise ValueError(f"unknown AWS SDK {sdk!r} in {declared!r}; known: {', '.join(sorted(self.minimums))}")
        kind, _ = version_key(version)
        if kind != version_key(self.minimums[sdk])[0]:
            raise ValueError(f"{declared!r}: {sdk} versions look like {self.minimums[sdk]!r}")
        return sdk, version

    def too_old(self, declared: str) -> str | None:
        """The minimum a declared SDK is below, or None when it reads Pod Identity credentials."""
        sdk, version = self.parse(declared)
        minimum = self.minimums[sdk]
        return minimum if version_key(version) < version_key(minimum) else None


@cache
def load_sdk_minimums(include_dir: Path) -> SdkMinimums:
    data = yaml.safe_load((include_dir / SDK_MINIMUMS_FILE).read_text())
    return SdkMinimums({row["sdk"]: str(row["minimum"]) for row in data["sdks"]}, data["source"])

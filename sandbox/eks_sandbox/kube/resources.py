"""The catalogue of API resources the simulated kube-apiserver serves, and at which Kubernetes minors.

The data lives in ``api-resources.yaml`` next to this module so that an API removal is one line of YAML with
its source, not a Python branch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

CATALOGUE_PATH = Path(__file__).with_name("api-resources.yaml")


def parse_minor(version: str) -> tuple[int, int]:
    """``"1.31"`` (or ``"v1.31.7-eks-..."``) as ``(1, 31)``, so that minors compare as numbers."""
    match = re.match(r"v?(\d+)\.(\d+)", version)
    if not match:
        raise ValueError(f"not a Kubernetes version: {version!r}")
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class Subresource:
    """A subresource such as ``pods/eviction``; group/version/kind are set when they differ from the parent."""

    name: str
    verbs: tuple[str, ...]
    group: str | None = None
    version: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class ResourceType:
    """One kind of object, stored once per group+kind and served under every version listed for it."""

    group: str
    kind: str
    resource: str
    singular: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    subresources: tuple[Subresource, ...]
    #: version -> (served_from, served_until); None bounds are open.
    versions: dict[str, tuple[tuple[int, int] | None, tuple[int, int] | None]]

    def serves(self, version: str, minor: tuple[int, int]) -> bool:
        """Whether ``group/version`` of this resource answers on a cluster at ``minor``."""
        if version not in self.versions:
            return False
        served_from, served_until = self.versions[version]
        return (served_from is None or minor >= served_from) and (served_until is None or minor <= served_until)

    def served_versions(self, minor: tuple[int, int]) -> list[str]:
        """Versions served at ``minor``, most preferred first (catalogue order)."""
        return [version for version in self.versions if self.serves(version, minor)]

    def api_version(self, version: str) -> str:
        """The ``apiVersion`` string objects carry when read through ``version``."""
        return f"{self.group}/{version}" if self.group else version

    def subresource(self, name: str) -> Subresource | None:
        return next((sub for sub in self.subresources if sub.name == name), None)


def split_api_version(api_version: str) -> tuple[str, str]:
    """``"apps/v1"`` → ``("apps", "v1")``; ``"v1"`` → ``("", "v1")``."""
    group, _, version = api_version.rpartition("/")
    return group, version


class Catalogue:
    """Look-ups over the resource catalogue by group+kind and by group+resource name."""

    def __init__(self, types: list[ResourceType]) -> None:
        self.types = types
        self._by_kind = {(t.group, t.kind): t for t in types}
        self._by_resource = {(t.group, t.resource): t for t in types}

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((group, kind))

    def by_resource(self, group: str, resource: str) -> ResourceType | None:
        return self._by_resource.get((group, resource))

    def group_versions(self, minor: tuple[int, int]) -> dict[str, list[str]]:
        """Every served group with its served versions, preferred version first."""
        groups: dict[str, list[str]] = {}
        for resource_type in self.types:
            versions = groups.setdefault(resource_type.group, [])
            for version in resource_type.served_versions(minor):
                if version not in versions:
                    versions.append(version)
        for versions in groups.values():
            versions.sort(key=version_priority)
        return {group: versions for group, versions in groups.items() if versions}

    def served_in(self, group: str, version: str, minor: tuple[int, int]) -> list[ResourceType]:
        return [t for t in self.types if t.group == group and t.serves(version, minor)]


def version_priority(version: str) -> tuple[int, int, int]:
    """Sort key putting GA before beta before alpha and higher numbers first, as kube-apiserver orders them."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0)
    major, stage, stage_number = match.groups()
    stage_rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (stage_rank, -int(major), -int(stage_number or 0))


@cache
def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    """Read ``api-resources.yaml`` once per process."""
    data = yaml.safe_load(path.read_text())
    default_verbs = tuple(data["default_verbs"])
    types = []
    for entry in data["resources"]:
        subresources = tuple(
            Subresource(
                name=sub["name"],
                verbs=tuple(sub.get("verbs", ["get", "patch", "update"])),
                group=sub.get("group"),
                version=sub.get("version"),
                kind=sub.get("kind"),
            )
            for sub in entry.get("subresources", [])
        )
        versions = {
            v["version"]: (
                parse_minor(v["served_from"]) if "served_from" in v else None,
                parse_minor(v["served_until"]) if "served_until" in v else None,
            )
            for v in entry["versions"]
        }
        types.append(
            ResourceType(
                group=entry["group"],
                kind=entry["kind"],
                resource=entry["resource"],
                singular=entry["singular"],
                namespaced=entry["namespaced"],
                verbs=tuple(entry.get("verbs", default_verbs)),
                short_names=tuple(entry.get("short_names", [])),
                categories=tuple(entry.get("categories", [])),
                subresources=subresources,
                versions=versions,
            )
        )
    return Catalogue(types)

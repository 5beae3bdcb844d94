"""Removed Kubernetes apiVersions: which ones an upgrade removes, and what still uses them.

The removal data lives in include/kubernetes/api-removals.yaml (one entry per apiVersion + kind, each derived
from the Kubernetes API's own lifecycle data at a named tag); nothing about a particular release is decided here.

The apiserver serves every object of a kind through each version it still serves, converting on read: listing
FlowSchemas through ``flowcontrol.apiserver.k8s.io/v1beta3`` returns the ones created as ``v1`` too. That an
object *can* be read through a removed apiVersion says nothing about whether anything *uses* that version, so
only evidence of use blocks an upgrade (``DeprecatedObject.in_use``):

- **Helm releases**: the manifest of the latest *deployed* revision of each release — the next ``helm upgrade``
  sends it. Superseded revisions are history kept for rollback; scanning them is a known source of false
  positives in kubent and pluto.
- **last-applied**: the ``kubectl.kubernetes.io/last-applied-configuration`` annotation, i.e. the apiVersion the
  user last applied. It reflects the last ``kubectl apply``, which may predate a migration done another way
  (pluto#495), so it only counts for apiVersions the target itself removes, and each such finding says so.
- **managedFields**: the apiVersion of each ``metadata.managedFields`` entry, which kube-apiserver records per
  manager from the request that wrote the fields (an ``Update`` entry per apiVersion). Entries of the control
  plane's own managers and of the ``status`` subresource are not evidence: the control plane writes them
  through whatever version its release used, and the upgrade replaces those writers.
- **EKS Insights**: ``find_removed_api_clients`` reads the deprecation details of upgrade insights, whose
  ``clientStats`` name the user agents that called a removed version in the last 30 days (from the audit log).

Objects that are only **live** — served through a removed apiVersion with none of the above naming it — are
reported as informational.

Stale rule data is the other known flaw of such tools: the data file carries a source per entry (the
``zz_generated.prerelease-lifecycle.go`` of the tag that removes it) and tests pin its shape and dates.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from eks_runbooks.core.eks.versions import minor_of
from eks_runbooks.core.include import include_path
from eks_runbooks.core.kubernetes.helm import (
    HelmRelease,
    decode_helm_release,
    is_helm_release_storage,
    latest_deployed,
    storage_label,
)

__all__ = [
    "DeprecatedObject",
    "HelmRelease",
    "RemovedApi",
    "RemovedApiClients",
    "decode_helm_release",
    "find_removed_api_clients",
    "find_removed_apis",
    "load_api_removals",
    "removals_in",
    "render_findings_markdown",
    "shows_use",
    "unreadable_helm_releases",
]

LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
#: The source of an object found only because it is served through a removed apiVersion: no evidence of use.
LIVE_SOURCE = "live"
MANAGED_FIELDS_SOURCE = "managedFields"

#: Field managers of the control plane itself. Their entries record the version their release wrote through
#: and go stale across upgrades without anyone using the old version again; the upgrade replaces these writers.
#: kube-apiserver and kube-controller-manager default to their program names (the apiserver's
#: prefixFromUserAgent); the APF configuration maintainer names itself (kubernetes pkg/registry/flowcontrol/
#: ensurer: ``fieldManager = "api-priority-and-fairness-config-producer-v1"``).
_CONTROL_PLANE_MANAGERS = frozenset(
    {"kube-apiserver", "kube-controller-manager", "api-priority-and-fairness-config-producer-v1"}
)

#: The apiserver keeps its own suggested FlowSchemas/PriorityLevelConfigurations up to date and marks them
#: with this annotation; listed through an old flowcontrol version they would be reported on every cluster.
_APF_AUTOUPDATE_ANNOTATION = "apf.kubernetes.io/autoupdate-spec"

_LAST_APPLIED_NOTE = (
    "Found in the last-applied annotation, which reflects the last `kubectl apply` and may predate a migration "
    "done another way: fix the manifest you apply from; if the object is already migrated, re-apply it to "
    "refresh the annotation."
)
_MANAGED_FIELDS_NOTE = (
    "A managedFields entry shows the named field manager wrote this object through the removed apiVersion: "
    "update that client (and the manifests it applies) to the replacement. The entry stays until the manager "
    "writes those fields through another version, so re-apply through the replacement once it has moved on."
)
_LIVE_NOTE = (
    "Informational: served through the removed apiVersion, as the apiserver serves every object of a kind "
    "through each version it still serves. Nothing shows a client uses that version (no Helm release, "
    "last-applied annotation or managedFields entry names it); EKS Insights' clientStats would name a client "
    "that still calls it."
)


@dataclass(frozen=True)
class RemovedApi:
    """An apiVersion + kind that Kubernetes stops serving in ``removed_in`` (one entry of the data file)."""

    api_version: str
    kind: str
    namespaced: bool
    deprecated_in: str | None
    removed_in: str
    replacement: str | None
    note: str | None
    source: str

    @property
    def stage(self) -> str:
        """alpha, beta or stable, from the version part of ``api_version``."""
        version = self.api_version.rpartition("/")[2]
        return "alpha" if "alpha" in version else "beta" if "beta" in version else "stable"


@dataclass(frozen=True)
class DeprecatedObject:
    """An object that uses an apiVersion the target version no longer serves, and where it was seen."""

    api_version: str
    kind: str
    #: None for cluster-scoped kinds.
    namespace: str | None
    name: str
    removed_in: str
    replacement: str | None
    #: ``helm:<release>@<revision>``, ``last-applied``, ``managedFields:<manager>``, ``live``: every place the
    #: object was seen, in that order.
    sources: tuple[str, ...]
    note: str | None = None

    @property
    def source(self) -> str:
        """The first place the object was seen."""
        return self.sources[0]

    @property
    def in_use(self) -> bool:
        """Whether a source shows something uses the removed apiVersion (what blocks an upgrade)."""
        return shows_use(self.sources)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "source": self.source, "in_use": self.in_use}


def shows_use(sources: Iterable[str]) -> bool:
    """Whether any of a finding's sources is evidence of use, not only of the object being served (``live``)."""
    return any(source != LIVE_SOURCE for source in sources)


@dataclass(frozen=True)
class RemovedApiClients:
    """One removed API that EKS Insights saw clients call (``deprecationDetails`` of an upgrade insight)."""

    #: The request path EKS names, e.g. ``/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas``.
    usage: str
    replaced_with: str | None
    stop_serving_version: str
    #: ``<userAgent> (<n> request(s) in 30 days, last <time>)``, one per client.
    clients: tuple[str, ...]


def load_api_removals(path: Path | str | None = None) -> tuple[RemovedApi, ...]:
    """The removal data in include/kubernetes/api-removals.yaml (or ``path``), checked for shape.

    Raises ValueError naming the file and the entry when an entry is malformed: this is the runbooks' own
    data, and a silently skipped entry would let a removed apiVersion through the upgrade gate.
    """
    import yaml

    file = Path(path) if path is not None else include_path("kubernetes", "api-removals.yaml")
    document = yaml.safe_load(file.read_text())
    entries = document.get("removals") if isinstance(document, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{file}: expected a non-empty 'removals' list")
    removals = tuple(_removal_from(entry, file, index) for index, entry in enumerate(entries))
    seen: set[tuple[str, str]] = set()
    for removal in removals:
        key = (removal.api_version, removal.kind)
        if key in seen:
            raise ValueError(f"{file}: {removal.api_version} {removal.kind} is listed twice")
        seen.add(key)
    return removals


def removals_in(version: str, removals: Iterable[RemovedApi]) -> list[RemovedApi]:
    """What a cluster loses when it becomes ``version`` ("1.32"): the entries removed in exactly that minor."""
    minor = minor_of(version)
    return sorted(
        (removal for removal in removals if minor_of(removal.removed_in) == minor),
        key=lambda removal: (removal.api_version, removal.kind),
    )


def find_removed_apis(
    target_version: str,
    *,
    helm_secrets: Iterable[Mapping[str, Any]] = (),
    helm_configmaps: Iterable[Mapping[str, Any]] = (),
    live_objects: Iterable[Mapping[str, Any]] = (),
    removals: Iterable[RemovedApi],
    current_version: str | None = None,
) -> list[DeprecatedObject]:
    """Objects whose apiVersion ``target_version`` no longer serves, each once, with every source that shows it.

    A finding blocks only when it is ``in_use``; one seen only ``live`` is informational.

    :param target_version: the version the cluster is about to become ("1.32").
    :param helm_secrets: Secrets of the cluster (only type ``helm.sh/release.v1`` is read; others are ignored).
    :param helm_configmaps: ConfigMaps of the cluster (only Helm 3 release storage, label ``owner=helm``).
    :param live_objects: objects as the cluster serves them, each with the ``apiVersion`` and ``kind`` it is
        served through (items of a List response omit them: set them). The caller may read them through another
        version of the kind: the apiserver serves the same object, metadata and managedFields included, through
        each. Their last-applied annotations and managedFields entries are read too.
    :param removals: the removal data (``load_api_removals()``).
    :param current_version: the version the cluster runs now. When given, only apiVersions removed after it
        and up to the target count. When omitted, Helm and live findings cover everything removed up to the
        target (a Helm manifest naming an apiVersion the cluster already dropped still breaks the release's
        next ``helm upgrade``), and last-applied findings only what the target itself removes.

    Corrupt Helm storage is skipped here; ``unreadable_helm_releases`` names it for the report.
    """
    target = minor_of(target_version)
    lowest = minor_of(current_version) if current_version is not None else None
    by_key = {(removal.api_version, removal.kind): removal for removal in removals}

    def removal_for(api_version: Any, kind: Any, *, last_applied: bool = False) -> RemovedApi | None:
        removal = by_key.get((api_version, kind))
        if removal is None:
            return None
        floor = lowest if lowest is not None else (target - 1 if last_applied else -1)
        return removal if floor < minor_of(removal.removed_in) <= target else None

    findings = _Findings()
    live = [obj for obj in live_objects if isinstance(obj, Mapping)]
    live = [obj for obj in live if not _maintained_by_the_apiserver(obj)]
    _scan_helm_releases(findings, removal_for, chain(helm_secrets, helm_configmaps))
    _scan_last_applied(findings, removal_for, live)
    _scan_managed_fields(findings, removal_for, live)
    _scan_live(findings, removal_for, live)
    return findings.sorted()


_RemovalLookup = Callable[..., "RemovedApi | None"]


def _scan_helm_releases(findings: _Findings, removal_for: _RemovalLookup, storage: Iterable[Mapping[str, Any]]) -> None:
    releases = (decode_helm_release(item) for item in storage)
    for release in latest_deployed(release for release in releases if release is not None):
        for obj in release.objects:
            removal = removal_for(obj.get("apiVersion"), obj.get("kind"))
            if removal is not None:
                metadata = _metadata(obj)
                findings.add(removal, metadata.get("namespace") or release.namespace, metadata, release.label)


def _scan_last_applied(findings: _Findings, removal_for: _RemovalLookup, live: list[Mapping[str, Any]]) -> None:
    for obj in live:
        applied = _last_applied(obj)
        if applied is None:
            continue
        removal = removal_for(applied.get("apiVersion"), applied.get("kind", obj.get("kind")), last_applied=True)
        if removal is not None:
            metadata = {**_metadata(obj), **{k: v for k, v in _metadata(applied).items() if v}}
            findings.add(removal, metadata.get("namespace"), metadata, "last-applied", _LAST_APPLIED_NOTE)


def _scan_managed_fields(findings: _Findings, removal_for: _RemovalLookup, live: list[Mapping[str, Any]]) -> None:
    for obj in live:
        metadata = _metadata(obj)
        entries = metadata.get("managedFields")
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, Mapping) or not _is_a_clients_write(entry):
                continue
            removal = removal_for(entry.get("apiVersion"), obj.get("kind"))
            if removal is not None:
                source = f"{MANAGED_FIELDS_SOURCE}:{entry.get('manager') or 'unknown'}"
                findings.add(removal, metadata.get("namespace"), metadata, source, _MANAGED_FIELDS_NOTE)


def _is_a_clients_write(entry: Mapping[str, Any]) -> bool:
    """A managedFields entry a client left, not the control plane (its own managers, or a status write)."""
    return entry.get("manager") not in _CONTROL_PLANE_MANAGERS and entry.get("subresource") != "status"


def _scan_live(findings: _Findings, removal_for: _RemovalLookup, live: list[Mapping[str, Any]]) -> None:
    for obj in live:
        metadata = _metadata(obj)
        removal = removal_for(obj.get("apiVersion"), obj.get("kind"))
        if removal is not None:
            findings.add(removal, metadata.get("namespace"), metadata, LIVE_SOURCE)


def _maintained_by_the_apiserver(obj: Mapping[str, Any]) -> bool:
    """An APF bootstrap object the apiserver keeps current itself: nothing outside the control plane writes it."""
    annotations = _metadata(obj).get("annotations")
    flag = annotations.get(_APF_AUTOUPDATE_ANNOTATION) if isinstance(annotations, Mapping) else None
    return str(flag or "").lower() == "true"


def find_removed_api_clients(
    insights: Iterable[Mapping[str, Any]], target_version: str, *, current_version: str | None = None
) -> list[RemovedApiClients]:
    """Removed APIs that EKS Insights saw clients call: deprecation details with ``clientStats``.

    :param insights: DescribeInsight ``insight`` objects (UPGRADE_READINESS; other categories carry no
        deprecation details).
    :param target_version: only APIs whose ``stopServingVersion`` is at most this version count...
    :param current_version: ...and, when given, above this one.
    """
    target = minor_of(target_version)
    lowest = minor_of(current_version) if current_version is not None else -1
    found: dict[str, RemovedApiClients] = {}
    for insight in insights:
        summary = insight.get("categorySpecificSummary") or {}
        for detail in summary.get("deprecationDetails") or []:
            stop = str(detail.get("stopServingVersion") or "")
            clients = tuple(_client(stat) for stat in detail.get("clientStats") or [])
            if not clients or not _is_minor(stop) or not lowest < minor_of(stop) <= target:
                continue
            usage = str(detail.get("usage") or "?")
            found.setdefault(usage, RemovedApiClients(usage, detail.get("replacedWith"), stop, clients))
    return sorted(found.values(), key=lambda entry: (minor_of(entry.stop_serving_version), entry.usage))


def _client(stat: Mapping[str, Any]) -> str:
    last = stat.get("lastRequestTime")
    when = f", last {last.isoformat() if hasattr(last, 'isoformat') else last}" if last else ""
    count = stat.get("numberOfRequestsLast30Days", 0)
    return f"{stat.get('userAgent') or 'unknown'} ({count} request(s) in 30 days{when})"


def _is_minor(version: str) -> bool:
    try:
        minor_of(version)
    except ValueError:
        return False
    return True


def unreadable_helm_releases(
    *, helm_secrets: Iterable[Mapping[str, Any]] = (), helm_configmaps: Iterable[Mapping[str, Any]] = ()
) -> list[str]:
    """Helm release storage that could not be decoded (``Secret ns/name``): the scan could not look inside it.

    A report lists these so a person can check them by hand (``helm get manifest``) rather than trusting a
    clean scan.
    """
    return sorted(
        storage_label(storage)
        for storage in chain(helm_secrets, helm_configmaps)
        if is_helm_release_storage(storage) and decode_helm_release(storage) is None
    )


def render_findings_markdown(findings: Iterable[DeprecatedObject]) -> str:
    """A Markdown table a person can act on: the object, where it was found, when it breaks, what to use."""
    findings = list(findings)
    if not findings:
        return "No object uses an apiVersion that the target version removes."
    lines = [
        "| object | where found | removed in | replace with | note |",
        "|---|---|---|---|---|",
    ]
    for finding in findings:
        where = f"{finding.namespace}/{finding.name}" if finding.namespace else finding.name
        cells = [
            f"`{finding.api_version}` {finding.kind} {where}",
            ", ".join(finding.sources),
            finding.removed_in,
            f"`{finding.replacement}`" if finding.replacement else "nothing (see note)",
            finding.note or "",
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return "\n".join(lines)


class _Findings:
    """Findings keyed by (apiVersion, kind, namespace, name), merging the sources and notes of duplicates."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, str, str | None, str], tuple[RemovedApi, list[str], list[str]]] = {}

    def add(
        self,
        removal: RemovedApi,
        namespace: Any,
        metadata: Mapping[str, Any],
        source: str,
        note: str | None = None,
    ) -> None:
        # Cluster-scoped objects have no namespace, even when a chart renders one into their metadata.
        namespace = (str(namespace) if namespace else None) if removal.namespaced else None
        key = (removal.api_version, removal.kind, namespace, str(metadata.get("name") or "<unnamed>"))
        _, sources, notes = self._found.setdefault(key, (removal, [], [removal.note] if removal.note else []))
        if source not in sources:
            sources.append(source)
        if note and note not in notes:
            notes.append(note)

    def sorted(self) -> list[DeprecatedObject]:
        for _removal, sources, notes in self._found.values():
            if not shows_use(sources):
                notes.append(_LIVE_NOTE)
        findings = [
            DeprecatedObject(
                api_version=api_version,
                kind=kind,
                namespace=namespace,
                name=name,
                removed_in=removal.removed_in,
                replacement=removal.replacement,
                sources=tuple(sources),
                note=" ".join(notes) or None,
            )
            for (api_version, kind, namespace, name), (removal, sources, notes) in self._found.items()
        ]
        return sorted(
            findings,
            key=lambda f: (minor_of(f.removed_in), f.namespace or "", f.kind, f.name, f.api_version),
        )


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _last_applied(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The object as last applied by ``kubectl apply``, or None (no annotation, or not JSON of an object)."""
    annotations = _metadata(obj).get("annotations")
    text = annotations.get(LAST_APPLIED_ANNOTATION) if isinstance(annotations, Mapping) else None
    if not isinstance(text, str):
        return None
    try:
        applied = json.loads(text)
    except ValueError:
        return None
    return applied if isinstance(applied, Mapping) else None


def _removal_from(entry: Any, file: Path, index: int) -> RemovedApi:
    where = f"{file}: removals[{index}]"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected a mapping")
    where += f" ({entry.get('api_version')} {entry.get('kind')})"
    missing = sorted(
        {"api_version", "kind", "namespaced", "removed_in", "replacement", "source"} - {k for k, v in entry.items()}
    )
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    for field in ("api_version", "kind", "source"):
        if not isinstance(entry[field], str) or not entry[field].strip():
            raise ValueError(f"{where}: {field} must be a non-empty string")
    if "/" not in entry["api_version"]:
        raise ValueError(f"{where}: api_version must be group/version")
    if not isinstance(entry["namespaced"], bool):
        raise ValueError(f"{where}: namespaced must be true or false")
    try:
        removed = minor_of(str(entry["removed_in"]))
        deprecated = entry.get("deprecated_in")
        if deprecated is not None and minor_of(str(deprecated)) >= removed:
            raise ValueError(f"deprecated_in {deprecated} is not before removed_in {entry['removed_in']}")
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error
    if entry["replacement"] is None and not entry.get("note"):
        raise ValueError(f"{where}: an entry without replacement needs a note saying what to do instead")
    return RemovedApi(
        api_version=entry["api_version"],
        kind=entry["kind"],
        namespaced=entry["namespaced"],
        deprecated_in=str(deprecated) if deprecated is not None else None,
        removed_in=str(entry["removed_in"]),
        replacement=entry["replacement"],
        note=entry.get("note"),
        source=entry["source"],
    )

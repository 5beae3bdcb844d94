"""Helm 3 releases read back from their storage objects, for scanners that look at what Helm rendered.

Helm 3 keeps one storage object per release revision in the release namespace: a Secret of type
``helm.sh/release.v1`` named ``sh.helm.release.v1.<release>.v<revision>`` (the default driver), or a ConfigMap
labelled ``owner=helm`` (``HELM_DRIVER=configmap``). Either holds the release as JSON → gzip → base64; the
Secret's ``data`` is base64 of that once more, as every Secret value is, while the ConfigMap holds it as is.
The release's ``manifest`` is the rendered multi-document YAML of every object Helm applied.

Storage objects come from a cluster a runbook does not control, so decoding never raises on bad data: it
returns None and the caller reports the object as unreadable (``is_helm_release_storage`` tells "not Helm"
apart from "Helm, but corrupt").
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

HELM_SECRET_TYPE = "helm.sh/release.v1"

#: Helm gzips the release unless the payload starts otherwise (helm pkg/storage/driver/util.go checks this).
_GZIP_MAGIC = b"\x1f\x8b\x08"

#: Everything bad data can raise while decoding: base64, gzip, JSON, YAML and shape errors.
_UNREADABLE = (ValueError, TypeError, KeyError, AttributeError, binascii.Error, OSError, EOFError, zlib.error)


@dataclass(frozen=True)
class HelmRelease:
    """One revision of a Helm release, with the objects its manifest rendered."""

    name: str
    namespace: str
    revision: int
    #: ``<chart name>-<chart version>``, as ``helm list`` shows it.
    chart: str
    #: deployed, superseded, failed, pending-install, pending-upgrade, pending-rollback, uninstalling, ...
    status: str
    objects: tuple[dict[str, Any], ...]

    @property
    def label(self) -> str:
        """``helm:<release>@<revision>``: where a finding came from, in reports."""
        return f"helm:{self.name}@{self.revision}"


def is_helm_release_storage(storage: Any) -> bool:
    """Whether a Secret or ConfigMap is a Helm 3 release revision (readable or not)."""
    if not isinstance(storage, Mapping):
        return False
    if storage.get("type") == HELM_SECRET_TYPE:
        return True
    metadata = storage.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    # Helm 2 (Tiller) labelled its ConfigMaps owner=TILLER and used another format: not ours to read.
    return (
        storage.get("kind", "ConfigMap") == "ConfigMap"
        and "type" not in storage
        and isinstance(labels, Mapping)
        and labels.get("owner") == "helm"
    )


def decode_helm_release(storage: Any) -> HelmRelease | None:
    """The release a Helm 3 storage Secret or ConfigMap holds; None if it is not one or cannot be read.

    :param storage: a Secret or ConfigMap as the Kubernetes API returns it (``data`` values base64, as JSON).
    """
    if not is_helm_release_storage(storage):
        return None
    try:
        release = _decode_payload(_helm_encoded(storage))
        return _release_from(release, storage)
    except _UNREADABLE:
        return None


def storage_label(storage: Any) -> str:
    """``Secret payments/sh.helm.release.v1.ledger.v3``: how a storage object is named in a report."""
    if not isinstance(storage, Mapping):
        return repr(storage)
    metadata = storage.get("metadata") if isinstance(storage.get("metadata"), Mapping) else {}
    kind = "Secret" if storage.get("type") == HELM_SECRET_TYPE else storage.get("kind", "ConfigMap")
    return f"{kind} {metadata.get('namespace', '?')}/{metadata.get('name', '?')}"


def latest_deployed(releases: Iterable[HelmRelease]) -> list[HelmRelease]:
    """For each release, the highest revision whose status is ``deployed``.

    Older revisions are history Helm keeps for rollback (``superseded``); a failed upgrade leaves its new
    revision ``failed`` and the previous one ``deployed``. Scanning history is a known source of false
    positives in kubent and pluto, so only what is deployed now counts. A release with no deployed revision
    (a failed first install, an uninstall in progress) has nothing deployed to report.
    """
    latest: dict[tuple[str, str], HelmRelease] = {}
    for release in releases:
        if release.status != "deployed":
            continue
        key = (release.namespace, release.name)
        if key not in latest or release.revision > latest[key].revision:
            latest[key] = release
    return sorted(latest.values(), key=lambda release: (release.namespace, release.name))


def _helm_encoded(storage: Mapping[str, Any]) -> bytes:
    encoded = storage["data"]["release"]
    if isinstance(encoded, str):
        encoded = encoded.encode("ascii")
    if storage.get("type") == HELM_SECRET_TYPE:
        # Secret values are base64 on the wire: the Helm-encoded text is inside.
        return base64.b64decode(encoded, validate=True)
    return encoded


def _decode_payload(helm_encoded: bytes) -> Mapping[str, Any]:
    raw = base64.b64decode(helm_encoded, validate=True)
    if raw.startswith(_GZIP_MAGIC):
        raw = gzip.decompress(raw)
    release = json.loads(raw)
    if not isinstance(release, Mapping):
        raise ValueError("a Helm release is a JSON object")
    return release


def _release_from(release: Mapping[str, Any], storage: Mapping[str, Any]) -> HelmRelease:
    metadata = storage.get("metadata") or {}
    labels = metadata.get("labels") or {}
    name = release["name"]
    if not isinstance(name, str) or not name:
        raise ValueError("a Helm release has a name")
    revision = release.get("version", labels.get("version"))
    if isinstance(revision, bool) or revision is None:
        raise ValueError("a Helm release has a revision number")
    chart = ((release.get("chart") or {}).get("metadata")) or {}
    chart_name = chart.get("name") or name
    return HelmRelease(
        name=name,
        namespace=release.get("namespace") or metadata.get("namespace") or "default",
        revision=int(revision),
        chart=f"{chart_name}-{chart['version']}" if chart.get("version") else chart_name,
        status=str((release.get("info") or {}).get("status") or labels.get("status") or "unknown"),
        objects=_manifest_objects(release.get("manifest") or ""),
    )


def _manifest_objects(manifest: str) -> tuple[dict[str, Any], ...]:
    """Every object of a rendered multi-document manifest (List kinds expanded, empty documents dropped)."""
    import yaml

    if not isinstance(manifest, str):
        raise ValueError("a Helm manifest is text")
    objects: list[dict[str, Any]] = []
    try:
        documents = list(yaml.safe_load_all(manifest))
    except yaml.YAMLError as error:
        raise ValueError(f"unreadable manifest: {error}") from error
    for document in documents:
        if not isinstance(document, dict):
            continue
        items = document.get("items")
        if str(document.get("kind", "")).endswith("List") and isinstance(items, list):
            objects.extend(item for item in items if isinstance(item, dict))
        else:
            objects.append(document)
    return tuple(objects)
